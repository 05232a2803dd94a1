// The generate service: a continuation of a prompt with a model folder (and a LoRA adapter merged
// in), KV-cached, greedy or sampled, each new piece of text streamed as it comes.

import { ApiError, type GenerateResultData } from '../api.ts';
import { chatPrompt } from '../data/instruct.ts';
import { loadTokenizer } from '../data/tokenizer.ts';
import { Generator, type TokenEvent } from '../generate/generator.ts';
import type { Device } from '../onnx/runtime.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir } from './files.ts';

export interface GenerateRequest {
  model: string;
  adapter?: string;
  prompt: string;
  /** The prompt as a user turn of a chat template (the model's own, a built-in or a file), after an optional system turn; it stops at the template's end of turn too. */
  chat?: { template?: string; system?: string };
  /** New tokens per sequence (default 50 unless maxLength is given). */
  maxNewTokens?: number;
  /** Prompt + new tokens (HF max_length); maxNewTokens wins when both are given. */
  maxLength?: number;
  /** 0 = greedy; > 0 samples. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  numReturnSequences: number;
  seed: number;
  /** Stop a sequence once its text contains one of these. */
  stop: string[];
  /** Do not stop at the end-of-text token. */
  noEos?: boolean;
  device?: Device;
  threads?: number;
  onToken?: (e: TokenEvent) => void;
  signal?: AbortSignal;
}

/** Checks the request, then generates (fns.generate: generateWithModel unless replaced). */
export async function generateText(p: GenerateRequest, fns: EngineFunctions = ENGINE): Promise<GenerateResultData> {
  const model = requireDir(p.model, 'model folder');
  const adapter = p.adapter ? requireDir(p.adapter, 'adapter folder') : undefined;
  if (p.numReturnSequences > 1 && p.temperature === 0) {
    throw new ApiError('invalid_params', 'numReturnSequences: more than one sequence needs a temperature > 0 (greedy decoding returns one text)');
  }
  return fns.generate({ ...p, model, adapter });
}

/** One generation: the model's tokenizer, the generator (adapter merged), then its weights released. */
export async function generateWithModel(p: GenerateRequest): Promise<GenerateResultData> {
  const tok = await loadTokenizer(p.model);
  const chat = p.chat ? await chatPrompt(p.model, p.prompt, { chatTemplate: p.chat.template, system: p.chat.system }) : null;
  const ids = chat ? chat.ids : tok.encode(p.prompt);
  if (ids.length === 0) throw new ApiError('invalid_params', 'prompt: it encodes to no tokens');
  // A chat turn ends at the template's end of turn: the text is returned without it.
  const unTurn = (x: string) => (chat ? chat.stopStrings.reduce((t, st) => (t.endsWith(st) ? t.slice(0, -st.length) : t), x) : x);
  const gen = await Generator.load(p.model, p.adapter, { device: p.device, threads: p.threads, releaseWeights: true });
  try {
    const r = await gen.generate(ids, {
      maxNewTokens: p.maxNewTokens,
      maxLength: p.maxLength,
      temperature: p.temperature,
      doSample: p.temperature > 0,
      topK: p.topK,
      topP: p.topP,
      repetitionPenalty: p.repetitionPenalty,
      numReturnSequences: p.numReturnSequences,
      seed: p.seed,
      stopStrings: [...p.stop, ...(chat?.stopStrings ?? [])],
      ...(chat ? { stopTokenIds: p.noEos ? chat.stopTokenIds.filter((x) => x !== tok.eosTokenId) : chat.stopTokenIds } : {}),
      ...(p.noEos ? { eosTokenId: null } : {}),
      onToken: p.onToken,
      signal: p.signal,
    }, tok);
    const outputs = r.outputs.map(unTurn);
    return { text: outputs[0] ?? '', tokens: r.newTokens, outputs, promptTokens: r.promptTokens, tokensPerS: r.tokensPerS, wallS: r.wallS, finish: r.finish };
  } finally {
    await gen.release();
  }
}
