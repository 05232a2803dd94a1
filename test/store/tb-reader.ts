// An independent reader of TensorBoard event files for the tests: its own CRC32C (bitwise, no
// table), its own TFRecord framing and a generic protobuf decoder. It shares no code with
// engine/store/tensorboard.ts.
import fs from 'node:fs';

export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = ~0 >>> 0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0x82f63b78 & -(crc & 1));
    crc >>>= 0;
  }
  return ~crc >>> 0;
}

export function mask(crc: number): number {
  const rotated = ((crc >>> 15) | (crc << 17)) >>> 0;
  return (rotated + 0xa282ead8) % 2 ** 32;
}

export interface ReadEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  values: { tag: string; simpleValue: number }[];
  /** Text summaries (a string tensor whose metadata names the "text" plugin); absent when none. */
  texts?: { tag: string; text: string; plugin: string; dtype: number; dataClass: number }[];
}

/** Fields of one protobuf message: field number -> list of raw values. */
function decode(buf: Uint8Array): Map<number, (number | bigint | Uint8Array)[]> {
  const out = new Map<number, (number | bigint | Uint8Array)[]>();
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let i = 0;
  const varint = (): bigint => {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      x |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return x;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    let v: number | bigint | Uint8Array;
    if (wire === 0) v = varint();
    else if (wire === 1) { v = dv.getFloat64(i, true); i += 8; }
    else if (wire === 5) { v = dv.getFloat32(i, true); i += 4; }
    else if (wire === 2) { const len = Number(varint()); v = buf.subarray(i, i + len); i += len; }
    else throw new Error(`wire type ${wire}`);
    if (i > buf.length) throw new Error('truncated field');
    out.set(field, [...(out.get(field) ?? []), v]);
  }
  return out;
}

/** Reads every record; throws on a bad CRC; stops at a truncated tail (as TensorBoard does) and reports it. */
export function readEventFile(file: string): { events: ReadEvent[]; truncatedTail: boolean } {
  const buf = new Uint8Array(fs.readFileSync(file));
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const events: ReadEvent[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 12 > buf.length) return { events, truncatedTail: true };
    const len = Number(dv.getBigUint64(off, true));
    if (mask(crc32cBitwise(buf.subarray(off, off + 8))) !== dv.getUint32(off + 8, true)) throw new Error(`bad length CRC at ${off}`);
    if (off + 12 + len + 4 > buf.length) return { events, truncatedTail: true };
    const data = buf.subarray(off + 12, off + 12 + len);
    if (mask(crc32cBitwise(data)) !== dv.getUint32(off + 12 + len, true)) throw new Error(`bad data CRC at ${off}`);
    off += 12 + len + 4;
    const f = decode(data);
    const ev: ReadEvent = { wallTime: (f.get(1)?.[0] as number) ?? 0, step: Number(f.get(2)?.[0] ?? 0), values: [] };
    const fv = f.get(3)?.[0];
    if (fv instanceof Uint8Array) ev.fileVersion = new TextDecoder().decode(fv);
    const summary = f.get(5)?.[0];
    if (summary instanceof Uint8Array) {
      for (const v of decode(summary).get(1) ?? []) {
        const vf = decode(v as Uint8Array);
        const tag = new TextDecoder().decode(vf.get(1)![0] as Uint8Array);
        const tensor = vf.get(8)?.[0];
        if (tensor instanceof Uint8Array) (ev.texts ??= []).push({ tag, ...textTensor(tensor, vf.get(9)?.[0]) });
        else ev.values.push({ tag, simpleValue: vf.get(2)![0] as number });
      }
    }
    events.push(ev);
  }
  return { events, truncatedTail: false };
}

/** A string tensor (TensorProto: dtype 1, string_val 8) and its SummaryMetadata (plugin_data 1 { plugin_name 1 }, data_class 4). */
function textTensor(tensor: Uint8Array, metadata: unknown): { text: string; plugin: string; dtype: number; dataClass: number } {
  const tf = decode(tensor);
  const md = metadata instanceof Uint8Array ? decode(metadata) : new Map();
  const pluginData = md.get(1)?.[0];
  const name = pluginData instanceof Uint8Array ? decode(pluginData).get(1)?.[0] : undefined;
  return {
    text: new TextDecoder().decode(tf.get(8)?.[0] as Uint8Array),
    plugin: name instanceof Uint8Array ? new TextDecoder().decode(name) : '',
    dtype: Number(tf.get(1)?.[0] ?? 0),
    dataClass: Number(md.get(4)?.[0] ?? 0),
  };
}

/** tag -> [step, value][] */
export function scalarsByTag(events: ReadEvent[]): Map<string, [number, number][]> {
  const m = new Map<string, [number, number][]>();
  for (const e of events) for (const v of e.values) m.set(v.tag, [...(m.get(v.tag) ?? []), [e.step, v.simpleValue]]);
  return m;
}
