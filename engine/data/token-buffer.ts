// The growable ids-plus-offsets buffer that tokenization (in-process and in workers) fills.

/** Cut `ids` to `maxLength`, keeping the closing special token `keep` ([SEP]) when it ends them. */
export function truncateIds(ids: number[], maxLength: number | undefined, keep: number | null): number[] {
  if (maxLength === undefined || ids.length <= maxLength) return ids;
  const last = ids[ids.length - 1];
  if (keep !== null && last === keep && maxLength > 1) return [...ids.slice(0, maxLength - 1), last];
  return ids.slice(0, maxLength);
}

/** Examples' ids, back to back, with offsets[i]..offsets[i+1] for example i. */
export class TokenBuffer {
  readonly offsets: Int32Array<ArrayBuffer>;
  private tokens: Int32Array<ArrayBuffer>;
  private p = 0;
  private n = 0;

  constructor(examples: number) {
    this.offsets = new Int32Array(examples + 1);
    this.tokens = new Int32Array(Math.max(1024, examples * 64));
  }

  /** Appends the next example's ids. */
  push(ids: readonly number[]): void {
    if (this.p + ids.length > this.tokens.length) {
      const bigger = new Int32Array(Math.max(this.tokens.length * 2, this.p + ids.length));
      bigger.set(this.tokens.subarray(0, this.p));
      this.tokens = bigger;
    }
    for (let k = 0; k < ids.length; k++) this.tokens[this.p++] = ids[k]!;
    this.offsets[++this.n] = this.p;
  }

  /** The filled tokens, as a copy that owns its buffer (transferable). */
  filled(): Int32Array<ArrayBuffer> {
    return this.tokens.slice(0, this.p);
  }
}
