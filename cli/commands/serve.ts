// `lora-studio serve [--port N] [--project DIR]`: flags -> the web bridge (host/serve.ts) -> the URL
// as the first stdout line (the token in its fragment). Ctrl+C stops it.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createProject, defaultProjectDir } from '../../engine/store/project.ts';
import { type RunningServer, ensureRendererBuilt, runEngineChild, startServer } from '../../host/serve.ts';

const HELP = `Usage: lora-studio serve [--port N] [--project DIR]

The studio in your browser, on 127.0.0.1 only. Prints the URL (with a per-session token in its
#fragment) as the first line; open it in a browser on this machine. Ctrl+C stops it.

Options:
  --port N        port to listen on (default: a free one)
  --project DIR   the project folder runs are saved in (project.json is created when the folder
                  has none); default: $LORA_STUDIO_PROJECT, else <app data>/lora-studio/projects/default
  --rebuild       rebuild the web app first, even if it is up to date
  -h, --help      this help`;

/** --port and --project as checked values, or the message of a usage error. */
function options(argv: string[]): { port: number; project: string; rebuild: boolean } | { help: true } | { error: string } {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { port: { type: 'string' }, project: { type: 'string' }, rebuild: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (e) {
    return { error: `${(e as Error).message}\n\n${HELP}` };
  }
  if (values.help) return { help: true };
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return { error: `--port must be an integer from 0 to 65535, got "${values.port}"` };
  // --project DIR (a folder; project.json is created when it has none), else the default project.
  const project = values.project === undefined ? defaultProjectDir() : resolve(values.project);
  if (values.project !== undefined && (!existsSync(project) || !statSync(project).isDirectory())) return { error: `--project ${project} is not a folder` };
  return { port, project, rebuild: Boolean(values.rebuild) };
}

export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--engine-child')) return runEngineChild();
  const o = options(argv);
  if ('help' in o) {
    console.log(HELP);
    return 0;
  }
  if ('error' in o) {
    console.error(`lora-studio serve: ${o.error}`);
    return 2;
  }
  try {
    createProject(o.project);
  } catch (e) {
    console.error(`lora-studio serve: cannot open the project ${o.project}: ${(e as Error).message}`);
    return 1;
  }
  let server: RunningServer;
  try {
    await ensureRendererBuilt({ force: o.rebuild });
    server = await startServer({ port: o.port, project: o.project });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    console.error(`lora-studio serve: ${err.code === 'EADDRINUSE' ? `cannot listen on 127.0.0.1:${o.port}: the port is in use` : err.message}`);
    return 1;
  }
  process.stdout.write(`${server.url}\n`);
  process.stderr.write(`LoRA Studio is serving on 127.0.0.1:${server.port}. Open the URL above in a browser on this machine; Ctrl+C stops it.\n`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  await server.close();
  return 0;
}
