// electron-vite builds the desktop app without Electron's binary: main and the engine's utility
// process as ES modules, a sandbox-compatible CommonJS preload, and the renderer.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';

test('electron-vite build: out/main, out/preload (CommonJS, requires only electron), out/renderer', () => {
  execFileSync(process.execPath, ['node_modules/electron-vite/bin/electron-vite.js', 'build', '--logLevel', 'warn'], { encoding: 'utf8', timeout: 170_000, stdio: 'pipe' });
  const main = readFileSync('out/main/main.js', 'utf8');
  expect(main).toMatch(/from "electron"/);
  expect(main).toMatch(/utilityProcess\.fork/);
  const host = readFileSync('out/main/engine-process.js', 'utf8');
  expect(host).toMatch(/parentPort/);
  const preload = readFileSync('out/preload/preload.cjs', 'utf8');
  expect([...new Set(preload.match(/require\(["'][^"']+["']\)/g))]).toEqual(['require("electron")']);
  expect(preload).toMatch(/exposeInMainWorld\(["']studio["']/);
  expect(preload).not.toMatch(/^\s*(import|export)\s/m);
  const html = readFileSync('out/renderer/index.html', 'utf8');
  expect(html).toMatch(/http-equiv="Content-Security-Policy"/);
  expect(html).toMatch(/src="\.\/assets\/[^"]+\.js"/); // relative: loads from file://
  expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline scripts
}, 180_000);
