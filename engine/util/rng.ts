// Seeded random numbers with a state that fits in a checkpoint (one 32-bit word per stream).

export class Rng {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  /** A stream derived from a seed and a purpose (so shuffling and dropout never share draws). */
  static derive(seed: number, ...salt: number[]): Rng {
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (const s of salt) h = Math.imul(h ^ (s >>> 0), 0x85ebca6b) ^ (h >>> 13);
    return new Rng(h);
  }

  /** mulberry32: uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }

  /** Inverted-dropout mask: 0 with probability p, else 1/(1-p). */
  dropoutMask(n: number, p: number, out = new Float32Array(n)): Float32Array {
    const keep = 1 / (1 - p);
    for (let i = 0; i < n; i++) out[i] = this.next() < p ? 0 : keep;
    return out;
  }
}
