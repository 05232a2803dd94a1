import { loadDataset } from './engine/data/index.ts';
const D='/work/shared/data/';
for (const [p, o] of [[D+'aclImdb-sample/aclImdb', {}], [D+'aclImdb-sample/aclImdb', {split:'test'}], [D+'aclImdb-sample', {}], [D+'uci-sentiment/imdb_labelled.txt', {}], [D+'sms-spam/SMSSpamCollection', {}], [D+'uci-sentiment/readme.txt', {}]] as const) {
  const t=performance.now();
  try {
  const r = await loadDataset(p, o as any);
  const bal: Record<string, number> = {}; for (const e of r.examples) bal[String(e.label)] = (bal[String(e.label)]??0)+1;
  console.log(p, r.format, r.examples.length, r.labelNames, bal, r.skipped, r.notes, JSON.stringify(r.examples[0]).slice(0,150), (performance.now()-t).toFixed(0)+'ms');
  } catch (e) { console.log(p, 'ERR', (e as Error).message); }
}
