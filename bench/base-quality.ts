// Base-model quality of each low-precision base dtype vs float32 (issue #16): perplexity of the
// frozen base (LoRA B = 0, so the step graph's loss is the base model's) on samples/recipes.jsonl
// and samples/reviews.csv, for models/demo-llama (Llama family, trained by this project) and
// stories260K (a trained llama2.c TinyStories Llama from ../shared/data, converted here; its own
// greedy stories from reference_outputs.json as a third text). Writes its section of
// docs/BENCHMARKS.md.  node --import tsx bench/base-quality.ts
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBlocks } from '../engine/data/pipeline.ts';
import { defaultLoraConfig } from '../engine/lora/config.ts';
import { loraPlan } from '../engine/lora/peft-model.ts';
import { convertLlama2c } from '../engine/models/llama2c.ts';
import { loadModel } from '../engine/models/registry.ts';
import { BASE_DTYPES } from '../engine/quant/formats.ts';
import { makeBatch } from '../engine/train/batch.ts';
import { evaluateLoss } from '../engine/train/step.ts';
import { baseStorage, buildStepGraph } from '../engine/train/step-graph.ts';
import { asTaskBatch, lmLoss } from '../engine/train/tasks/causal-lm.ts';
import { updateSection } from './report.ts';

const root = path.resolve(import.meta.dirname, '..');
const SRC = path.resolve(root, '..', 'shared', 'data', 'stories260K');
const tmp = mkdtempSync(path.join(tmpdir(), 'ls-quality-'));
const models: [string, string][] = [['demo-llama', path.join(root, 'models', 'demo-llama')]];
if (existsSync(path.join(SRC, 'stories260K.bin'))) {
  convertLlama2c(path.join(SRC, 'stories260K.bin'), path.join(SRC, 'tok512.bin'), path.join(tmp, 'stories260K'));
  models.push(['stories260K', path.join(tmp, 'stories260K')]);
  const ref = JSON.parse(readFileSync(path.join(SRC, 'reference_outputs.json'), 'utf8')) as { cases: { greedy_text?: string }[] };
  const texts = ref.cases.map((c) => c.greedy_text ?? '').filter(Boolean).map((t) => ({ text: t }));
  writeFileSync(path.join(tmp, 'stories.jsonl'), texts.map((t) => JSON.stringify(t)).join('\n'));
}
const data: [string, string, Record<string, string>][] = [
  ['recipes.jsonl', path.join(root, 'samples', 'recipes.jsonl'), {}],
  ['reviews.csv', path.join(root, 'samples', 'reviews.csv'), { textColumn: 'text' }],
];
if (existsSync(path.join(tmp, 'stories.jsonl'))) data.push(['stories (model samples)', path.join(tmp, 'stories.jsonl'), { textColumn: 'text' }]);

const T = 64, B = 4;
const rows: string[] = [];
for (const [mname, dir] of models) {
  for (const [dname, file, opts] of data) {
    if (dname.startsWith('stories') && mname !== 'stories260K') continue;
    const blocks = await loadBlocks(file, T, dir, { cacheDir: null, ...opts });
    const batches = Array.from({ length: Math.ceil(blocks.length / B) }, (_, i) => asTaskBatch(makeBatch(blocks.slice(i * B, (i + 1) * B), B, T)));
    const ppl: Record<string, number | string> = {};
    for (const dtype of BASE_DTYPES) {
      const m = loadModel(dir);
      const plan = loraPlan(m.spec, defaultLoraConfig({ r: 8, loraAlpha: 16 })); // B = 0 at init: the base model
      try {
        const sg = await buildStepGraph(m.weights, plan, m.spec.family.isNoDecay, lmLoss(m.spec, B, T), { releaseFrozen: true, base: baseStorage(m.spec, dtype, { model: mname }) });
        ppl[dtype] = Math.exp((await evaluateLoss(sg, batches)).loss);
        await sg.session.release();
      } catch (e) {
        ppl[dtype] = (e as Error).message;
      }
    }
    const f32 = ppl.f32 as number;
    const cell = (d: string) => (typeof ppl[d] === 'number' ? `${(ppl[d] as number).toFixed(3)} (${d === 'f32' ? '—' : `${(((ppl[d] as number) / f32 - 1) * 100).toFixed(2)} %`})` : `refused: ${ppl[d]}`);
    rows.push(`| ${mname} | ${dname} | ${blocks.length * T} | ${BASE_DTYPES.map(cell).join(' | ')} |`);
    console.error(rows.at(-1));
  }
}
const lines = [
  `Perplexity of the frozen base (a LoRA step graph with B = 0, blocks of ${T} tokens) with each base dtype; in brackets the change relative to float32. Targets: int8 within 1 %, int4 within 5 %.`,
  '',
  `| model | text | tokens | ${BASE_DTYPES.join(' | ')} |`,
  `|---|---|---|${BASE_DTYPES.map(() => '---').join('|')}|`,
  ...rows,
  '',
  'Reproduce: `node --import tsx bench/base-quality.ts`.',
];
updateSection(path.join(root, 'docs', 'BENCHMARKS.md'), 'Low-precision base: quality (issue #16)', lines.join('\n'));
console.log(lines.join('\n'));
