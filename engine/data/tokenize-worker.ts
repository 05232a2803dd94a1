// Worker thread for tokenizeDataset({ workers }): loads the tokenizer from its model folder once
// and tokenizes the shards it is sent, answering with transferable Int32Arrays.

import { parentPort } from 'node:worker_threads';
import { TokenBuffer, truncateIds } from './token-buffer.ts';
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
    const buf = new TokenBuffer(req.texts.length);
    for (const text of req.texts) buf.push(truncateIds(tk.encode(text, opts), req.maxLength, req.keep));
    const offsets = buf.offsets;
    const out = buf.filled();
    const res: ShardResponse = { id: req.id, offsets, tokens: out };
    parentPort!.postMessage(res, [offsets.buffer, out.buffer]);
  } catch (e) {
    const res: ShardResponse = { id: req.id, error: (e as Error)?.message ?? String(e) };
    parentPort!.postMessage(res);
  }
});
