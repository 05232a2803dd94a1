// A model of any family with random weights, from a config.json object (benchmarks and the run
// estimate's calibration need shapes, not trained values): norm weights 1, biases 0, the rest
// uniform or normal noise.
import { familyOf } from './registry.ts';
import { type LoadedModel, lmParamShapes } from './types.ts';
import { Rng } from '../util/rng.ts';

export function randomModel(json: Record<string, unknown>, o: { seed?: number; std?: number; uniform?: boolean } = {}): LoadedModel {
  const spec = familyOf(json, 'random').parse(json, 'random');
  const rng = new Rng(o.seed ?? 0);
  const std = o.std ?? 0.02;
  const weights = new Map(lmParamShapes(spec).map(([name, shape]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/(ln_(1|2|f)|norm)\.weight$/.test(name)) data.fill(1);
    else if (o.uniform) for (let i = 0; i < data.length; i++) data[i] = (rng.next() - 0.5) * 2 * std;
    else if (!name.endsWith('.bias')) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    return [name, { shape, data }];
  }));
  return { dir: 'random', spec, config: spec.config, weights, storedDtype: 'F32' };
}
