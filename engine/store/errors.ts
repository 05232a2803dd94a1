// The one error type of every parser in the project: the message always names the file (or
// buffer label) and the problem, so a user can act on it without a stack trace. The message is
// kept on one line (a control character quoted from a file shows as an escape).
import { oneLine } from '../util/files.ts';

export class FormatError extends Error {
  readonly file: string;
  readonly problem: string;

  constructor(file: string, problem: string) {
    super(oneLine(`${file}: ${problem}`));
    this.name = 'FormatError';
    this.file = file;
    this.problem = problem;
  }
}
