// Run folders: runs/<id>/ inside a project, one file per concept (see docs/FORMATS.md):
//   run-record.ts   run.json, ids, liveness, listing and deleting runs
//   run-logs.ts     metrics.jsonl, samples.jsonl, log.jsonl, the TensorBoard history
//   checkpoints.ts  checkpoints/step-N/
//   run-data.ts     the training data saved with a run
//   run-writer.ts   the process that trains a run (run.lock, heartbeat)
export * from './run-record.ts';
export * from './run-logs.ts';
export * from './checkpoints.ts';
export * from './run-data.ts';
export * from './run-writer.ts';
