// A project folder: project.json (name, models, datasets), datasets/ (import records and the
// tokenized cache), runs/<id>/ (see runs.ts). Every file is replaced atomically; unknown keys in
// project.json are kept, so an older studio does not erase what a newer one wrote.
// The format is documented in docs/FORMATS.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeJsonAtomic } from './atomic.ts';
import { FormatError } from './errors.ts';
import { isJsonObject, readJsonFile, requireInteger, requireString, type JsonObject } from './json.ts';

export const PROJECT_FILE = 'project.json';
export const PROJECT_FORMAT = 'lora-studio.project';
export const PROJECT_VERSION = 1;

/** Environment variables that move the defaults. */
export const ENV_PROJECTS_ROOT = 'LORA_STUDIO_PROJECTS_DIR';
export const ENV_PROJECT = 'LORA_STUDIO_PROJECT';

export interface ProjectModel {
  id: string;
  /** Absolute path of a Hugging Face model folder. */
  path: string;
  name: string;
  addedAt: string;
}

export interface ProjectDataset {
  id: string;
  /** Absolute path of the imported file or folder. */
  path: string;
  name: string;
  /** aclimdb, csv, jsonl, txt, parquet, md (or 'auto' before detection). */
  format: string;
  addedAt: string;
  /** How it was read (textColumn, labelColumn, split, template, ...). */
  options: JsonObject;
  /** Filled in after import: examples, labels, content hash, ... */
  stats: JsonObject | null;
}

export interface Project {
  format: typeof PROJECT_FORMAT;
  version: number;
  name: string;
  createdAt: string;
  updatedAt: string;
  models: ProjectModel[];
  datasets: ProjectDataset[];
  /** Keys this version does not know, written back unchanged. */
  extra: JsonObject;
}

export interface ProjectPaths {
  dir: string;
  file: string;
  runs: string;
  datasets: string;
  /** The tokenized-dataset cache (content-addressed files of engine/data/cache.ts). */
  datasetCache: string;
}

export function projectPaths(dir: string): ProjectPaths {
  const d = path.resolve(dir);
  return {
    dir: d,
    file: path.join(d, PROJECT_FILE),
    runs: path.join(d, 'runs'),
    datasets: path.join(d, 'datasets'),
    datasetCache: path.join(d, 'datasets', 'cache'),
  };
}

/**
 * Where projects live by default: `$LORA_STUDIO_PROJECTS_DIR`, else the OS's application-data
 * folder + `lora-studio/projects`: `%APPDATA%` on Windows, `~/Library/Application Support` on
 * macOS, `$XDG_DATA_HOME` (when absolute) or `~/.local/share` elsewhere.
 */
export function defaultProjectsRoot(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  const override = env[ENV_PROJECTS_ROOT];
  if (override) return path.resolve(override);
  const p = platform === 'win32' ? path.win32 : path.posix;
  let base: string;
  if (platform === 'win32') base = env.APPDATA || p.join(home, 'AppData', 'Roaming');
  else if (platform === 'darwin') base = p.join(home, 'Library', 'Application Support');
  else base = env.XDG_DATA_HOME && p.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : p.join(home, '.local', 'share');
  return p.join(base, 'lora-studio', 'projects');
}

/** The project used when none is named: `$LORA_STUDIO_PROJECT`, else `<projects root>/default`. */
export function defaultProjectDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  const override = env[ENV_PROJECT];
  if (override) return path.resolve(override);
  return (platform === 'win32' ? path.win32 : path.posix).join(defaultProjectsRoot(env, platform, home), 'default');
}

export function isProject(dir: string): boolean {
  return fs.existsSync(path.join(dir, PROJECT_FILE));
}

const now = () => new Date().toISOString();

/** Creates the folder (and parents), project.json and the sub-folders; an existing project is opened. */
export function createProject(dir: string, opts: { name?: string } = {}): Project {
  const p = projectPaths(dir);
  if (fs.existsSync(p.file)) return openProject(dir);
  if (fs.existsSync(p.dir) && !fs.statSync(p.dir).isDirectory()) throw new FormatError(p.dir, 'is a file, expected a project folder');
  fs.mkdirSync(p.runs, { recursive: true });
  fs.mkdirSync(p.datasets, { recursive: true });
  const t = now();
  const project: Project = {
    format: PROJECT_FORMAT, version: PROJECT_VERSION, name: opts.name?.trim() || path.basename(p.dir) || 'project',
    createdAt: t, updatedAt: t, models: [], datasets: [], extra: {},
  };
  writeProject(dir, project);
  return project;
}

export function openProject(dir: string): Project {
  const p = projectPaths(dir);
  if (!fs.existsSync(p.dir)) throw new FormatError(p.dir, 'project folder not found');
  if (!fs.existsSync(p.file)) throw new FormatError(p.dir, `not a LoRA Studio project (no ${PROJECT_FILE}); create one with --project on train, or in the app`);
  return parseProject(readJsonFile(p.file, 'project file'), p.file);
}

