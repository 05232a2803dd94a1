// One transport between a host and a process it starts. Three kinds of process speak through it:
// the engine of `lora-studio serve` (a Node child process), the engine of the desktop app (an
// Electron utility process) and the isolated trials of an experiment (Node child processes).
// Either side validates what it receives; the transport only carries structured-cloneable
// messages, reports the process's end once, and kills it.

import { type ChildProcess, fork } from 'node:child_process';
import type { EventMessage, ResponseMessage } from '../engine/api.ts';

/** Why a process ended: its exit code, or a reason (a signal, a failure to start). */
export interface ExitInfo {
  code: number | null;
  reason?: string;
}

/** The host's side: messages out, messages in (unvalidated), the end of the process. */
export interface Transport<Out> {
  post(msg: Out): void;
  onMessage(cb: (msg: unknown) => void): void;
  onExit(cb: (info: ExitInfo) => void): void;
  kill(): void;
}

/** A contract request from the host to the engine process. */
export type HostToEngine = { type: 'request'; id: string; method: string; params?: unknown };
/** What the engine process sends back: responses, events, and 'ready' once it serves. */
export type EngineToHost = ResponseMessage | EventMessage | { type: 'ready'; pid: number };
export type EngineTransport = Transport<HostToEngine>;

/** What the transport needs of a process (a Node ChildProcess and an Electron UtilityProcess alike). */
export interface ProcessHandle {
  send(msg: unknown): void;
  onMessage(cb: (msg: unknown) => void): void;
  /** The process ended (code, or a signal) or failed (an error): called at least once. */
  onEnd(cb: (info: ExitInfo) => void): void;
  /** Asks the process to stop; `force` kills it. */
  stop(force: boolean): void;
  running(): boolean;
}

/** The transport over a process: posts only while it runs, reports its end once, kills it (forcefully after 2 s). */
export function processTransport<Out>(p: ProcessHandle, log: (m: string) => void = () => {}): Transport<Out> {
  let ended = false;
  const exits: ((info: ExitInfo) => void)[] = [];
  p.onEnd((info) => {
    if (ended) return;
    ended = true;
    for (const cb of exits) cb(info);
  });
  return {
    post(msg) {
      if (ended || !p.running()) return;
      try {
        p.send(msg);
      } catch (e) {
        log(`cannot reach the process: ${(e as Error).message}`);
      }
    },
    onMessage: (cb) => p.onMessage(cb),
    onExit: (cb) => exits.push(cb),
    kill() {
      p.stop(false);
      setTimeout(() => p.running() && p.stop(true), 2000).unref();
    },
  };
}

/** A Node child process as a ProcessHandle. */
export function childHandle(child: ChildProcess): ProcessHandle {
  return {
    send: (m) => void (child.connected && child.send(m as never)),
    onMessage: (cb) => child.on('message', cb),
    onEnd(cb) {
      child.on('exit', (code, signal) => cb({ code, reason: signal ? `killed by ${signal}` : undefined }));
      child.on('error', (e) => cb({ code: null, reason: e.message }));
    },
    stop: (force) => void child.kill(force ? 'SIGKILL' : 'SIGTERM'),
    running: () => child.exitCode === null && child.signalCode === null,
  };
}

export interface ForkOptions {
  args?: string[];
  execArgv?: string[];
  env?: Record<string, string>;
  /** 'inherit': the child writes to our stdout/stderr; 'stderr': both of its streams go to our stderr. */
  output?: 'inherit' | 'stderr';
  log?: (m: string) => void;
}

/** Starts `entry` in a Node child process (structured-clone IPC) and returns the transport to it. */
export function forkTransport<Out>(entry: string, o: ForkOptions = {}): Transport<Out> {
  const child = fork(entry, o.args ?? [], {
    execArgv: o.execArgv,
    env: o.env ? { ...process.env, ...o.env } : process.env,
    stdio: o.output === 'stderr' ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  if (o.output === 'stderr') {
    child.stdout?.on('data', (d: Buffer) => process.stderr.write(d));
    child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  }
  return processTransport<Out>(childHandle(child), o.log);
}

/** The child's side of the transport: its parent. */
export interface ParentPort<Out> {
  post(msg: Out): void;
  onMessage(cb: (msg: unknown) => void): void;
  /** The parent went away (it closed the channel, or died). */
  onDisconnect(cb: () => void): void;
  /** Closes the channel (the child can then exit). */
  close(): void;
}

interface ElectronParentPort {
  postMessage(m: unknown): void;
  on(event: 'message', cb: (e: { data: unknown }) => void): void;
}

/** This process's parent: Electron's parentPort in a utility process, else Node's IPC channel. */
export function parentPort<Out>(): ParentPort<Out> {
  const electron = (process as unknown as { parentPort?: ElectronParentPort }).parentPort;
  if (electron) {
    return {
      post: (m) => electron.postMessage(m),
      onMessage: (cb) => electron.on('message', (e) => cb(e.data)),
      onDisconnect: () => {}, // a utility process ends with the app
      close: () => {},
    };
  }
  if (!process.send) throw new Error('this process has no parent to talk to (it is started by the studio)');
  const send = process.send.bind(process);
  return {
    post: (m) => void send(m),
    onMessage: (cb) => process.on('message', cb),
    onDisconnect: (cb) => process.once('disconnect', cb),
    close: () => process.connected && process.disconnect(),
  };
}

/**
 * Both sides in this process, every message structured-cloned as across a real boundary (tests,
 * and shells that cannot start a process). `crash` ends the "process" with an exit code.
 */
export function inProcessPair<Out, Back>(): { host: Transport<Out>; child: ParentPort<Back>; crash(code: number | null): void; alive(): boolean } {
  const toChild: ((m: unknown) => void)[] = [];
  const toHost: ((m: unknown) => void)[] = [];
  const exits: ((info: ExitInfo) => void)[] = [];
  const disconnects: (() => void)[] = [];
  let alive = true;
  const deliver = (cbs: ((m: unknown) => void)[], m: unknown) => {
    const copy = structuredClone(m);
    queueMicrotask(() => alive && cbs.forEach((cb) => cb(copy)));
  };
  const crash = (code: number | null) => {
    if (!alive) return;
    alive = false;
    disconnects.forEach((cb) => cb());
    queueMicrotask(() => exits.forEach((cb) => cb({ code })));
  };
  return {
    host: { post: (m) => deliver(toChild, m), onMessage: (cb) => toHost.push(cb), onExit: (cb) => exits.push(cb), kill: () => crash(null) },
    child: { post: (m) => deliver(toHost, m), onMessage: (cb) => toChild.push(cb), onDisconnect: (cb) => disconnects.push(cb), close: () => {} },
    crash,
    alive: () => alive,
  };
}
