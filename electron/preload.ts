// The only bridge between the renderer and the app: window.studio = { invoke, on, shell }, typed
// by engine/api.ts. Requests are checked here and again in the main process; responses and events
// are validated before the renderer sees them. Bundled as CommonJS (sandboxed preloads can't be ESM).

import { contextBridge, ipcRenderer } from 'electron';
import {
  ApiError,
  IPC,
  type MethodName,
  type Params,
  type Result,
  type StudioApi,
  type StudioEvent,
  StudioEventSchema,
  isMethod,
  parse,
  parseParams,
  parseResult,
  parseServerMessage,
} from '../engine/api.ts';

let seq = 0;

export const studio: StudioApi = {
  shell: 'electron',
  async invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    if (!isMethod(method)) throw new ApiError('unknown_method', `unknown method ${String(method)}`);
    let checked: Params<M>;
    try {
      checked = parseParams(method, params);
    } catch (e) {
      throw ApiError.from(e);
    }
    const raw: unknown = await ipcRenderer.invoke(IPC.invoke, { type: 'request', id: `p${++seq}`, method, params: checked });
    const msg = parseServerMessage(raw);
    if (msg.type !== 'response') throw new ApiError('failed', 'unexpected answer from the main process');
    if (!msg.ok) throw new ApiError(msg.error.code, msg.error.message, msg.error.details);
    return parseResult(method, msg.result);
  },
  on(listener: (e: StudioEvent) => void): () => void {
    const handler = (_e: unknown, raw: unknown) => {
      let ev: StudioEvent;
      try {
        ev = parse(StudioEventSchema, raw, 'event');
      } catch (e) {
        console.warn(`studio: ignored an invalid event: ${(e as Error).message}`);
        return;
      }
      listener(ev);
    };
    ipcRenderer.on(IPC.event, handler);
    return () => {
      ipcRenderer.removeListener(IPC.event, handler);
    };
  },
};

contextBridge.exposeInMainWorld('studio', studio);
