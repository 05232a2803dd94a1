// A minimal protobuf writer for ONNX ModelProto. We only ever *write* models, and models carry
// hundreds of MB of weights, so messages are kept as lists of chunks and the large raw tensor
// bytes are copied exactly once, into the final buffer.

type Chunk = Uint8Array;

export class Msg {
  readonly chunks: Chunk[] = [];
  length = 0;
  private scratch: number[] = [];

  private flush(): void {
    if (this.scratch.length === 0) return;
    const c = Uint8Array.from(this.scratch);
    this.scratch = [];
    this.chunks.push(c);
  }

  private byte(b: number): void {
    this.scratch.push(b);
    this.length += 1;
  }

  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    if (x < 0x80n) return this.byte(Number(x));
    while (x >= 0x80n) {
      this.byte(Number((x & 0x7fn) | 0x80n));
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.byte(x);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    this.flush();
    if (data.length > 0) this.chunks.push(data);
    this.length += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  msg(field: number, m: Msg): this {
    m.flush();
    this.tag(field, 2);
    this.varint(m.length);
    this.flush();
    for (const c of m.chunks) this.chunks.push(c); // no spread: graphs have millions of chunks
    this.length += m.length;
    return this;
  }

  toBytes(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// ONNX TensorProto.DataType
export const OnnxDataType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  bfloat16: 16,
} as const;
