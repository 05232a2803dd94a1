// electron-builder.yml: installers for Linux (AppImage, deb), macOS (dmg), Windows (nsis); an app
// id; icons; asar with onnxruntime-node's native binaries unpacked.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';

const config = parse(readFileSync('electron-builder.yml', 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// electron-builder's top-level options (its Configuration schema); a key outside it is a typo.
const KNOWN = new Set([
  'appId', 'productName', 'copyright', 'directories', 'extraMetadata', 'files', 'extraFiles', 'extraResources', 'asar', 'asarUnpack',
  'npmRebuild', 'nodeGypRebuild', 'buildDependenciesFromSource', 'icon', 'linux', 'deb', 'rpm', 'snap', 'appImage', 'mac', 'dmg', 'mas',
  'win', 'nsis', 'portable', 'publish', 'compression', 'artifactName', 'electronVersion', 'electronDist', 'fileAssociations', 'protocols',
  'afterPack', 'afterSign', 'beforeBuild', 'electronFuses', 'executableName',
]);

const TARGETS = (platform: string) => (config[platform].target as (string | { target: string })[]).map((t) => (typeof t === 'string' ? t : t.target));

function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  expect(b.readUInt32BE(0)).toBe(0x89504e47);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** electron-builder's glob semantics, enough for asarUnpack: `**` any depth, `*` within a segment. */
function glob(patterns: string[]): (path: string) => boolean {
  const res = patterns.map((p) => {
    const re = p
      .split(/(\*\*\/|\*\*|\*)/)
      .map((part) => (part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    return new RegExp(`^${re}$`);
  });
  return (path) => res.some((r) => r.test(path));
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

describe('electron-builder.yml', () => {
  test('only known options', () => {
    expect(Object.keys(config).filter((k) => !KNOWN.has(k))).toEqual([]);
  });

  test('identity: a reverse-DNS app id and a product name', () => {
    expect(config.appId).toMatch(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){2,}$/);
    expect(config.productName).toBe('LoRA Studio');
  });

  test('targets: AppImage and deb, dmg, nsis', () => {
    expect(TARGETS('linux')).toEqual(expect.arrayContaining(['AppImage', 'deb']));
    expect(TARGETS('mac')).toEqual(['dmg']);
    expect(TARGETS('win')).toEqual(['nsis']);
    expect(config.linux.maintainer).toMatch(/<.+@.+>/); // deb needs one
  });

  test('icons exist and are large enough for every platform (≥ 512 px; macOS wants 1024)', () => {
    const icons = new Set([config.icon, config.linux.icon, config.mac.icon, config.win.icon]);
    for (const icon of icons) {
      expect(existsSync(icon), icon).toBe(true);
      const { width, height } = pngSize(icon);
      expect(width).toBe(height);
      expect(width).toBeGreaterThanOrEqual(1024);
    }
    expect(existsSync(config.directories.buildResources)).toBe(true);
  });

  test('asar, with every onnxruntime-node binary unpacked', () => {
    expect(config.asar).toBe(true);
    const unpacked = glob(config.asarUnpack as string[]);
    const bin = join('node_modules', 'onnxruntime-node', 'bin');
    const natives = files(bin).map((f) => relative('.', f).split('\\').join('/'));
    expect(natives.length).toBeGreaterThan(0);
    expect(natives.some((f) => f.endsWith('.node'))).toBe(true);
    expect(natives.filter((f) => !unpacked(f))).toEqual([]);
    expect(unpacked('node_modules/some-addon/build/Release/addon.node')).toBe(true);
    expect(unpacked('out/main/main.js')).toBe(false);
    expect(config.npmRebuild).toBe(false); // N-API prebuilt binaries: nothing to rebuild
  });

  test('the app is electron-vite’s output, and package.json points at it', () => {
    expect(config.extraMetadata.main).toBe('out/main/main.js');
    expect(pkg.main).toBe(config.extraMetadata.main);
    expect(config.files).toContain('out/**/*');
    const electronVite = readFileSync('electron.vite.config.ts', 'utf8');
    expect(electronVite).toMatch(/main: r\('electron\/main\.ts'\)/);
    expect(electronVite).toMatch(/entryFileNames: '\[name\]\.js'/);
    expect(pkg.scripts.start).toMatch(/electron-vite/);
    expect(pkg.scripts.build).toBe('electron-vite build');
    expect(pkg.devDependencies.electron).toMatch(/^\^?41\./);
  });
});
