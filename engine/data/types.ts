// Shared types of the data layer.

export type DatasetFormat = 'aclimdb' | 'csv' | 'jsonl' | 'txt' | 'parquet' | 'md';

export interface Progress {
  done: number;
  total?: number;
  /** 'detect' | 'read' | 'labels' | 'tokenize' | 'cache' … */
  phase: string;
}

export type ProgressFn = (p: Progress) => void;

/** One example as the trainer sees it. */
export interface Example {
  text: string;
  /** Class index into `labelNames` once labels are resolved. */
  label?: number | string;
  /** aclImdb: the star rating from the file name (1–10; 0 for unsup). */
  rating?: number;
}

/** An example straight from an importer: raw label, and where it came from (for reports). */
export interface RawExample {
  text: string;
  label?: string | number;
  rating?: number;
  /** `file:line` (or just `file`), used in skip reports. */
  where: string;
}

export type TxtMode = 'auto' | 'lines' | 'paragraphs' | 'document';

export interface ImportOptions {
  format?: 'auto' | DatasetFormat;
  textColumn?: string;
  labelColumn?: string;
  /** aclImdb: train | test | unsup; parquet folders: the file prefix (train, test, unsupervised). */
  split?: string;
  /** A text template with {field} placeholders for JSON records (recipes by default). */
  template?: string;
  onProgress?: ProgressFn;
  /** CSV/TSV: field delimiter (default: by extension, else sniffed). */
  delimiter?: string;
  /** CSV/TSV: quote character, or false for none (default '"' for CSV, none for TSV). */
  quote?: string | false;
  /** CSV/TSV: whether the first row is a header (default: detected). */
  header?: boolean;
  /** Plain text: one example per line, blank-line-separated documents (default: detected), or
   * the whole file as one document (causal-LM training's default). */
  txtMode?: TxtMode;
  /** The label names, in class-index order; values outside the list are reported and skipped. */
  labelNames?: string[];
}

export const MAX_SKIP_EXAMPLES = 10;

/** Rows that were left out, with counts and the first few reasons. Never a silent drop. */
export class SkipReport {
  count = 0;
  readonly examples: string[] = [];
  readonly byReason = new Map<string, number>();

  add(where: string, reason: string, kind: string = reason): void {
    this.count++;
    this.byReason.set(kind, (this.byReason.get(kind) ?? 0) + 1);
    if (this.examples.length < MAX_SKIP_EXAMPLES) this.examples.push(`${where}: ${reason}`);
  }

  toJSON(): { count: number; examples: string[]; reasons: Record<string, number> } {
    return { count: this.count, examples: [...this.examples], reasons: Object.fromEntries(this.byReason) };
  }
}

/** The skip report as every caller gets it (data inspect, the app, training, evaluation). */
export interface SkipSummary {
  /** The dataset path it is about. */
  file: string;
  count: number;
  /** The first few, as `file:line: reason`. */
  examples: string[];
  /** Count per kind of problem ("invalid JSON", "empty text", "symlink outside the dataset"…). */
  reasons: Record<string, number>;
}

/** What an importer shares with its caller while it streams. */
export interface ImportContext {
  skipped: SkipReport;
  onProgress?: ProgressFn;
  /** Label names an importer knows from the data itself (aclImdb folders, parquet ClassLabel). */
  labelNames?: string[];
  /** Set by importers that read a label column / folder. */
  hasLabels?: boolean;
  /** Description of the detected layout, for `data inspect`. */
  notes: string[];
  /** How many rows (lines, paragraphs, files…) were judged, kept or skipped, when an importer
   * yields fewer examples than that (plain text as one document). */
  units?: number;
}

export function newContext(onProgress?: ProgressFn): ImportContext {
  return { skipped: new SkipReport(), onProgress, notes: [] };
}
