import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findInvalidUtf8, linesOf, TextFileReader } from '../../engine/data/text-stream.ts';
import { jsonSyntaxErrorOffset } from '../../engine/data/json-position.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lora-studio-text-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function readAll(path: string, chunkSize: number): Promise<{ lines: [number, string][]; reader: TextFileReader }> {
  const reader = new TextFileReader(path, { chunkSize });
  const lines: [number, string][] = [];
  for await (const batch of linesOf(reader.chunks())) for (const l of batch) lines.push([l.line, l.text]);
  return { lines, reader };
}

describe('TextFileReader', () => {
  const content = Buffer.concat([
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('héllo\r\nwörld 😀\r\n'),
    Buffer.from('bad '),
    Buffer.from([0xff]),
    Buffer.from(' byte\nlast line without newline'),
  ]);
  const path = join(tmp, 'mixed.txt');
  writeFileSync(path, content);

  it.each([1, 2, 3, 5, 7, 1 << 20])('chunk size %i: same lines, BOM dropped, CRLF handled, bad byte located', async (chunkSize) => {
    const { lines, reader } = await readAll(path, chunkSize);
    expect(lines).toEqual([
      [1, 'héllo'],
      [2, 'wörld 😀'],
      [3, 'bad \ufffd byte'],
      [4, 'last line without newline'],
    ]);
    expect(reader.bad).toEqual([{ line: 3, column: 5, byte: 0xff }]);
    expect([...reader.badLines]).toEqual([3]);
    expect(reader.bytesRead).toBe(content.length);
  });

  it('findInvalidUtf8 finds overlongs, surrogates, stray continuations and truncated sequences', () => {
    expect(findInvalidUtf8(Buffer.from('ok ✓ 😀'))).toEqual([]);
    expect(findInvalidUtf8(Uint8Array.from([0x41, 0xc0, 0xaf]))).toEqual([1, 2]);
    expect(findInvalidUtf8(Uint8Array.from([0xed, 0xa0, 0x80]))).toEqual([0]);
    expect(findInvalidUtf8(Uint8Array.from([0x80, 0x41]))).toEqual([0]);
    expect(findInvalidUtf8(Uint8Array.from([0x41, 0xe2, 0x9c]))).toEqual([1]);
  });
});

describe('jsonSyntaxErrorOffset', () => {
  it('points at the first bad character, or the end', () => {
    expect(jsonSyntaxErrorOffset('{"a": 1}')).toBe(-1);
    expect(jsonSyntaxErrorOffset('{"a": }')).toBe(6);
    expect(jsonSyntaxErrorOffset('[1,2,]')).toBe(5);
    expect(jsonSyntaxErrorOffset('{"a": 1')).toBe(7);
    expect(jsonSyntaxErrorOffset('{"a": tru}')).toBe(9);
    expect(jsonSyntaxErrorOffset('{"a": "x\\q"}')).toBe(9);
    expect(jsonSyntaxErrorOffset('{"a": 1} x')).toBe(9);
    expect(jsonSyntaxErrorOffset('')).toBe(0);
  });
});
