import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from './engine/data/tokenizer.ts';
const tk = await loadTokenizer('/tmp/bertbig') as any;
const d = '/tmp/benchdata/aclImdb/train/pos';
const texts = readdirSync(d).slice(0, 4000).map(f => readFileSync(join(d, f), 'utf8')).filter(t => !/[^\x00-\x7f]/.test(t));
let bytes = 0; for (const x of texts) bytes += x.length;
for (let r = 0; r < 4; r++) {
let t = performance.now(); let c = 0; for (const x of texts) c += tk.encode(x).length;
console.log('fast ascii', (bytes/1e6/((performance.now()-t)/1000)).toFixed(1), 'MB/s', c);
}
