// A full garbage collection on demand. After a large model has been handed to ONNX Runtime our
// copies of its weights are garbage; V8 would free them only under pressure, after they have
// already raised the peak memory of the run. Collecting once at that point keeps the peak honest.
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null = null;

export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}
