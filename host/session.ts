// What a studio session reports about itself, and where its results go when no project is open.
// (Light on purpose: the desktop app's main process imports it.)
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const STUDIO_VERSION = '0.1.0';

/** The runs folder of the open project, else the session's output folder in the OS temp folder. */
export function defaultRunsRoot(project: string | null): string {
  return project ? join(project, 'runs') : join(tmpdir(), 'lora-studio', 'runs');
}