/** Opens the project, creating it first when the folder has none. */
export function openOrCreateProject(dir: string): Project {
  return isProject(dir) ? openProject(dir) : createProject(dir);
}

export function parseProject(o: JsonObject, file: string): Project {
  const format = o.format;
  if (format !== PROJECT_FORMAT) throw new FormatError(file, `"format" must be "${PROJECT_FORMAT}", got ${JSON.stringify(format)}`);
  const version = requireInteger(o, 'version', file);
  if (version > PROJECT_VERSION) throw new FormatError(file, `project format version ${version} is newer than this studio reads (${PROJECT_VERSION}); update LoRA Studio`);
  const list = (key: string): JsonObject[] => {
    const v = o[key];
    if (v == null) return [];
    if (!Array.isArray(v) || !v.every(isJsonObject)) throw new FormatError(file, `"${key}" must be a list of objects`);
    return v as JsonObject[];
  };
  const models = list('models').map((m) => ({
    id: requireString(m, 'id', file), path: requireString(m, 'path', file),
    name: typeof m.name === 'string' ? m.name : path.basename(String(m.path)),
    addedAt: typeof m.addedAt === 'string' ? m.addedAt : '',
  }));
  const datasets = list('datasets').map((d) => ({
    id: requireString(d, 'id', file), path: requireString(d, 'path', file),
    name: typeof d.name === 'string' ? d.name : path.basename(String(d.path)),
    format: typeof d.format === 'string' ? d.format : 'auto',
    addedAt: typeof d.addedAt === 'string' ? d.addedAt : '',
    options: isJsonObject(d.options) ? d.options : {},
    stats: isJsonObject(d.stats) ? d.stats : null,
  }));
  const known = new Set(['format', 'version', 'name', 'createdAt', 'updatedAt', 'models', 'datasets']);
  const extra = Object.fromEntries(Object.entries(o).filter(([k]) => !known.has(k)));
  return {
    format: PROJECT_FORMAT, version, name: typeof o.name === 'string' ? o.name : path.basename(path.dirname(file)),
    createdAt: typeof o.createdAt === 'string' ? o.createdAt : '', updatedAt: typeof o.updatedAt === 'string' ? o.updatedAt : '',
    models, datasets, extra,
  };
}

export function writeProject(dir: string, project: Project): void {
  const { extra, ...rest } = project;
  writeJsonAtomic(projectPaths(dir).file, { ...extra, ...rest, version: PROJECT_VERSION });
}

/** Read, change, write back (atomically). */
export function updateProject(dir: string, change: (p: Project) => void): Project {
  const project = openProject(dir);
  change(project);
  project.updatedAt = now();
  writeProject(dir, project);
  return project;
}

const shortId = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** Records a model folder (once per path); returns its record. */
export function addModel(dir: string, modelPath: string, name?: string): ProjectModel {
  const abs = path.resolve(modelPath);
  let rec: ProjectModel | undefined;
  updateProject(dir, (p) => {
    rec = p.models.find((m) => m.path === abs);
    if (!rec) {
      rec = { id: shortId('model'), path: abs, name: name ?? path.basename(abs), addedAt: now() };
      p.models.push(rec);
    }
  });
  return rec!;
}

/**
 * Records a dataset import (once per path + options) in project.json, with the full record in
 * datasets/<id>/import.json.
 */
export function addDataset(
  dir: string,
  d: { path: string; format?: string; name?: string; options?: JsonObject; stats?: JsonObject | null },
): ProjectDataset {
  const abs = path.resolve(d.path);
  const options = d.options ?? {};
  let rec: ProjectDataset | undefined;
  updateProject(dir, (p) => {
    rec = p.datasets.find((x) => x.path === abs && JSON.stringify(x.options) === JSON.stringify(options));
    if (rec) {
      if (d.stats !== undefined) rec.stats = d.stats;
      if (d.format) rec.format = d.format;
    } else {
      rec = { id: shortId('data'), path: abs, name: d.name ?? path.basename(abs), format: d.format ?? 'auto', addedAt: now(), options, stats: d.stats ?? null };
      p.datasets.push(rec);
    }
  });
  const recordDir = path.join(projectPaths(dir).datasets, rec!.id);
  fs.mkdirSync(recordDir, { recursive: true });
  writeJsonAtomic(path.join(recordDir, 'import.json'), rec);
  return rec!;
}

/** The projects directly inside a folder (default: the projects root), by name. */
export function listProjects(root = defaultProjectsRoot()): { dir: string; name: string }[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: { dir: string; name: string }[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const dir = path.join(root, e.name);
    if (!isProject(dir)) continue;
    try {
      out.push({ dir, name: openProject(dir).name });
    } catch {
      out.push({ dir, name: e.name });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
