// The engine's services: the only entry points the shells (the CLI, the web bridge, the desktop
// app) call. Each takes checked options, reports progress through hooks, and returns plain data;
// the engine functions they call are in engine.ts (replaceable, for tests).
export * from './classify.ts';
export * from './compare.ts';
export * from './datasets.ts';
export * from './demo.ts';
export * from './engine.ts';
export * from './evaluate.ts';
export * from './export.ts';
export * from './files.ts';
export * from './generate.ts';
export * from './grid.ts';
export * from './hub.ts';
export * from './models.ts';
export * from './train.ts';
