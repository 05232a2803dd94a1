// Errors raised by the data layer. Every message names the file (and, where it applies, the
// line and column) so that a user can open the file and fix it. Messages are kept on one line
// (a control character quoted from the input shows as an escape).

import { oneLine } from '../util/files.ts';

/** A dataset or tokenizer problem the user can fix (missing file, wrong layout, bad option). */
export class DataError extends Error {
  override readonly name: string = 'DataError';
  readonly file: string | undefined;
  constructor(message: string, file?: string) {
    super(oneLine(message));
    this.file = file;
  }
}

/** A malformed input file: the message reads `FILE:LINE:COLUMN: what is wrong`. */
export class FormatError extends DataError {
  override readonly name: string = 'FormatError';
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(file: string, problem: string, line?: number, column?: number) {
    super(`${formatLocation(file, line, column)}: ${problem}`, file);
    this.line = line;
    this.column = column;
  }
}

export function formatLocation(file: string, line?: number, column?: number): string {
  let s = file;
  if (line !== undefined) {
    s += `:${line}`;
    if (column !== undefined) s += `:${column}`;
  }
  return s;
}
