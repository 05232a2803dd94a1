// Draws electron/resources/icon.png (1024×1024): LoRA's picture — a frozen weight matrix W and the
// low-rank update B·A beside it. Run with `node electron/resources/make-icon.mjs` to redraw.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const N = 1024, SS = 3;
const px = new Uint8Array(N * N * 4);
const mix = (a, b, t) => a + (b - a) * t;
const roundRect = (x, y, x0, y0, x1, y1, r) => {
  const cx = Math.min(Math.max(x, x0 + r), x1 - r), cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};
function shade(x, y) {
  if (!roundRect(x, y, 40, 40, 984, 984, 200)) return null;
  const t = (x + y) / (2 * N);
  let c = [mix(47, 120, t), mix(95, 70, t), mix(196, 200, t)];
  const white = [255, 255, 255];
  // W: a large square, frozen (translucent).
  if (roundRect(x, y, 170, 250, 600, 680, 36)) c = c.map((v, i) => mix(v, white[i], 0.28));
  // B (out × r): tall and thin; A (r × in): short and wide — bright.
  if (roundRect(x, y, 680, 250, 760, 680, 24)) c = white;
  if (roundRect(x, y, 170, 760, 600, 840, 24)) c = white;
  // The "+" between W and B·A.
  if ((Math.abs(x - 640) < 7 && Math.abs(y - 465) < 26) || (Math.abs(y - 465) < 7 && Math.abs(x - 640) < 26)) c = white;
  return c;
}
for (let y = 0; y < N; y++) {
  for (let x = 0; x < N; x++) {
    let r = 0, g = 0, b = 0, a = 0;
    for (let sy = 0; sy < SS; sy++) for (let sx = 0; sx < SS; sx++) {
      const c = shade(x + (sx + 0.5) / SS, y + (sy + 0.5) / SS);
      if (c) { r += c[0]; g += c[1]; b += c[2]; a++; }
    }
    const o = (y * N + x) * 4;
    if (a) { px[o] = r / a; px[o + 1] = g / a; px[o + 2] = b / a; }
    px[o + 3] = (255 * a) / (SS * SS);
  }
}
const crcTable = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 255] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
const chunk = (type, data) => {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
  return Buffer.concat([len, td, c]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(N, 0); ihdr.writeUInt32BE(N, 4); ihdr[8] = 8; ihdr[9] = 6;
const raw = Buffer.alloc(N * (N * 4 + 1));
for (let y = 0; y < N; y++) Buffer.from(px.buffer, y * N * 4, N * 4).copy(raw, y * (N * 4 + 1) + 1);
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
writeFileSync(new URL('./icon.png', import.meta.url), png);
console.log(`icon.png: ${png.length} bytes`);
