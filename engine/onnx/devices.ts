// The training devices this machine's ONNX Runtime offers (app.info): cpu always, webgpu and cuda
// when their execution providers are installed (engine/onnx/runtime.ts checkDevice) and, for
// WebGPU on Linux, a Vulkan loader is there. No session is created (cheap), so another driver
// problem still shows only when a run starts.

import { existsSync } from 'node:fs';
import type { Device } from './runtime.ts';

let cached: Device[] | undefined;

const VULKAN_LOADERS = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1'];

/** WebGPU on Linux runs over Vulkan: without its loader the provider cannot start (macOS: Metal, Windows: D3D12). */
export function hasWebGpuDriver(platform: string = process.platform, exists: (p: string) => boolean = existsSync): boolean {
  return platform !== 'linux' || VULKAN_LOADERS.some(exists);
}

export async function availableDevices(): Promise<Device[]> {
  if (cached) return cached;
  try {
    const { DEVICES, checkDevice } = await import('./runtime.ts');
    cached = DEVICES.filter((d) => {
      if (d === 'webgpu' && !hasWebGpuDriver()) return false;
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
