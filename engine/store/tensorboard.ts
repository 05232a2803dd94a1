// TensorBoard event files, written in pure TypeScript: TFRecord framing (length, masked CRC32C of
// the length, an Event protobuf, masked CRC32C of the data) around Event messages that hold
// scalar summaries. Readable by TensorBoard, tensorboardX, TF's summary_iterator, and
// tbparse; no TensorFlow or protobuf library involved.
//
//   message Event   { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; } }
//   message Summary { repeated Value value = 1; }
//   message Value   { string tag = 1; float simple_value = 2; SummaryMetadata metadata = 9; TensorProto tensor = 8; }
//
// and text summaries (TensorBoard's Text dashboard, as tf.summary.text writes them): a scalar
// DT_STRING tensor whose metadata names the "text" plugin —
//
//   message SummaryMetadata { PluginData plugin_data = 1; DataClass data_class = 4; }   (DATA_CLASS_TENSOR = 2)
//   message PluginData      { string plugin_name = 1; bytes content = 2; }
//   message TensorProto     { DataType dtype = 1; TensorShapeProto tensor_shape = 2; repeated bytes string_val = 8; }   (DT_STRING = 7)
//
// Records are appended with one write(2) call each: a process killed with SIGKILL cannot stop a
// write to a regular file halfway, so the file holds whole records. (A power cut can still cut the
// last record; every reader, ours included, stops at a truncated or corrupt tail.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdirp, writeFileAtomic } from './atomic.ts';
import { FileError, fsProblem } from '../util/files.ts';

// ---------- CRC32C (Castagnoli), as TFRecord uses it ----------

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 bits and add a constant. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: u64 length, u32 masked CRC of the length, data, u32 masked CRC of the data (little-endian). */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// ---------- a minimal protobuf encoder for Event ----------

class ProtoWriter {
  private parts: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.parts.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.parts.push(Number(x));
    return this;
  }

  /** Byte by byte: a spread (push(...b)) would overflow the stack on a long string. */
  private append(b: Uint8Array): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]!);
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  double(field: number, v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.tag(field, 1).append(b);
    return this;
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.tag(field, 5).append(b);
    return this;
  }

  int64(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length).append(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface Scalar {
  tag: string;
  value: number;
}

/** An Event with `file_version: "brain.Event:2"`: the first record of every event file. */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, 'brain.Event:2').finish();
}

/** A text for TensorBoard's Text dashboard (Markdown). */
export interface TextValue {
  tag: string;
  text: string;
}

const DT_STRING = 7;
const DATA_CLASS_TENSOR = 2;

/** A Summary.Value of the text plugin: a scalar string tensor, metadata plugin_name "text". */
function textValue(t: TextValue): Uint8Array {
  const pluginData = new ProtoWriter().string(1, 'text').finish();
  const metadata = new ProtoWriter().bytes(1, pluginData).int64(4, DATA_CLASS_TENSOR).finish();
  const tensor = new ProtoWriter().int64(1, DT_STRING).bytes(2, new Uint8Array(0)).string(8, t.text).finish();
  return new ProtoWriter().string(1, t.tag).bytes(9, metadata).bytes(8, tensor).finish();
}

/** An Event with a Summary of scalar (and text) values at a step. */
export function summaryEvent(wallTime: number, step: number, scalars: Scalar[], texts: TextValue[] = []): Uint8Array {
  const summary = new ProtoWriter();
  for (const s of scalars) {
    const value = new ProtoWriter().string(1, s.tag).float(2, s.value).finish();
    summary.bytes(1, value);
  }
  for (const t of texts) summary.bytes(1, textValue(t));
  return new ProtoWriter().double(1, wallTime).int64(2, step).bytes(5, summary.finish()).finish();
}

/** An Event with a Summary of scalar values at a step. */
export function scalarsEvent(wallTime: number, step: number, scalars: Scalar[]): Uint8Array {
  return summaryEvent(wallTime, step, scalars);
}

// ---------- the writer ----------

/** The scalar tags the studio writes (Hugging Face Trainer's names, so dashboards line up). */
export const TB_TAGS = {
  loss: 'train/loss',
  evalLoss: 'eval/loss',
  lr: 'train/learning_rate',
  gradNorm: 'train/grad_norm',
  tokensPerS: 'train/tokens_per_s',
  /** Text: a generation sample during training (RunConfig.sample). */
  sample: 'train/sample',
} as const;

/** `events.out.tfevents.<unix seconds>.<host>`, as TensorFlow names them. */
export function eventFileName(wallTimeS: number, host = os.hostname()): string {
  const safeHost = host.replace(/[^A-Za-z0-9._-]/g, '_') || 'localhost';
  return `events.out.tfevents.${Math.floor(wallTimeS)}.${safeHost}`;
}

export const isEventFileName = (name: string): boolean => name.startsWith('events.out.tfevents.');

export interface ScalarPoint {
  step: number;
  wallTime: number;
  scalars: Scalar[];
  texts?: TextValue[];
}

/**
 * Appends scalar events to one event file in `dir`. `create` starts a new file whose first
 * records are `history` (written atomically, so a crash leaves the file complete or absent).
 */
export class EventFileWriter {
  readonly file: string;
  private fd: number | undefined;

  private constructor(file: string) {
    this.file = file;
    try {
      this.fd = fs.openSync(file, 'a');
    } catch (err) {
      throw new FileError(file, fsProblem(err, 'open the event file for appending'), (err as NodeJS.ErrnoException).code);
    }
  }

  static create(dir: string, history: ScalarPoint[] = [], now = Date.now() / 1000): EventFileWriter {
    mkdirp(dir);
    const file = path.join(dir, eventFileName(now));
    const records = [tfRecord(fileVersionEvent(now)), ...history.map((p) => tfRecord(summaryEvent(p.wallTime, p.step, p.scalars, p.texts)))];
    writeFileAtomic(file, records);
    return new EventFileWriter(file);
  }

  /** Opens an existing file for appending. */
  static append(file: string): EventFileWriter {
    return new EventFileWriter(file);
  }

  scalars(step: number, scalars: Scalar[], wallTime = Date.now() / 1000): void {
    const finite = scalars.filter((s) => Number.isFinite(s.value));
    if (finite.length === 0) return;
    this.write(tfRecord(scalarsEvent(wallTime, step, finite)));
  }

  /** Text summaries at a step (TensorBoard's Text dashboard). */
  texts(step: number, texts: TextValue[], wallTime = Date.now() / 1000): void {
    if (texts.length > 0) this.write(tfRecord(summaryEvent(wallTime, step, [], texts)));
  }

  private write(rec: Uint8Array): void {
    if (this.fd === undefined) return;
    // One write call per record (a short write, which regular files do not do, would loop).
    let off = 0;
    try {
      while (off < rec.length) off += fs.writeSync(this.fd, rec, off, rec.length - off);
    } catch (err) {
      throw new FileError(this.file, fsProblem(err, 'write'), (err as NodeJS.ErrnoException).code);
    }
  }

  /** Flushes to disk (fsync). */
  flush(): void {
    if (this.fd !== undefined) fs.fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    try { fs.fsyncSync(this.fd); } catch { /* best effort */ }
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
