// What the charts share: the series shape, one colour per run (the same in every chart, table and
// swatch), and TensorBoard's smoothing.

export interface Series {
  label: string;
  points: { x: number; y: number }[];
  /** The series' colour (runColor(runId) for a run); default: the palette by position. */
  color?: string;
}

/**
 * Run colours. No greens: green means "completed" in this app (app.css --ok), so a cancelled or
 * failed run must never be drawn in it. Distinct in hue and lightness, readable on both themes.
 */
export const PALETTE = ['#3b6fd8', '#d8573b', '#9b59b6', '#c9a227', '#e0609a', '#6c757d', '#8c564b', '#17a2d8', '#e68a00', '#5a3fc0'] as const;

const assigned = new Map<string, string>();

/** The colour of a run (by id): the next free palette colour the first time, the same one after. */
export function runColor(id: string): string {
  let c = assigned.get(id);
  if (!c) {
    c = PALETTE[assigned.size % PALETTE.length];
    assigned.set(id, c);
  }
  return c;
}

/** `#rrggbb` with an alpha (0..1), for the faint raw line under a smoothed one. */
export function withAlpha(hex: string, alpha: number): string {
  const a = Math.round(Math.max(0, Math.min(1, alpha)) * 255).toString(16).padStart(2, '0');
  return /^#[0-9a-f]{6}$/i.test(hex) ? `${hex}${a}` : hex;
}

/** Whether a colour reads as green (hue 75°–165°, not grey): the palette's check. */
export function isGreenish(hex: string): boolean {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return false;
  const [r, g, b] = m.slice(1).map((x) => parseInt(x, 16) / 255);
  const max = Math.max(r, g, b), min = Math.min(r, g, b);
  if (max - min < 0.15) return false;
  const d = max - min;
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  const hue = (h * 60 + 360) % 360;
  return hue >= 75 && hue <= 165;
}

/**
 * TensorBoard's smoothing: an exponential moving average with weight `w` (0 = off, < 1), debiased
 * so the first points are not pulled towards zero. Non-finite values pass through unsmoothed.
 */
export function ema(points: { x: number; y: number }[], w: number): { x: number; y: number }[] {
  if (!(w > 0)) return points;
  const weight = Math.min(w, 0.999);
  let last = 0;
  let n = 0;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return p;
    last = last * weight + (1 - weight) * p.y;
    n++;
    return { x: p.x, y: last / (1 - weight ** n) };
  });
}
