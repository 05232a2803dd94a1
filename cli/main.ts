// `lora-studio`: one command per file in cli/commands, each a thin shell over the engine.

const COMMANDS: Record<string, { summary: string; load: () => Promise<(argv: string[]) => Promise<number>> }> = {
  info: { summary: 'architecture and trainable parameters of a model folder', load: async () => (await import('./commands/info.ts')).infoCommand },
  train: { summary: 'fine-tune with LoRA or fully; writes a PEFT adapter or an HF model folder', load: async () => (await import('./commands/train.ts')).trainCommand },
  eval: { summary: 'perplexity of a model (and adapter) on a text file, a dataset or a run\'s held-out split', load: async () => (await import('./commands/eval.ts')).evalCommand },
  data: { summary: 'inspect a dataset (aclImdb folder, CSV, JSONL, TXT, parquet, Markdown)', load: async () => (await import('./commands/data.ts')).dataCommand },
  adapter: { summary: 'inspect a PEFT adapter folder', load: async () => (await import('./commands/adapter.ts')).adapterCommand },
  runs: { summary: 'list, show, resume or delete the training runs of a project', load: async () => (await import('./commands/runs.ts')).runsCommand },
  generate: { summary: 'generate text with a model (and adapter), KV-cached; --compare-base', load: async () => (await import('./commands/generate.ts')).generateCommand },
  merge: { summary: 'fold a LoRA adapter into its base model and write an HF model folder', load: async () => (await import('./commands/merge.ts')).mergeCommand },
  classify: { summary: 'accuracy, F1 and confusion matrix of a sequence classifier (DistilBERT, GPT-2) on labelled data', load: async () => (await import('./commands/classify.ts')).classifyCommand },
  serve: { summary: 'the studio in a browser, on 127.0.0.1 with a per-session token', load: async () => (await import('./commands/serve.ts')).serveCommand },
  compare: { summary: 'LoRA vs full fine-tuning side by side (params, memory, speed, loss, perplexity, size)', load: async () => (await import('./commands/compare.ts')).compareCommand },
  grid: { summary: 'grid search over LoRA r, alpha, dropout (and lr), scored by validation perplexity; resumable', load: async () => (await import('./commands/grid.ts')).gridCommand },
  export: { summary: 'a model (adapter merged) or a LoRA adapter as GGUF for llama.cpp, Ollama, LM Studio', load: async () => (await import('./commands/export.ts')).exportCommand },
  convert: { summary: 'convert a llama2.c model.bin + tokenizer.bin into an HF Llama folder', load: async () => (await import('./commands/convert.ts')).convertCommand },
  models: { summary: 'pull a model from the Hugging Face Hub into the shared HF cache; list the models this build sees', load: async () => (await import('./commands/models.ts')).modelsCommand },
  demo: { summary: 'the whole tutorial offline on the built-in demo model (what `npm run demo` runs); --quick', load: async () => (await import('./commands/demo.ts')).demoCommand },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'Usage: lora-studio <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
    '',
    'Run `lora-studio <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return 0;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    console.error(`lora-studio: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  let run: (argv: string[]) => Promise<number>;
  try {
    run = await entry.load();
  } catch (e) {
    // A broken install (a file missing from the package): one line, no stack trace.
    console.error(`lora-studio ${cmd}: cannot load the command: ${(e as Error).message.split('\n')[0]}`);
    return 1;
  }
  return run(rest);
}
