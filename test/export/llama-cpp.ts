// llama.cpp itself (through node-llama-cpp's prebuilt CPU binary) as the reference client of the
// GGUF export: it loads a file, tokenizes a prompt with the GGUF's own tokenizer and continues it
// greedily through its low-level sequence.evaluate with a float32 KV cache and no flash attention
// (its default f16 cache and its high-level completion's repetition handling are not exact).
import { type Llama, type LlamaModel, getLlama } from 'node-llama-cpp';

let llama: Promise<Llama> | null = null;
const cpu = (): Promise<Llama> => (llama ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never }));

export interface LlamaCppRun {
  /** The prompt as llama.cpp tokenized it (BOS first when the GGUF asks for it). */
  prompt: number[];
  /** The greedy continuation. */
  tokens: number[];
  /** Whether llama.cpp prepends BOS for this GGUF. */
  addsBos: boolean;
}

const models = new Map<string, Promise<LlamaModel>>();

/** Frees every model loaded (call in afterAll). */
export async function disposeLlamaCpp(): Promise<void> {
  for (const m of models.values()) await (await m).dispose();
  models.clear();
}

export async function llamaCppGreedy(gguf: string, text: string, n: number, o: { lora?: string } = {}): Promise<LlamaCppRun> {
  const l = await cpu();
  // One load per file (a LoRA loaded onto a context stays with its model, so those load afresh).
  const key = o.lora ? `${gguf}\0${o.lora}` : gguf;
  if (!models.has(key)) models.set(key, l.loadModel({ modelPath: gguf }));
  const model = await models.get(key)!;
  const ctx = await model.createContext({
    contextSize: 256, batchSize: 256, threads: 2, flashAttention: false,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
    ...(o.lora ? { lora: { adapters: [{ filePath: o.lora, scale: 1 }] } } : {}),
  });
  try {
    const addsBos = model.tokens.shouldPrependBosToken && model.tokens.bos !== null;
    const prompt = [...(addsBos ? [model.tokens.bos as number] : []), ...(model.tokenize(text) as number[])];
    const tokens: number[] = [];
    for await (const t of ctx.getSequence().evaluate(prompt as never, { temperature: 0 })) {
      tokens.push(t as number);
      if (tokens.length >= n) break;
    }
    return { prompt, tokens, addsBos };
  } finally {
    await ctx.dispose();
  }
}
