// electron-vite builds the desktop app without Electron's binary: main, the engine's utility
// process and the experiments' trial worker as ES modules, a sandbox-compatible CommonJS preload,
// and the renderer.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';
import { engineProcessOptions } from '../../electron/engine-process.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

test('electron-vite build: out/main, out/preload (CommonJS, requires only electron), out/renderer', () => {
  execFileSync(process.execPath, ['node_modules/electron-vite/bin/electron-vite.js', 'build', '--logLevel', 'warn'], { encoding: 'utf8', timeout: 170_000, stdio: 'pipe' });
  const main = readFileSync('out/main/main.js', 'utf8');
  expect(main).toMatch(/from "electron"/);
  expect(main).toMatch(/utilityProcess\.fork/);
  const host = readFileSync('out/main/engine-process.js', 'utf8');
  expect(host).toMatch(/parentPort/);
  expect(host).toMatch(/ELECTRON_RUN_AS_NODE/);
  const worker = readFileSync('out/main/trial-worker.js', 'utf8');
  expect(worker).not.toMatch(/from "electron"/);
  const preload = readFileSync('out/preload/preload.cjs', 'utf8');
  expect([...new Set(preload.match(/require\(["'][^"']+["']\)/g))]).toEqual(['require("electron")']);
  expect(preload).toMatch(/exposeInMainWorld\(["']studio["']/);
  expect(preload).not.toMatch(/^\s*(import|export)\s/m);
  const html = readFileSync('out/renderer/index.html', 'utf8');
  expect(html).toMatch(/http-equiv="Content-Security-Policy"/);
  expect(html).toMatch(/src="\.\/assets\/[^"]+\.js"/); // relative: loads from file://
  expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline scripts
}, 180_000);

// The bundled worker, as the app's utility process starts it (Electron's binary with
// ELECTRON_RUN_AS_NODE is Node; here Node itself): one run of a project, trained in that process.
test.skipIf(!hasSharedData)('out/main/trial-worker.js trains a run in its own process', async () => {
  const dir = tempDir('bundled-trial-');
  const model = makeTinyGPT2(join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
  const data = join(dir, 'data.txt');
  writeFileSync(data, SAMPLE_TEXT);
  const trials = engineProcessOptions(resolve('out/main')).trials!;
  const steps: number[] = [];
  const out = await trials.run(join(dir, 'project'), { model, data, method: 'full', maxSteps: 2, batchSize: 2, maxLength: 16, logEvery: 1, threads: 1 }, {
    onEvent: (e) => void (e.type === 'step' && steps.push(e.step)),
  });
  expect(out.isolated).toBe(true);
  expect(out.result).toMatchObject({ steps: 2, stopped: 'completed' });
  expect(steps).toEqual([1, 2]);
  expect(out.peakRssMb).toBeGreaterThan(10);
}, 120_000);
