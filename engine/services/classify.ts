// The classify service: accuracy, precision/recall/F1 and the confusion matrix of a sequence
// classifier (with an optional SEQ_CLS adapter) on labelled data.

import type { ClassifyResultData, Params } from '../api.ts';
import type { Device } from '../onnx/runtime.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir, requirePath } from './files.ts';

export type ClassifyRequest = Params<'eval.classify'> & { device?: Device; threads?: number };

export async function classify(p: ClassifyRequest, fns: EngineFunctions = ENGINE): Promise<ClassifyResultData> {
  const model = requireDir(p.model, 'model folder');
  const adapter = p.adapter ? requireDir(p.adapter, 'adapter folder') : undefined;
  const data = requirePath(p.data, 'labelled data');
  const given = <K extends keyof ClassifyRequest>(k: K) => (p[k] !== undefined ? { [k]: p[k] } : {});
  const r = await fns.evaluateClassifier({
    model, data, ...(adapter ? { adapter } : {}),
    ...given('textColumn'), ...given('labelColumn'), ...given('split'), ...given('maxLength'), ...given('batchSize'), ...given('device'), ...given('threads'),
  });
  return {
    accuracy: r.accuracy, f1: r.f1, precision: r.precision, recall: r.recall, macroF1: r.macroF1,
    perClass: r.perClass.map((c) => ({ precision: c.precision, recall: c.recall, f1: c.f1, support: c.support })),
    confusion: r.confusion, labels: r.labels, examples: r.examples,
  };
}
