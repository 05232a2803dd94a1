// Worker-thread entry when the engine runs from TypeScript sources (tsx): register tsx in this
// thread, then load the worker itself. A bundled build points its Worker at the compiled
// tokenize-worker.js instead.
import { register } from 'tsx/esm/api';

register();
await import('./tokenize-worker.ts');
