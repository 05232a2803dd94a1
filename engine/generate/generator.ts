// Text generation with a causal LM as ONNX graphs. The cached graph takes the new tokens, their
// positions and every layer's past keys/values ([B, kv_heads, P, head_dim], P symbolic) and returns the
// last position's logits and the present keys/values, so each new token costs one position's
// compute. The uncached graph recomputes the whole sequence every step (the reference the
// cache is tested against).

import { bindParams, frozenParams } from '../models/params.ts';
import { type Plan, loraHook } from '../lora/peft-model.ts';
import { lmLogits, loadModel } from '../models/registry.ts';
import type { LoadedModel } from '../models/types.ts';
import { mergeAdapter } from '../lora/apply.ts';
import { Graph } from '../onnx/graph.ts';
import { type Device, type Feed, Session } from '../onnx/runtime.ts';
import type { DType } from '../onnx/graph.ts';
import { collectGarbage } from '../util/gc.ts';
import { Rng } from '../util/rng.ts';
import { type SamplingOptions, chooseToken, resolveSampling } from './sampling.ts';

export interface GenerateOptions extends Partial<SamplingOptions> {
  /** New tokens per sequence (default 50 unless maxLength is given). */
  maxNewTokens?: number;
  /** Prompt + new tokens (HF max_length); maxNewTokens wins when both are given. */
  maxLength?: number;
  numReturnSequences?: number;
  seed?: number;
  /** Stop a sequence at this token (default: the model's eos_token_id); null = never. */
  eosTokenId?: number | null;
  /** Also stop a sequence at these tokens, as at EOS (a chat template's end-of-turn token). */
  stopTokenIds?: number[];
  /** Stop a sequence once its text contains one of these; the text ends with it. */
  stopStrings?: string[];
  /** Each new token as it comes: its sequence, id and the text it added. */
  onToken?: (e: TokenEvent) => void;
  signal?: AbortSignal;
}

export interface TokenEvent {
  sequence: number;
  token: number;
  text: string;
}

export interface GenerateResult {
  /** Generated text per sequence (without the prompt). */
  outputs: string[];
  /** Generated ids per sequence (without the prompt; up to and including a stopping EOS). */
  tokens: number[][];
  promptTokens: number;
  newTokens: number;
  /** New tokens (all sequences) per second of the generation loop, prefill included. */
  tokensPerS: number;
  wallS: number;
  finish: ('eos' | 'stop_string' | 'length' | 'cancelled')[];
}

/** Minimal text interface the generator needs from a tokenizer. */
export interface Decoder {
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
}

export interface GeneratorOptions {
  /** Use the KV-cache graph (default true); false recomputes the whole sequence each step. */
  cache?: boolean;
  device?: Device;
  threads?: number;
  /** Free the model's JS weight arrays once the session holds them (lower peak memory). */
  releaseWeights?: boolean;
  /**
   * Weights still training (samples during a run): the plan's LoRA layers unmerged and its
   * trainable base tensors become graph inputs, fed from their arrays at every run.
   */
  live?: Plan;
}

type Feeds = Record<string, { dtype: DType; shape: number[]; data: Feed }>;

export class Generator {
  private constructor(
    readonly model: LoadedModel,
    private readonly session: Session,
    readonly cached: boolean,
    private readonly liveFeeds: Feeds = {},
  ) {}

