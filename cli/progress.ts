// Progress on the terminal: a bar as text, and one redrawn in place (a line per update, throttled,
// when the output is not a terminal).

export function progressBar(f: number, width = 24): string {
  const n = Math.max(0, Math.min(width, Math.round(f * width)));
  return `[${'█'.repeat(n)}${'░'.repeat(width - n)}] ${String(Math.round(100 * f)).padStart(3)}%`;
}

export class Bar {
  private last = -1;
  private readonly tty: boolean;
  constructor(private readonly label: string, private readonly log: (m: string) => void) {
    this.tty = Boolean(process.stdout.isTTY) && log === console.log;
  }

  update(done: number, total: number, extra = ''): void {
    const f = total > 0 ? done / total : 1;
    const line = `  ${this.label.padEnd(14)} ${progressBar(f)} ${done}/${total} ${extra}`;
    if (this.tty) process.stdout.write(`\r${line.padEnd(100)}`);
    else if (done === total || Math.floor(f * 4) > this.last) this.log(line);
    this.last = Math.floor(f * 4);
    if (this.tty && done === total) process.stdout.write('\n');
  }
}

/** One bar per label, made on first use. */
export function bars(log: (m: string) => void): (label: string, done: number, total: number, extra: string) => void {
  const all = new Map<string, Bar>();
  return (label, done, total, extra) => {
    if (!all.has(label)) all.set(label, new Bar(label, log));
    all.get(label)!.update(done, total, extra);
  };
}
