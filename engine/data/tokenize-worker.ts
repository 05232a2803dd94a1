// Worker thread for tokenizeDataset({ workers }): loads the tokenizer from its model folder once
// and tokenizes the shards it is sent, answering with transferable Int32Arrays.

import { parentPort } from 'node:worker_threads';
import { loadTokenizerCached } from './tokenizer.ts';

export interface ShardRequest {
  id: number;
  modelDir: string;
  texts: string[];
  addSpecialTokens?: boolean;
  maxLength?: number;
  keep: number | null;
}

export interface ShardResponse {
  id: number;
  offsets?: Int32Array;
  tokens?: Int32Array;
  error?: string;
}

parentPort?.on('message', async (req: ShardRequest) => {
  try {
    const tk = await loadTokenizerCached(req.modelDir);
    const opts = req.addSpecialTokens === undefined ? undefined : { addSpecialTokens: req.addSpecialTokens };
    const offsets = new Int32Array(req.texts.length + 1);
    let tokens = new Int32Array(Math.max(1024, req.texts.length * 64));
    let p = 0;
    for (let i = 0; i < req.texts.length; i++) {
      let ids = tk.encode(req.texts[i]!, opts);
      if (req.maxLength !== undefined && ids.length > req.maxLength) {
        const last = ids[ids.length - 1]!;
        ids = req.keep !== null && last === req.keep && req.maxLength > 1 ? [...ids.slice(0, req.maxLength - 1), last] : ids.slice(0, req.maxLength);
      }
      if (p + ids.length > tokens.length) {
        const bigger = new Int32Array(Math.max(tokens.length * 2, p + ids.length));
        bigger.set(tokens.subarray(0, p));
        tokens = bigger;
      }
      for (let k = 0; k < ids.length; k++) tokens[p++] = ids[k]!;
      offsets[i + 1] = p;
    }
    const out = tokens.slice(0, p);
    const res: ShardResponse = { id: req.id, offsets, tokens: out };
    parentPort!.postMessage(res, [offsets.buffer, out.buffer]);
  } catch (e) {
    const res: ShardResponse = { id: req.id, error: (e as Error)?.message ?? String(e) };
    parentPort!.postMessage(res);
  }
});
