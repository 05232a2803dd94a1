import { chatPrompt } from '../../engine/data/instruct.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { Generator, type GenerateOptions, type GenerateResult } from '../../engine/generate/generator.ts';
import type { Device } from '../../engine/onnx/runtime.ts';
import { UsageError, int, num, parse, runCommand } from '../args.ts';
import { CHAT_GENERATE_FLAGS, CHAT_GENERATE_HELP } from './chat-flags.ts';
import { PROJECT_GENERATE_FLAGS, PROJECT_GENERATE_HELP, evalTarget, recordSamplesInProject } from './project-flags.ts';

const HELP = `Usage: lora-studio generate --model DIR [--adapter DIR] --prompt TEXT [options] [--json]

Generates text with the model (and the adapter merged in), using a KV cache.
  --max-new-tokens N        new tokens per sequence (default 50)
  --max-length N            prompt + new tokens (used when --max-new-tokens is not given)
  --temperature T           0 = greedy (the default, unless --top-k/--top-p are given: then 1); > 0 samples
  --top-k K                 keep the K most likely tokens when sampling (default 50; 0 = off)
  --top-p P                 nucleus sampling mass (default 1 = off)
  --repetition-penalty X    > 1 discourages repeats (default 1)
  --num-return-sequences N  sequences per prompt (needs --temperature > 0)
  --seed S                  sampling seed (default 0)
  --stop TEXT               stop a sequence at this text (repeatable)
  --no-eos                  do not stop at the end-of-text token
  --compare-base            also generate with the base model (no adapter), side by side
  --device cpu|webgpu|cuda
--json prints {"outputs": [...], "tokens_per_s": N} (with "base_outputs" under --compare-base).
${CHAT_GENERATE_HELP}

${PROJECT_GENERATE_HELP}`;

export async function generateCommand(argv: string[]): Promise<number> {
  return runCommand('generate', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, adapter: { type: 'string' }, prompt: { type: 'string' },
      'max-new-tokens': { type: 'string' }, 'max-length': { type: 'string' }, temperature: { type: 'string' },
      'top-k': { type: 'string' }, 'top-p': { type: 'string' }, 'repetition-penalty': { type: 'string' },
      'num-return-sequences': { type: 'string' }, seed: { type: 'string' }, stop: { type: 'string', multiple: true },
      'no-eos': { type: 'boolean' }, 'compare-base': { type: 'boolean' }, device: { type: 'string' }, threads: { type: 'string' },
      ...PROJECT_GENERATE_FLAGS,
      ...CHAT_GENERATE_FLAGS,
    });
    if (v.help) { console.log(HELP); return 0; }
    const { model, adapter } = evalTarget(v);
    const prompt = v.prompt;
    if (typeof prompt !== 'string') throw new UsageError('--prompt is required');
    if (v['compare-base'] && !adapter) throw new UsageError('--compare-base needs --adapter (it compares the adapted model with its base)');
    // Greedy unless a temperature > 0 is given — or top-k / top-p, which only mean something when
    // sampling (then at temperature 1, transformers' default).
    const samplingFlag = v['top-k'] !== undefined || v['top-p'] !== undefined;
    const temperature = num(v.temperature, 'temperature', samplingFlag ? 1 : 0, (x) => x >= 0);
    const o: GenerateOptions = {
      maxNewTokens: v['max-new-tokens'] !== undefined ? int(v['max-new-tokens'], 'max-new-tokens', 50, 0)
        : v['max-length'] !== undefined ? undefined : 50,
      maxLength: v['max-length'] !== undefined ? int(v['max-length'], 'max-length', 0, 1) : undefined,
      temperature,
      doSample: temperature > 0,
      topK: int(v['top-k'], 'top-k', 50, 0),
      topP: num(v['top-p'], 'top-p', 1, (x) => x > 0 && x <= 1),
      repetitionPenalty: num(v['repetition-penalty'], 'repetition-penalty', 1, (x) => x > 0),
      numReturnSequences: int(v['num-return-sequences'], 'num-return-sequences', 1),
      seed: int(v.seed, 'seed', 0, 0),
      stopStrings: v.stop ?? [],
      ...(v['no-eos'] ? { eosTokenId: null } : {}),
    };
    if ((o.numReturnSequences ?? 1) > 1 && temperature === 0) throw new UsageError('--num-return-sequences > 1 needs --temperature > 0 (greedy decoding returns one text)');
    const device = (v.device ?? 'cpu') as Device;
    const threads = v.threads ? int(v.threads, 'threads', 1) : undefined;
    const tok = await loadTokenizer(model);
    // --chat: the prompt as a user turn of the chat template; stop at its end-of-turn token too.
    const chat = v.chat ? await chatPrompt(model, prompt, { chatTemplate: v['chat-template'], system: v.system }) : null;
    if (!chat && (v['chat-template'] !== undefined || v.system !== undefined)) throw new UsageError('--chat-template and --system need --chat');
    if (chat) { o.stopTokenIds = v['no-eos'] ? chat.stopTokenIds.filter((x) => x !== tok.eosTokenId) : chat.stopTokenIds; o.stopStrings = [...(o.stopStrings ?? []), ...chat.stopStrings]; }
    const unTurn = (x: string) => (chat ? chat.stopStrings.reduce((t, st) => (t.endsWith(st) ? t.slice(0, -st.length) : t), x) : x);
    const ids = chat ? chat.ids : tok.encode(prompt);
    if (ids.length === 0) throw new UsageError('--prompt encodes to no tokens');

    const run = async (adapter: string | undefined, stream: boolean): Promise<GenerateResult> => {
      const gen = await Generator.load(model, adapter, { device, threads, releaseWeights: true });
      try {
        const single = (o.numReturnSequences ?? 1) === 1;
        if (stream && single && !v.json && !chat) process.stdout.write(prompt);
        const r = await gen.generate(ids, { ...o, onToken: stream && single && !v.json ? (e) => process.stdout.write(e.text) : undefined }, tok);
        if (stream && single && !v.json) process.stdout.write('\n');
        return { ...r, outputs: r.outputs.map(unTurn) };
      } finally {
        await gen.release();
      }
    };

    if (v['compare-base']) {
      const base = await run(undefined, false);
      const adapted = await run(adapter, false);
      if (v.json) {
        console.log(JSON.stringify({ outputs: adapted.outputs, base_outputs: base.outputs, tokens_per_s: adapted.tokensPerS, base_tokens_per_s: base.tokensPerS }));
      } else {
        adapted.outputs.forEach((a, i) => {
          console.log(`--- sequence ${i + 1}\n[base]    ${prompt}${base.outputs[i]}\n[adapter] ${prompt}${a}`);
        });
        console.log(`(${adapted.tokensPerS.toFixed(1)} tokens/s with the adapter, ${base.tokensPerS.toFixed(1)} base)`);
      }
      return 0;
    }
    const r = await run(adapter, true);
    recordSamplesInProject(v, prompt, r.outputs);
    if (v.json) console.log(JSON.stringify({ outputs: r.outputs, tokens_per_s: r.tokensPerS, new_tokens: r.newTokens, prompt_tokens: r.promptTokens, finish: r.finish }));
    else {
      if (r.outputs.length > 1) r.outputs.forEach((x, i) => console.log(`--- sequence ${i + 1}\n${prompt}${x}`));
      console.error(`(${r.newTokens} tokens, ${r.tokensPerS.toFixed(1)} tokens/s)`);
    }
    return 0;
  });
}
