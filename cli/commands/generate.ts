// `lora-studio generate`: flags -> the generate service (engine/services/generate.ts) -> the text,
// streamed to stdout; --compare-base generates with the base model too, side by side.
import type { GenerateResultData } from '../../engine/api.ts';
import { DEVICES } from '../../engine/api.ts';
import { type GenerateRequest, generateText } from '../../engine/services/generate.ts';
import { UsageError, int, num, oneOf, parse, runCommand } from '../args.ts';
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

type Flags = Record<string, unknown>;

/** The sampling flags as the service's request (without model, adapter and prompt). */
function requestFromFlags(v: Flags): Omit<GenerateRequest, 'model' | 'adapter' | 'prompt'> {
  const s = (k: string) => v[k] as string | undefined;
  // Greedy unless a temperature > 0 is given — or top-k / top-p, which only mean something when
  // sampling (then at temperature 1, transformers' default).
  const samplingFlag = s('top-k') !== undefined || s('top-p') !== undefined;
  const temperature = num(s('temperature'), 'temperature', samplingFlag ? 1 : 0, (x) => x >= 0);
  const numReturnSequences = int(s('num-return-sequences'), 'num-return-sequences', 1);
  if (numReturnSequences > 1 && temperature === 0) throw new UsageError('--num-return-sequences > 1 needs --temperature > 0 (greedy decoding returns one text)');
  if (!v.chat && (v['chat-template'] !== undefined || v.system !== undefined)) throw new UsageError('--chat-template and --system need --chat');
  return {
    maxNewTokens: s('max-new-tokens') !== undefined ? int(s('max-new-tokens'), 'max-new-tokens', 50, 0) : s('max-length') !== undefined ? undefined : 50,
    maxLength: s('max-length') !== undefined ? int(s('max-length'), 'max-length', 0, 1) : undefined,
    temperature,
    topK: int(s('top-k'), 'top-k', 50, 0),
    topP: num(s('top-p'), 'top-p', 1, (x) => x > 0 && x <= 1),
    repetitionPenalty: num(s('repetition-penalty'), 'repetition-penalty', 1, (x) => x > 0),
    numReturnSequences,
    seed: int(s('seed'), 'seed', 0, 0),
    stop: (v.stop as string[] | undefined) ?? [],
    noEos: Boolean(v['no-eos']),
    ...(v.chat ? { chat: { template: s('chat-template'), system: s('system') } } : {}),
    device: oneOf(v.device, 'device', DEVICES, 'cpu'),
    threads: s('threads') ? int(s('threads'), 'threads', 1) : undefined,
  };
}

function printCompared(prompt: string, base: GenerateResultData, adapted: GenerateResultData, json: boolean): void {
  if (json) {
    console.log(JSON.stringify({ outputs: adapted.outputs, base_outputs: base.outputs, tokens_per_s: adapted.tokensPerS, base_tokens_per_s: base.tokensPerS }));
    return;
  }
  adapted.outputs.forEach((a, i) => console.log(`--- sequence ${i + 1}\n[base]    ${prompt}${base.outputs[i]}\n[adapter] ${prompt}${a}`));
  console.log(`(${adapted.tokensPerS.toFixed(1)} tokens/s with the adapter, ${base.tokensPerS.toFixed(1)} base)`);
}

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
    const req = { ...requestFromFlags(v), model, prompt };
    if (v['compare-base']) {
      const base = await generateText(req);
      printCompared(prompt, base, await generateText({ ...req, adapter }), Boolean(v.json));
      return 0;
    }
    // One sequence, not --json: the prompt (unless it is a chat turn) and the text as it comes.
    const stream = req.numReturnSequences === 1 && !v.json;
    if (stream && !v.chat) process.stdout.write(prompt);
    const r = await generateText({ ...req, adapter, ...(stream ? { onToken: (e) => process.stdout.write(e.text) } : {}) });
    if (stream) process.stdout.write('\n');
    const unrecorded = recordSamplesInProject(v, prompt, r.outputs);
    if (v.json) console.log(JSON.stringify({ outputs: r.outputs, tokens_per_s: r.tokensPerS, new_tokens: r.tokens, prompt_tokens: r.promptTokens, finish: r.finish }));
    else {
      if (r.outputs.length > 1) r.outputs.forEach((x, i) => console.log(`--- sequence ${i + 1}\n${prompt}${x}`));
      console.error(`(${r.tokens} tokens, ${r.tokensPerS.toFixed(1)} tokens/s)`);
    }
    if (unrecorded) console.error(`lora-studio generate: warning: ${unrecorded}`);
    return 0;
  });
}
