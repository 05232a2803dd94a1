// electron-vite: the desktop app's three bundles. Builds without Electron's binary.
//   out/main      main.ts (window, menu, IPC), engine-process.ts (the engine's utility process) and
//                 trial-worker.js (host/trial-worker.ts: an experiment's run in its own process)
//   out/preload   preload.cjs (CommonJS: sandboxed preloads can't be ES modules)
//   out/renderer  the Svelte app (the same build `lora-studio serve` serves)
import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

const r = (p: string) => resolve(import.meta.dirname, p);

export default defineConfig({
  main: {
    build: {
      outDir: r('out/main'),
      // Runtime dependencies (onnxruntime-node's native binaries, tokenizers, parsers) stay in
      // node_modules, which electron-builder packs (onnxruntime-node unpacked from the asar).
      externalizeDeps: true,
      rolldownOptions: {
        input: { main: r('electron/main.ts'), 'engine-process': r('electron/engine-process.ts'), 'trial-worker': r('host/trial-worker.ts') },
        output: { format: 'es', entryFileNames: '[name].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: r('out/preload'),
      externalizeDeps: false,
      isolatedEntries: true,
      rolldownOptions: {
        input: { preload: r('electron/preload.ts') },
        external: ['electron'],
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: r('renderer'),
    base: './',
    plugins: [svelte()],
    build: {
      outDir: r('out/renderer'),
      target: 'chrome120',
      assetsInlineLimit: 0,
      modulePreload: { polyfill: false },
      chunkSizeWarningLimit: 1500,
      rolldownOptions: { input: r('renderer/index.html') },
    },
  },
});
