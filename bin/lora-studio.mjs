#!/usr/bin/env node
// Entry point of the `lora-studio` command. The sources are TypeScript; tsx compiles them on
// the fly (esbuild, from the npm registry), so a fresh clone works right after `npm install`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
