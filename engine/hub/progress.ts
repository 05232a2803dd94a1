// Download progress as events (the app's Models view and any other listener) and as one line on
// a terminal. Speed is measured over the last few seconds of transfer; ETA = what is left / speed.

export interface PullFile {
  file: string;
  size: number;
  /** The blob name: the sha256 for LFS files, the git blob sha1 otherwise. */
  etag: string;
  lfs: boolean;
}

export type PullEvent =
  | { type: 'resolved'; repo: string; revision: string; commit: string; files: PullFile[]; totalBytes: number; cachedBytes: number }
  | { type: 'file-start'; file: string; size: number; resumeFrom: number }
  | { type: 'progress'; file: string; fileBytes: number; fileSize: number; bytes: number; totalBytes: number; bytesPerSecond: number; etaSeconds: number | null }
  | { type: 'file-done'; file: string; size: number; cached: boolean; placed: 'symlink' | 'copy' }
  | { type: 'retry'; file: string; attempt: number; reason: string }
  | { type: 'done'; repo: string; revision: string; commit: string; dir: string; downloadedBytes: number };

export type PullListener = (e: PullEvent) => void;

/** Bytes per second over a sliding window of samples. */
export class SpeedMeter {
  private samples: { t: number; bytes: number }[] = [];
  constructor(private windowMs = 5000, private now: () => number = () => performance.now()) {}

  /** Records the running total of transferred bytes. */
  add(total: number): void {
    const t = this.now();
    this.samples.push({ t, bytes: total });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift();
  }

  bytesPerSecond(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0]!;
    const b = this.samples[this.samples.length - 1]!;
    const dt = (b.t - a.t) / 1000;
    return dt > 0 ? (b.bytes - a.bytes) / dt : 0;
  }
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let x = n;
  let i = -1;
  while (x >= 1000 && i < units.length - 1) { x /= 1000; i++; }
  return `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The terminal line of a progress event: `file  12.3 MB / 500 MB (2%)  3.20 MB/s  ETA 2m31s`. */
export function progressLine(e: Extract<PullEvent, { type: 'progress' }>): string {
  const pct = e.totalBytes > 0 ? ` (${Math.floor((100 * e.bytes) / e.totalBytes)}%)` : '';
  const speed = e.bytesPerSecond > 0 ? `  ${formatBytes(Math.round(e.bytesPerSecond))}/s` : '';
  const eta = e.etaSeconds !== null ? `  ETA ${formatDuration(e.etaSeconds)}` : '';
  return `${e.file}  ${formatBytes(e.bytes)} / ${formatBytes(e.totalBytes)}${pct}${speed}${eta}`;
}
