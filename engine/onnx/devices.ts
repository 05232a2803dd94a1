// The training devices this machine's ONNX Runtime offers (app.info): cpu always, webgpu and cuda
// when their execution providers are installed (engine/onnx/runtime.ts checkDevice). No session
// is created, so a driver problem still shows only when a run starts.

import type { Device } from './runtime.ts';

let cached: Device[] | undefined;

export async function availableDevices(): Promise<Device[]> {
  if (cached) return cached;
  try {
    const { DEVICES, checkDevice } = await import('./runtime.ts');
    cached = DEVICES.filter((d) => {
      try {
        checkDevice(d);
        return true;
      } catch {
        return false;
      }
    });
  } catch {
    cached = ['cpu']; // ONNX Runtime did not load: training will say why
  }
  return cached;
}
