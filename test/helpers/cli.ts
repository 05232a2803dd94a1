// Runs `lora-studio …` as a user would (a child process) and keeps its exit code and output.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

export const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'lora-studio.mjs');

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(...args: string[]): Promise<CliOutcome> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as CliOutcome;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
