// The engine in an Electron utility process, over the host's one transport (host/transport.ts):
// EngineBridge (host/bridge.ts) validates what crosses, keeps the session's runs, and restarts the
// engine if it crashes (the renderer gets an engine.status event and says so).

import { utilityProcess } from 'electron';
import { type EngineTransport, type HostToEngine, processTransport } from '../host/transport.ts';

export function spawnUtilityEngine(entry: string, log: (m: string) => void = console.error): EngineTransport {
  const child = utilityProcess.fork(entry, [], { serviceName: 'LoRA Studio engine', stdio: 'pipe' });
  child.stdout?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
  child.stderr?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  return processTransport<HostToEngine>({
    send: (m) => child.postMessage(m),
    onMessage: (cb) => child.on('message', (m: unknown) => cb(m)),
    onEnd: (cb) => child.on('exit', (code: number) => cb({ code })),
    stop: () => void child.kill(),
    running: () => !exited,
  }, log);
}
