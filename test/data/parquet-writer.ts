// A minimal parquet writer for tests (no dependency): PLAIN-encoded, uncompressed data pages,
// REQUIRED or OPTIONAL flat columns of strings (BYTE_ARRAY/UTF8), int64 or int32, optional
// key-value metadata (e.g. Hugging Face's `huggingface` features), several row groups.

type Col =
  | { name: string; type: 'string'; values: (string | null)[]; optional?: boolean }
  | { name: string; type: 'int64'; values: (number | null)[]; optional?: boolean }
  | { name: string; type: 'int32'; values: (number | null)[]; optional?: boolean };

class Compact {
  bytes: number[] = [];
  private last: number[] = [0];
  varint(n: number | bigint): void {
    let v = BigInt(n);
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }
  zigzag(n: number | bigint): void {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  field(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1]!;
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number | bigint): void {
    this.field(id, 6);
    this.zigzag(v);
  }
  str(id: number, s: string): void {
    this.field(id, 8);
    this.binary(s);
  }
  binary(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.varint(b.length);
    for (const x of b) this.bytes.push(x);
  }
  listHeader(id: number, elemType: number, size: number): void {
    this.field(id, 9);
    if (size < 15) this.bytes.push((size << 4) | elemType);
    else {
      this.bytes.push(0xf0 | elemType);
      this.varint(size);
    }
  }
  beginStruct(id?: number): void {
    if (id !== undefined) this.field(id, 12);
    this.last.push(0);
  }
  endStruct(): void {
    this.bytes.push(0);
    this.last.pop();
  }
}

const TYPE = { int32: 1, int64: 2, string: 6 } as const;

function plainValues(col: Col, from: number, to: number): { data: Buffer; defs: number[] | null; count: number } {
  const parts: Buffer[] = [];
  const defs: number[] = [];
  for (let i = from; i < to; i++) {
    const v = col.values[i];
    if (v === null || v === undefined) {
      if (!col.optional) throw new Error(`null in required column ${col.name}`);
      defs.push(0);
      continue;
    }
    defs.push(1);
    if (col.type === 'string') {
      const b = Buffer.from(v as string, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      parts.push(len, b);
    } else if (col.type === 'int64') {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v as number));
      parts.push(b);
    } else {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v as number);
      parts.push(b);
    }
  }
  return { data: Buffer.concat(parts), defs: col.optional ? defs : null, count: to - from };
}

function rleDefs(defs: number[]): Buffer {
  const out: number[] = [];
  let i = 0;
  while (i < defs.length) {
    let j = i;
    while (j < defs.length && defs[j] === defs[i]) j++;
    let run = (j - i) << 1;
    while (run >= 0x80) {
      out.push((run & 0x7f) | 0x80);
      run >>>= 7;
    }
    out.push(run);
    out.push(defs[i]!);
    i = j;
  }
  const body = Buffer.from(out);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
}

export function writeParquet(cols: Col[], opts: { rowGroupSize?: number; kv?: Record<string, string> } = {}): Buffer {
  const n = cols[0]!.values.length;
  const groupSize = opts.rowGroupSize ?? n;
  const chunks: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const groups: { cols: { offset: number; size: number; numValues: number }[]; rows: number; bytes: number }[] = [];
  for (let start = 0; start < n; start += groupSize) {
    const end = Math.min(n, start + groupSize);
    const g = { cols: [] as { offset: number; size: number; numValues: number }[], rows: end - start, bytes: 0 };
    for (const col of cols) {
      const { data, defs, count } = plainValues(col, start, end);
      const page = defs ? Buffer.concat([rleDefs(defs), data]) : data;
      const h = new Compact();
      h.beginStruct();
      h.i32(1, 0); // DATA_PAGE
      h.i32(2, page.length);
      h.i32(3, page.length);
      h.beginStruct(5);
      h.i32(1, count);
      h.i32(2, 0); // PLAIN
      h.i32(3, 3); // RLE
      h.i32(4, 3);
      h.endStruct();
      h.endStruct();
      const header = Buffer.from(h.bytes);
      const size = header.length + page.length;
      g.cols.push({ offset, size, numValues: count });
      g.bytes += size;
      chunks.push(header, page);
      offset += size;
    }
    groups.push(g);
  }
  const m = new Compact();
  m.beginStruct();
  m.i32(1, 1);
  m.listHeader(2, 12, cols.length + 1);
  m.beginStruct();
  m.str(4, 'schema');
  m.i32(5, cols.length);
  m.endStruct();
  for (const col of cols) {
    m.beginStruct();
    m.i32(1, TYPE[col.type]);
    m.i32(3, col.optional ? 1 : 0);
    m.str(4, col.name);
    if (col.type === 'string') m.i32(6, 0); // UTF8
    m.endStruct();
  }
  m.i64(3, n);
  m.listHeader(4, 12, groups.length);
  for (const g of groups) {
    m.beginStruct();
    m.listHeader(1, 12, cols.length);
    cols.forEach((col, k) => {
      const c = g.cols[k]!;
      m.beginStruct();
      m.i64(2, c.offset);
      m.beginStruct(3);
      m.i32(1, TYPE[col.type]);
      m.listHeader(2, 5, 1);
      m.zigzag(0);
      m.listHeader(3, 8, 1);
      m.binary(col.name);
      m.i32(4, 0); // UNCOMPRESSED
      m.i64(5, c.numValues);
      m.i64(6, c.size);
      m.i64(7, c.size);
      m.i64(9, c.offset);
      m.endStruct();
      m.endStruct();
    });
    m.i64(2, g.bytes);
    m.i64(3, g.rows);
    m.endStruct();
  }
  const kv = Object.entries(opts.kv ?? {});
  if (kv.length) {
    m.listHeader(5, 12, kv.length);
    for (const [k, v] of kv) {
      m.beginStruct();
      m.str(1, k);
      m.str(2, v);
      m.endStruct();
    }
  }
  m.str(6, 'lora-studio test writer');
  m.endStruct();
  const meta = Buffer.from(m.bytes);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(meta.length);
  chunks.push(meta, len, Buffer.from('PAR1'));
  return Buffer.concat(chunks);
}
