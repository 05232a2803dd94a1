// Classification metrics: accuracy, per-class precision / recall / F1, macro averages, and the
// confusion matrix (rows = true class, columns = predicted class), as scikit-learn defines them
// (a class with no predictions has precision 0; with no examples, recall 0). For two classes the
// headline F1 is the positive class's (label 1), sklearn's average='binary'.

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  /** Binary F1 of class 1 for two classes, macro F1 otherwise. */
  f1: number;
  precision: number;
  recall: number;
  macroF1: number;
  perClass: ClassMetrics[];
  confusion: number[][];
  examples: number;
}

export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses: number): number[][] {
  if (yTrue.length !== yPred.length) throw new Error(`metrics: ${yTrue.length} labels but ${yPred.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i], p = yPred[i];
    if (!(t >= 0 && t < numClasses) || !(p >= 0 && p < numClasses)) throw new Error(`metrics: class ${t}/${p} outside 0..${numClasses - 1}`);
    m[t][p]++;
  }
  return m;
}

export function classificationMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses: number): ClassificationMetrics {
  const confusion = confusionMatrix(yTrue, yPred, numClasses);
  const n = yTrue.length;
  let correct = 0;
  for (let c = 0; c < numClasses; c++) correct += confusion[c][c];
  const perClass = confusion.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, r) => a + r[c], 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { precision, recall, f1, support };
  });
  const mean = (k: keyof ClassMetrics) => perClass.reduce((a, x) => a + x[k], 0) / numClasses;
  const binary = numClasses === 2;
  return {
    accuracy: n ? correct / n : 0,
    f1: binary ? perClass[1].f1 : mean('f1'),
    precision: binary ? perClass[1].precision : mean('precision'),
    recall: binary ? perClass[1].recall : mean('recall'),
    macroF1: mean('f1'),
    perClass,
    confusion,
    examples: n,
  };
}
