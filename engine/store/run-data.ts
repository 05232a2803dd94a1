// The training data a run was started with: a data file (with its size and hash, so that resume
// refuses a changed file) or pre-tokenized documents saved in the run as documents.safetensors.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { DOCUMENTS_FILE } from './run-record.ts';
import { openSafetensors, writeSafetensors } from './safetensors.ts';

/** Where the training text came from: a file (with its hash, to refuse a changed file on resume) or documents saved in the run. */
export type StoredData =
  | { kind: 'file'; path: string; bytes: number; sha256: string }
  | { kind: 'documents'; file: string; count: number; tokens: number; sha256: string };

export function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const k = fs.readSync(fd, buf, 0, buf.length, null);
      if (k === 0) break;
      h.update(buf.subarray(0, k));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Pre-tokenized documents → documents.safetensors (tokens I32, offsets I64). */
export function writeDocuments(dir: string, documents: number[][]): StoredData {
  const total = documents.reduce((s, d) => s + d.length, 0);
  const tokens = new Int32Array(total);
  const offsets = new BigInt64Array(documents.length + 1);
  let k = 0;
  documents.forEach((d, i) => {
    tokens.set(d, k);
    k += d.length;
    offsets[i + 1] = BigInt(k);
  });
  const file = path.join(dir, DOCUMENTS_FILE);
  writeSafetensors(file, [
    { name: 'tokens', dtype: 'I32', shape: [total], data: tokens },
    { name: 'offsets', dtype: 'I64', shape: [documents.length + 1], data: offsets },
  ]);
  return { kind: 'documents', file: DOCUMENTS_FILE, count: documents.length, tokens: total, sha256: sha256File(file) };
}

export function readDocuments(dir: string, stored: Extract<StoredData, { kind: 'documents' }>): number[][] {
  const file = path.join(dir, stored.file);
  const st = openSafetensors(file);
  try {
    const tokens = new Int32Array(st.readBytes('tokens').buffer);
    const offsets = st.readInt64('offsets');
    const out: number[][] = [];
    for (let i = 0; i + 1 < offsets.length; i++) out.push(Array.from(tokens.subarray(Number(offsets[i]), Number(offsets[i + 1]))));
    return out;
  } finally {
    st.close();
  }
}