  /** A generator over a loaded model (weights already final, e.g. with an adapter merged). */
  static async create(model: LoadedModel, opts: GeneratorOptions = {}): Promise<Generator> {
    const cached = opts.cache ?? true;
    const { layers, heads: H, headDim: hd } = model.spec.cache;
    const g = new Graph();
    const ids = g.input('ids', 'int64', ['B', 'T']);
    const positionIds = g.input('position_ids', 'int64', ['B', 'T']);
    const attnBias = g.input('attn_bias', 'float32', [1, 1, 'T', 'S']);
    const past = cached
      ? Array.from({ length: layers }, (_, i) => ({
        k: g.input(`past_key_${i}`, 'float32', ['B', H, 'P', hd]),
        v: g.input(`past_value_${i}`, 'float32', ['B', H, 'P', hd]),
      }))
      : undefined;
    const liveFeeds: Feeds = {};
    const feed = (name: string, shape: number[], data: Float32Array) => { liveFeeds[name] = { dtype: 'float32', shape, data }; };
    const param = opts.live
      ? bindParams(g, model.weights, { trainable: new Set(opts.live.trainableBase), onTrainable: (n, _v, w) => feed(n, w.shape, w.data) })
      : frozenParams(g, model.weights);
    const hook = opts.live ? loraHook(g, opts.live, { onInputs: (l) => { feed(l.aName, l.aShape, l.A); feed(l.bName, l.bShape, l.B); } }) : undefined;
    const out = lmLogits(g, model.spec, param, { ids, positionIds, attnBias, past }, hook, { lastOnly: true });
    g.output(out.logits, 'logits');
    if (cached) out.present.forEach((p, i) => { g.output(p.k, `present_key_${i}`); g.output(p.v, `present_value_${i}`); });
    let bytes: Uint8Array | null = g.toModel();
    // The weights now live in the model bytes (and soon in ONNX Runtime): drop ours when asked.
    if (opts.releaseWeights) { model.weights.clear(); g.initializers.clear(); }
    const session = await Session.create(bytes, { device: opts.device, threads: opts.threads });
    bytes = null;
    if (opts.releaseWeights) collectGarbage();
    return new Generator(model, session, cached, liveFeeds);
  }

