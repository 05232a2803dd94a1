// PEFT adapter folders: adapter_config.json + adapter_model.safetensors, exactly as PEFT's
// save_pretrained writes them, so adapters move freely between this studio and Python.
import fs from 'node:fs';
import path from 'node:path';
import { FormatError } from './errors.ts';
import { readJsonFile } from './json.ts';
import { mkdirp, writeJsonAtomic } from './atomic.ts';
import { assertFinite, openSafetensors, writeSafetensors, type TensorInfo } from './safetensors.ts';
import { adapterConfigJson, effectiveRank, parseAdapterConfig, validateLoraConfig, type LoraConfig } from '../lora/config.ts';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
const PICKLE_WEIGHTS_FILE = 'adapter_model.bin';
const PEFT_PREFIX = 'base_model.model.';

export interface AdapterTensor {
  shape: number[];
  data: Float32Array;
}

export interface LoadedAdapter {
  config: LoraConfig;
  /** Normalized names, e.g. `model.layers.0.self_attn.q_proj.lora_A.weight`, `score.weight`. */
  tensors: Map<string, AdapterTensor>;
  /** The safetensors file the weights came from. */
  file: string;
}

export interface AdapterHeader {
  config: LoraConfig;
  file: string;
  /** As stored in the file (PEFT names), with `normalized` added. */
  tensors: (TensorInfo & { normalized: string })[];
}

/** The name PEFT stores a LoRA matrix under: `base_model.model.<module>.lora_A.weight`. */
export function peftTensorName(moduleName: string, which: 'lora_A' | 'lora_B'): string {
  return `${PEFT_PREFIX}${moduleName}.${which}.weight`;
}

/**
 * PEFT name -> our name: drop `base_model.model.`, the `.default` adapter-name segment that some
 * writers keep (`lora_A.default.weight`), and the `modules_to_save.default` wrapper, so a saved
 * classification head `score.modules_to_save.default.weight` becomes `score.weight`.
 */
export function normalizeAdapterTensorName(name: string): string {
  let n = name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length) : name;
  n = n.replace(/\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B)\.default(?=\.|$)/, '.$1');
  n = n.replace(/\.modules_to_save\.default(?=\.)/, '');
  return n;
}

/** Writes the weights (F32) and then the config, each atomically. Keys are PEFT names as stored. */
export function saveAdapter(dir: string, cfg: LoraConfig, tensors: Map<string, AdapterTensor>): void {
  validateLoraConfig(cfg);
  mkdirp(dir);
  const list = [...tensors].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data }));
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), list, { format: 'pt' });
  writeJsonAtomic(path.join(dir, ADAPTER_CONFIG_FILE), adapterConfigJson(cfg));
}

/** Config and tensor list (names, shapes, dtypes) without reading tensor data. */
export function readAdapterHeader(dir: string): AdapterHeader {
  const { config, file } = locateAdapter(dir);
  const st = openSafetensors(file);
  try {
    const tensors = [...st.tensors.values()].map((t) => ({ ...t, normalized: normalizeAdapterTensorName(t.name) }));
    checkTensors(config, tensors, file);
    return { config, file, tensors };
  } finally {
    st.close();
  }
}

/** Loads an adapter folder; tensors are converted to float32 (NaN or ±Infinity refused) and keyed by normalized names. */
export function loadAdapter(dir: string): LoadedAdapter {
  const { config, file } = locateAdapter(dir);
  const st = openSafetensors(file);
  try {
    const infos = [...st.tensors.values()].map((t) => ({ ...t, normalized: normalizeAdapterTensorName(t.name) }));
    checkTensors(config, infos, file);
    const tensors = new Map<string, AdapterTensor>();
    for (const t of infos) {
      const data = st.readFloat32(t.name);
      assertFinite(file, t.name, data); // a NaN adapter would only give NaN perplexities and NaN merges
      tensors.set(t.normalized, { shape: t.shape, data });
    }
    return { config, tensors, file };
  } finally {
    st.close();
  }
}

function locateAdapter(dir: string): { config: LoraConfig; file: string } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new FormatError(dir, 'adapter folder not found');
  }
  if (!stat.isDirectory()) throw new FormatError(dir, 'is not a folder (an adapter is a folder with adapter_config.json and adapter_model.safetensors)');
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const config = parseAdapterConfig(readJsonFile(configFile, 'adapter config'), configFile);
  const file = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(file)) {
    const pickle = path.join(dir, PICKLE_WEIGHTS_FILE);
    if (fs.existsSync(pickle)) {
      throw new FormatError(pickle, 'PyTorch pickle weights are not supported (loading pickles can run code); convert them to ' +
        'adapter_model.safetensors, e.g. in Python: safetensors.torch.save_file(torch.load("adapter_model.bin"), ' +
        '"adapter_model.safetensors", metadata={"format": "pt"})');
    }
    throw new FormatError(file, 'adapter weights not found');
  }
  return { config, file };
}

/** Names unique after normalization, every lora_A paired with a lora_B, ranks as configured. */
function checkTensors(cfg: LoraConfig, tensors: (TensorInfo & { normalized: string })[], file: string): void {
  if (tensors.length === 0) throw new FormatError(file, 'the adapter holds no tensors');
  const seen = new Map<string, string>();
  for (const t of tensors) {
    const other = seen.get(t.normalized);
    if (other !== undefined) throw new FormatError(file, `tensors "${other}" and "${t.name}" both mean "${t.normalized}"`);
    seen.set(t.normalized, t.name);
  }
  for (const t of tensors) {
    const m = /^(.*)\.lora_(A|B)\.weight$/.exec(t.normalized);
    if (!m) continue;
    const [, moduleName, side] = m as unknown as [string, string, 'A' | 'B'];
    const partner = `${moduleName}.lora_${side === 'A' ? 'B' : 'A'}.weight`;
    if (!seen.has(partner)) throw new FormatError(file, `tensor "${t.name}" has no matching lora_${side === 'A' ? 'B' : 'A'}`);
    if (t.shape.length < 2) throw new FormatError(file, `tensor "${t.name}" must have at least 2 dimensions, got [${t.shape.join(', ')}]`);
    // lora_A is [r, in, ...], lora_B is [out, r, ...].
    const rank = side === 'A' ? t.shape[0] : t.shape[1];
    const expected = effectiveRank(cfg, moduleName);
    if (rank !== expected) {
      throw new FormatError(file, `tensor "${t.name}" has rank ${rank} but adapter_config.json gives r=${expected} for ${moduleName}`);
    }
  }
}
