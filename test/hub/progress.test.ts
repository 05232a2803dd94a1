// Progress arithmetic and the terminal line: speed over a sliding window, ETA, sizes.
import { describe, expect, it } from 'vitest';
import { SpeedMeter, formatBytes, formatDuration, progressLine } from '../../engine/hub/progress.ts';

describe('download progress', () => {
  it('speed is measured over the last window only', () => {
    let t = 0;
    const m = new SpeedMeter(5000, () => t);
    expect(m.bytesPerSecond()).toBe(0);
    for (; t <= 10_000; t += 1000) m.add(t < 5000 ? t * 10 : 50_000 + (t - 5000) * 1000); // 10 kB/s, then 1 MB/s
    expect(m.bytesPerSecond()).toBeCloseTo(1_000_000, -3);
  });

  it('sizes, durations and the line', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1_234_567)).toBe('1.23 MB');
    expect(formatBytes(14_500_000_000)).toBe('14.5 GB');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(151)).toBe('2m31s');
    expect(formatDuration(7322)).toBe('2h02m');
    expect(progressLine({ type: 'progress', file: 'model.safetensors', fileBytes: 1, fileSize: 2, bytes: 12_300_000, totalBytes: 500_000_000, bytesPerSecond: 3_200_000, etaSeconds: 152 }))
      .toBe('model.safetensors  12.3 MB / 500 MB (2%)  3.20 MB/s  ETA 2m32s');
    expect(progressLine({ type: 'progress', file: 'a', fileBytes: 0, fileSize: 0, bytes: 0, totalBytes: 10, bytesPerSecond: 0, etaSeconds: null })).toBe('a  0 B / 10 B (0%)');
  });
});