  /** Loads a model folder, merges an adapter when given, and builds the session. */
  static async load(modelDir: string, adapterDir?: string, opts: GeneratorOptions = {}): Promise<Generator> {
    const model = loadModel(modelDir);
    if (adapterDir) mergeAdapter(model, adapterDir);
    return Generator.create(model, opts);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  /** One run's inputs: the rows' tokens at positions start.., causal over S = start + T, the cache. */
  private feeds(rows: number[][], start: number, kv: { k: Float32Array; v: Float32Array }[], P: number): Feeds {
    const N = rows.length, T = rows[0].length, S = start + T;
    const { heads: H, headDim: hd } = this.model.spec.cache;
    const idsData = new BigInt64Array(N * T), pos = new BigInt64Array(N * T);
    rows.forEach((r, b) => r.forEach((t, j) => { idsData[b * T + j] = BigInt(t); pos[b * T + j] = BigInt(start + j); }));
    const bias = new Float32Array(T * S);
    for (let t = 0; t < T; t++) for (let j = 0; j < S; j++) bias[t * S + j] = j <= start + t ? 0 : -1e9;
    const feeds: Feeds = {
      ...this.liveFeeds,
      ids: { dtype: 'int64', shape: [N, T], data: idsData },
      position_ids: { dtype: 'int64', shape: [N, T], data: pos },
      attn_bias: { dtype: 'float32', shape: [1, 1, T, S], data: bias },
    };
    if (this.cached) {
      kv.forEach((p, i) => {
        feeds[`past_key_${i}`] = { dtype: 'float32', shape: [N, H, P, hd], data: p.k };
        feeds[`past_value_${i}`] = { dtype: 'float32', shape: [N, H, P, hd], data: p.v };
      });
    }
    return feeds;
  }

  /** Generates from one prompt (token ids); `tok` decodes for stop strings and streaming. */
  async generate(prompt: number[], o: GenerateOptions = {}, tok?: Decoder): Promise<GenerateResult> {
    const spec = this.model.spec;
    if (prompt.length === 0) throw new Error('generate: the prompt is empty (give at least one token)');
    const { s, N } = resolveSampling(o);
    let maxNew = o.maxNewTokens ?? (o.maxLength !== undefined ? o.maxLength - prompt.length : 50);
    if (!(Number.isInteger(maxNew) && maxNew >= 0)) throw new Error(`max_new_tokens must be an integer >= 0, got ${maxNew}`);
    if (prompt.length > spec.maxPositions) throw new Error(`the prompt has ${prompt.length} tokens; this model reads at most ${spec.maxPositions}`);
    maxNew = Math.min(maxNew, spec.maxPositions - prompt.length);
    const eos = o.eosTokenId === undefined ? spec.eosTokenId : o.eosTokenId;
    const stopIds = new Set(o.stopTokenIds ?? []);
    const stops = (o.stopStrings ?? []).filter((x) => x !== '');
    if (stops.length && !tok) throw new Error('generate: stop strings need a tokenizer');

    const rng = new Rng(o.seed ?? 0);
    const { layers } = spec.cache, V = spec.vocabSize;
    const seqs: number[][] = Array.from({ length: N }, () => []);
    const texts: string[] = Array(N).fill('');
    const emitted: number[] = Array(N).fill(0);
    const finish: GenerateResult['finish'] = Array(N).fill('length');
    const done: boolean[] = Array(N).fill(false);
    const padId = eos ?? 0;
    // New tokens decoded after the prompt, as HF's text-generation pipeline does: a SentencePiece
    // decoder strips the first space of a sequence, so the new tokens alone would lose theirs.
    const promptText = tok ? tok.decode(prompt, { skipSpecialTokens: true }) : '';
    const newText = (ids: number[]): string => {
      const all = tok!.decode([...prompt, ...ids], { skipSpecialTokens: true });
      return all.startsWith(promptText) ? all.slice(promptText.length) : tok!.decode(ids, { skipSpecialTokens: true });
    };
    const t0 = performance.now();

    let kv: { k: Float32Array; v: Float32Array }[] = Array.from({ length: layers }, () => ({ k: new Float32Array(0), v: new Float32Array(0) }));
    let P = 0;
    let step = 0;
    while (step < maxNew && done.some((d) => !d)) {
      if (o.signal?.aborted) {
        for (let i = 0; i < N; i++) if (!done[i]) finish[i] = 'cancelled';
        break;
      }
      // The rows' next input: the whole prompt first; then each row's last token (the cache),
      // or everything so far (no cache).
      const rows: number[][] = this.cached && step > 0
        ? seqs.map((sq) => [sq[sq.length - 1]])
        : seqs.map((sq) => [...prompt, ...sq]);
      const T = rows[0].length, start = this.cached ? P : 0, S = start + T;
      const feeds = this.feeds(rows, start, kv, P);
      const r = await this.session.run(feeds);
      const logits = r.logits.data as Float32Array;
      if (this.cached) {
        kv = kv.map((_, i) => ({ k: r[`present_key_${i}`].data as Float32Array, v: r[`present_value_${i}`].data as Float32Array }));
        P = S;
      }
      for (let b = 0; b < N; b++) {
        if (done[b]) { seqs[b].push(padId); continue; }
        const row = logits.subarray(b * V, (b + 1) * V);
        const next = chooseToken(row, s.repetitionPenalty !== 1 ? [...prompt, ...seqs[b]] : [], s, rng);
        seqs[b].push(next);
        emitted[b]++;
        if ((eos !== null && next === eos) || stopIds.has(next)) { done[b] = true; finish[b] = 'eos'; }
        if (tok) {
          const full = newText(seqs[b].slice(0, emitted[b]));
          let text = full;
          const hit = stops.map((x) => ({ x, i: full.indexOf(x) })).filter((h) => h.i >= 0).sort((a, z) => a.i - z.i)[0];
          if (hit) { text = full.slice(0, hit.i + hit.x.length); done[b] = true; finish[b] = 'stop_string'; }
          // Hold back a trailing replacement character: the rest of a multi-byte character is coming.
          const stable = !done[b] && text.endsWith('\uFFFD') ? texts[b].length : text.length;
          if (stable > texts[b].length || done[b]) {
            const piece = text.slice(texts[b].length, done[b] ? text.length : stable);
            texts[b] = text.slice(0, done[b] ? text.length : stable);
            o.onToken?.({ sequence: b, token: next, text: piece });
          } else {
            o.onToken?.({ sequence: b, token: next, text: '' });
          }
        } else {
          o.onToken?.({ sequence: b, token: next, text: '' });
        }
      }
      step++;
    }
    const wallS = (performance.now() - t0) / 1000;
    const tokens = seqs.map((sq, b) => sq.slice(0, emitted[b]));
    const outputs = tokens.map((ids, b) => {
      if (!tok) return '';
      if (finish[b] === 'stop_string') return texts[b];
      return newText(ids);
    });
    const newTokens = tokens.reduce((a, t) => a + t.length, 0);
    return { outputs, tokens, promptTokens: prompt.length, newTokens, tokensPerS: wallS > 0 ? newTokens / wallS : 0, wallS, finish };
  }
}
