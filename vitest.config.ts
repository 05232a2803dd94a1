import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The machine has 2 cores and ONNX Runtime uses both: run test files one after another
    // (across both projects).
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: 'node', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/ui/**'] },
      },
      {
        // The renderer's component tests: Svelte compiled for the browser, in jsdom.
        extends: true,
        plugins: [svelte({ compilerOptions: { hmr: false } }), svelteTesting()],
        resolve: { conditions: ['browser'] },
        test: { name: 'ui', include: ['test/ui/**/*.test.ts'], environment: 'jsdom' },
      },
    ],
  },
});
