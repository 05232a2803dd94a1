import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  EventFileWriter, TB_TAGS, crc32c, eventFileName, fileVersionEvent, maskedCrc32c, scalarsEvent, tfRecord,
} from '../../engine/store/tensorboard.ts';
import { crc32cBitwise, mask, readEventFile, scalarsByTag } from './tb-reader.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-tb-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('CRC32C and TFRecord framing', () => {
  it('matches the CRC32C check value and the RFC 3720 (iSCSI) test vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('agrees with an independent bitwise CRC32C on random data', () => {
    let seed = 7;
    for (let n = 0; n < 300; n += 7) {
      const b = Uint8Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
      expect(crc32c(b)).toBe(crc32cBitwise(b));
      expect(maskedCrc32c(b)).toBe(mask(crc32cBitwise(b)));
    }
  });

  it('frames the first event as every TensorFlow event file starts (length 24, masked CRC a37f4b22)', () => {
    // Real event files begin with the bytes 18 00 00 00 00 00 00 00 a3 7f 4b 22: a 24-byte
    // Event{wall_time, file_version: "brain.Event:2"} and the masked CRC32C of its length.
    const rec = tfRecord(fileVersionEvent(1_600_000_000.5));
    expect(hex(rec.subarray(0, 12))).toBe('1800000000000000a37f4b22');
    expect(rec.length).toBe(12 + 24 + 4);
    expect(new TextDecoder().decode(rec.subarray(12 + 11, 12 + 24))).toBe('brain.Event:2');
    expect(hex(rec)).toBe('1800000000000000a37f4b22090000200084d7d7411a0d627261696e2e4576656e743a32e202d05d');
  });

  it('encodes a scalar Event byte for byte', () => {
    // Event{wall_time: 1.5, step: 300, summary{value{tag: "a", simple_value: 0.5}}}
    expect(hex(scalarsEvent(1.5, 300, [{ tag: 'a', value: 0.5 }]))).toBe(
      '09' + '000000000000f83f' + '10' + 'ac02' + '2a' + '0a' + '0a' + '08' + '0a' + '01' + '61' + '15' + '0000003f',
    );
  });
});

describe('EventFileWriter', () => {
  it('writes a file TensorBoard reads: named events.out.tfevents.<secs>.<host>, scalars per step', () => {
    const dir = path.join(tmp, 'run1');
    const w = EventFileWriter.create(dir, [], 1_700_000_123.7);
    expect(path.basename(w.file)).toBe(`events.out.tfevents.1700000123.${os.hostname().replace(/[^A-Za-z0-9._-]/g, '_')}`);
    for (let step = 1; step <= 5; step++) {
      w.scalars(step, [
        { tag: TB_TAGS.loss, value: 5 - step * 0.5 },
        { tag: TB_TAGS.lr, value: 1e-3 },
        { tag: TB_TAGS.gradNorm, value: step },
        { tag: TB_TAGS.tokensPerS, value: 1000 + step },
        { tag: 'skipped/nan', value: NaN },
      ], 1_700_000_200 + step);
    }
    w.scalars(5, [{ tag: TB_TAGS.evalLoss, value: 2.25 }]);
    w.close();
    const { events, truncatedTail } = readEventFile(w.file);
    expect(truncatedTail).toBe(false);
    expect(events[0]!.fileVersion).toBe('brain.Event:2');
    expect(events[0]!.wallTime).toBeCloseTo(1_700_000_123.7, 3);
    expect(events).toHaveLength(7);
    expect(events[3]!.step).toBe(3);
    expect(events[3]!.wallTime).toBe(1_700_000_203);
    const by = scalarsByTag(events);
    expect([...by.keys()].sort()).toEqual(['eval/loss', 'train/grad_norm', 'train/learning_rate', 'train/loss', 'train/tokens_per_s']);
    expect(by.get('train/loss')).toEqual([[1, 4.5], [2, 4], [3, 3.5], [4, 3], [5, 2.5]]);
    expect(by.get('train/learning_rate')![0]![1]).toBeCloseTo(1e-3, 9);
    expect(by.get('eval/loss')).toEqual([[5, 2.25]]);
  });

  it('starts a new file with a history, and the reader stops at a torn tail', () => {
    const dir = path.join(tmp, 'run2');
    const w = EventFileWriter.create(dir, [{ step: 1, wallTime: 10, scalars: [{ tag: 'x', value: 1 }] }, { step: 2, wallTime: 11, scalars: [{ tag: 'x', value: 2 }] }], 1_700_000_000);
    w.scalars(3, [{ tag: 'x', value: 3 }], 12);
    w.close();
    expect(scalarsByTag(readEventFile(w.file).events).get('x')).toEqual([[1, 1], [2, 2], [3, 3]]);
    // Cut the last record in half (what only a power cut can do): whole records still read.
    const size = fs.statSync(w.file).size;
    fs.truncateSync(w.file, size - 5);
    const r = readEventFile(w.file);
    expect(r.truncatedTail).toBe(true);
    expect(scalarsByTag(r.events).get('x')).toEqual([[1, 1], [2, 2]]);
    // A flipped byte inside a record fails its CRC.
    const bytes = fs.readFileSync(w.file);
    bytes[bytes.length - 30] ^= 0xff;
    fs.writeFileSync(w.file, bytes);
    expect(() => readEventFile(w.file)).toThrow(/bad (data|length) CRC/);
  });

  it('sanitizes host names', () => {
    expect(eventFileName(12.9, 'my host/α')).toBe('events.out.tfevents.12.my_host__');
  });
});
