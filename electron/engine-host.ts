// The engine in an Electron utility process: a transport for EngineBridge
// (engine/api-handlers.ts), which validates what crosses, keeps the session's runs, and restarts
// the engine if it crashes (the renderer gets an engine.status event and says so).

import { utilityProcess } from 'electron';
import type { EngineTransport, HostToEngine } from '../engine/api-handlers.ts';

export function spawnUtilityEngine(entry: string, log: (m: string) => void = console.error): EngineTransport {
  const child = utilityProcess.fork(entry, [], { serviceName: 'LoRA Studio engine', stdio: 'pipe' });
  child.stdout?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
  child.stderr?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
  let exited = false;
  return {
    post(msg: HostToEngine) {
      if (!exited) child.postMessage(msg);
    },
    onMessage(cb) {
      child.on('message', (m: unknown) => cb(m));
    },
    onExit(cb) {
      child.on('exit', (code: number) => {
        exited = true;
        cb({ code });
      });
    },
    kill() {
      exited = true;
      child.kill();
    },
  };
}
