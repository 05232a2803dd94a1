// Benchmarks' random models: the engine's (engine/models/random.ts).
export { randomModel } from '../engine/models/random.ts';
