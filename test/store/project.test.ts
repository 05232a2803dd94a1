import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  addDataset, addModel, createProject, defaultProjectDir, defaultProjectsRoot, isProject, listProjects, openOrCreateProject,
  openProject, projectPaths, updateProject,
} from '../../engine/store/project.ts';
import { FormatError } from '../../engine/store/errors.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-proj-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('default project location', () => {
  it('is the OS application-data folder + lora-studio/projects', () => {
    expect(defaultProjectsRoot({ APPDATA: 'C:\\Users\\ana\\AppData\\Roaming' }, 'win32', 'C:\\Users\\ana')).toBe('C:\\Users\\ana\\AppData\\Roaming\\lora-studio\\projects');
    expect(defaultProjectsRoot({}, 'win32', 'C:\\Users\\ana')).toBe('C:\\Users\\ana\\AppData\\Roaming\\lora-studio\\projects');
    expect(defaultProjectsRoot({}, 'darwin', '/Users/ana')).toBe('/Users/ana/Library/Application Support/lora-studio/projects');
    expect(defaultProjectsRoot({ XDG_DATA_HOME: '/data/ana' }, 'linux', '/home/ana')).toBe('/data/ana/lora-studio/projects');
    expect(defaultProjectsRoot({ XDG_DATA_HOME: 'relative/ignored' }, 'linux', '/home/ana')).toBe('/home/ana/.local/share/lora-studio/projects');
    expect(defaultProjectsRoot({}, 'linux', '/home/ana')).toBe('/home/ana/.local/share/lora-studio/projects');
    expect(defaultProjectDir({}, 'linux', '/home/ana')).toBe('/home/ana/.local/share/lora-studio/projects/default');
  });

  it('is overridable', () => {
    expect(defaultProjectsRoot({ LORA_STUDIO_PROJECTS_DIR: '/srv/p' }, 'linux', '/home/ana')).toBe('/srv/p');
    expect(defaultProjectDir({ LORA_STUDIO_PROJECTS_DIR: '/srv/p' }, 'linux', '/home/ana')).toBe('/srv/p/default');
    expect(defaultProjectDir({ LORA_STUDIO_PROJECT: '/work/mine' }, 'linux', '/home/ana')).toBe('/work/mine');
  });
});

describe('project folders', () => {
  it('creates project.json, runs/ and datasets/; opening is idempotent', () => {
    const dir = path.join(tmp, 'deep', 'my-proj');
    const p = createProject(dir, { name: 'Recipes' });
    expect(p.name).toBe('Recipes');
    expect(isProject(dir)).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(['datasets', 'project.json', 'runs']);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'project.json'), 'utf8'));
    expect(json).toMatchObject({ format: 'lora-studio.project', version: 1, name: 'Recipes', models: [], datasets: [] });
    expect(createProject(dir).name).toBe('Recipes');
    expect(openOrCreateProject(dir).createdAt).toBe(p.createdAt);
  });

  it('records models and datasets once, with an import record per dataset', () => {
    const dir = path.join(tmp, 'p2');
    createProject(dir);
    const m1 = addModel(dir, path.join(tmp, 'gpt2'));
    const m2 = addModel(dir, path.join(tmp, 'gpt2'));
    expect(m2.id).toBe(m1.id);
    const d1 = addDataset(dir, { path: path.join(tmp, 'reviews.csv'), format: 'csv', options: { textColumn: 'review' } });
    const d2 = addDataset(dir, { path: path.join(tmp, 'reviews.csv'), format: 'csv', options: { textColumn: 'review' }, stats: { examples: 10 } });
    const d3 = addDataset(dir, { path: path.join(tmp, 'reviews.csv'), format: 'csv', options: { textColumn: 'title' } });
    expect(d2.id).toBe(d1.id);
    expect(d3.id).not.toBe(d1.id);
    const p = openProject(dir);
    expect(p.models.map((m) => m.path)).toEqual([path.join(tmp, 'gpt2')]);
    expect(p.datasets).toHaveLength(2);
    expect(p.datasets[0]!.stats).toEqual({ examples: 10 });
    const record = JSON.parse(fs.readFileSync(path.join(projectPaths(dir).datasets, d1.id, 'import.json'), 'utf8'));
    expect(record).toMatchObject({ id: d1.id, format: 'csv', options: { textColumn: 'review' }, stats: { examples: 10 } });
  });

  it('keeps keys it does not know', () => {
    const dir = path.join(tmp, 'p3');
    createProject(dir);
    const file = path.join(dir, 'project.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), futureFeature: { a: 1 } }));
    updateProject(dir, (p) => { p.name = 'renamed'; });
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(json.futureFeature).toEqual({ a: 1 });
    expect(json.name).toBe('renamed');
  });

  it('reports bad folders and files clearly', () => {
    const missing = path.join(tmp, 'missing');
    expect(() => openProject(missing)).toThrow(`${missing}: project folder not found`);
    const plain = path.join(tmp, 'plain');
    fs.mkdirSync(plain);
    expect(() => openProject(plain)).toThrow(/not a LoRA Studio project \(no project\.json\)/);
    fs.writeFileSync(path.join(plain, 'project.json'), '{"format": "lora-studio.project", "version": 1,');
    expect(() => openProject(plain)).toThrow(FormatError);
    expect(() => openProject(plain)).toThrow(/project\.json: project file is not valid JSON \(line 1/);
    fs.writeFileSync(path.join(plain, 'project.json'), '{"format": "lora-studio.project", "version": 9}');
    expect(() => openProject(plain)).toThrow(/version 9 is newer than this studio reads/);
    fs.writeFileSync(path.join(plain, 'project.json'), '{"format": "something-else", "version": 1}');
    expect(() => openProject(plain)).toThrow(/"format" must be "lora-studio\.project"/);
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    expect(() => createProject(file)).toThrow(/is a file, expected a project folder/);
  });

  it('lists the projects in a folder', () => {
    const root = path.join(tmp, 'root');
    createProject(path.join(root, 'b'), { name: 'Beta' });
    createProject(path.join(root, 'a'), { name: 'Alpha' });
    fs.mkdirSync(path.join(root, 'not-a-project'));
    expect(listProjects(root).map((p) => p.name)).toEqual(['Alpha', 'Beta']);
    expect(listProjects(path.join(tmp, 'nothing-here'))).toEqual([]);
  });
});
