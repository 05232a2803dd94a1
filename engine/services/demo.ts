// The demo service: the whole tutorial on the built-in demo model (engine/experiments/demo.ts).
export { DEMO_MODEL, DEMO_PROMPT, type DemoOptions, type DemoSummary, runDemo } from '../experiments/demo.ts';
