// `lora-studio export gguf`: a model (with a PEFT adapter merged in) as one GGUF v3 file for
// llama.cpp, Ollama and LM Studio — or, with loraOnly, the adapter alone as a GGUF LoRA adapter
// that llama.cpp/Ollama apply to the base model's GGUF at run time — and an Ollama Modelfile next
// to it. Tensor types follow llama.cpp's converter: 1-D tensors, norms and position embeddings stay
// F32; the rest is F32, F16 or Q8_0 (a row that is not a multiple of 32 falls back to F16).
// Every file is written atomically: on any failure no partial file is left behind.

import { existsSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { readAdapterInto, mergeAdapter } from '../lora/apply.ts';
import { loadModel, loadModelSpec } from '../models/registry.ts';
import type { LoadedModel } from '../models/types.ts';
import { readAdapterHeader } from '../store/adapter.ts';
import { writeFileAtomic } from '../store/atomic.ts';
import { type ArchTensor, GgufExportError, archPlan, assertExportable, linearTarget, unpermuteRows } from './gguf-arch.ts';
import { ggufTokenizer, withChatTemplate } from './gguf-tokenizer.ts';
import { savedChatTemplate } from './hf-folder.ts';
import { type GgmlTypeName, type GgufTensor, type MetaValue, GGUF_ALIGNMENT, encodeGguf, encodeTensor, f32, str, u32 } from './gguf-writer.ts';
import { ollamaModelfile } from './gguf-modelfile.ts';

export { GgufExportError } from './gguf-arch.ts';

export type GgufType = 'f32' | 'f16' | 'q8_0';
export const GGUF_TYPES: readonly GgufType[] = ['f32', 'f16', 'q8_0'];

export interface ExportGgufOptions {
  /** The base model's Hugging Face folder. */
  model: string;
  /** A PEFT adapter folder: merged in, or written alone with loraOnly. */
  adapter?: string;
  /** The .gguf file to write. */
  out: string;
  type?: GgufType;
  /** Replace an existing output file (and its Modelfile). */
  force?: boolean;
  /** Write the adapter alone as a GGUF LoRA adapter (needs `adapter`). */
  loraOnly?: boolean;
  /** With loraOnly: the base model's GGUF, for the Modelfile's FROM line. */
  baseGguf?: string;
  /** general.name (default: the output file's name). */
  name?: string;
}

export interface ExportGgufProgress {
  phase: 'load' | 'merge' | 'convert' | 'write' | 'done';
  /** Tensors converted so far (convert), else 0 or 1. */
  done: number;
  total: number;
  message: string;
}

export interface ExportGgufResult {
  out: string;
  modelfile: string;
  /** The `ollama create` command for the Modelfile. */
  ollamaCommand: string;
  arch: string;
  type: GgufType;
  loraOnly: boolean;
  tensors: number;
  bytes: number;
  /** LoRA layers merged (or written, with loraOnly). */
  loraLayers: number;
  tokenizer: 'gpt2' | 'llama' | null;
}

const FILE_TYPE: Record<GgufType, number> = { f32: 0, f16: 1, q8_0: 7 }; // llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0
const GGML: Record<GgufType, GgmlTypeName> = { f32: 'F32', f16: 'F16', q8_0: 'Q8_0' };

/** The type a tensor is stored as, llama.cpp's converter's rules. */
export function tensorType(name: string, shape: number[], wanted: GgufType): GgmlTypeName {
  if (shape.length <= 1 || name.endsWith('_norm.weight') || name.startsWith('position_embd.') || !/\.(weight|lora_a|lora_b)$/.test(name)) return 'F32';
  const t = GGML[wanted];
  return t === 'Q8_0' && shape[shape.length - 1] % 32 !== 0 ? 'F16' : t;
}

/** The Modelfile's path for an output file: `NAME.Modelfile` next to `NAME.gguf`. */
export function modelfilePath(out: string): string {
  const base = path.basename(out).replace(/\.gguf$/i, '');
  return path.join(path.dirname(out), `${base}.Modelfile`);
}

function refuseExisting(file: string, force: boolean | undefined): void {
  if (!existsSync(file)) return;
  if (statSync(file).isDirectory()) throw new GgufExportError(`${file}: is a folder; --out names the .gguf file to write`);
  if (!force) throw new GgufExportError(`${file}: already exists (use --force to replace it)`);
}

function generalMeta(arch: string, kind: 'model' | 'adapter', name: string, type: GgufType): [string, MetaValue][] {
  const m: [string, MetaValue][] = [
    ['general.architecture', str(arch)],
    ['general.type', str(kind)],
    ['general.name', str(name)],
    ['general.file_type', u32(FILE_TYPE[type])],
    ['general.alignment', u32(GGUF_ALIGNMENT)],
  ];
  if (type === 'q8_0') m.push(['general.quantization_version', u32(2)]);
  return m;
}

function encodeAll(tensors: ArchTensor[], type: GgufType, progress: (done: number) => void): GgufTensor[] {
  return tensors.map((t, i) => {
    const tt = tensorType(t.name, t.shape, type);
    const out = { name: t.name, shape: t.shape, type: tt, data: encodeTensor(t.data, tt) };
    progress(i + 1);
    return out;
  });
}

/** A LoRA adapter as llama.cpp's adapter tensors: `<base>.lora_a` = A [r, in], `.lora_b` = B [out, r]. */
function loraTensors(model: LoadedModel, adapterDir: string): { tensors: ArchTensor[]; alpha: number; layers: number } {
  const header = readAdapterHeader(adapterDir);
  const extra = header.tensors.find((t) => !/\.lora_[AB]\.weight$/.test(t.normalized));
  if (extra) {
    throw new GgufExportError(`${adapterDir}: the adapter also trains ${extra.normalized}, which a GGUF LoRA adapter cannot carry; export the merged model instead (without --lora-only)`);
  }
  const { config, plan } = readAdapterInto(model, adapterDir);
  if (plan.layers.length === 0) throw new GgufExportError(`${adapterDir}: the adapter has no LoRA layers`);
  // llama.cpp scales B·A by alpha / r (r from the tensor): B absorbs any other scaling
  // (rsLoRA, rank_pattern, alpha_pattern), so one alpha serves every layer.
  const alpha = config.loraAlpha > 0 ? config.loraAlpha : plan.layers[0].r;
  const tensors: ArchTensor[] = [];
  for (const l of plan.layers) {
    const target = linearTarget(model.spec, l.module);
    const factor = (l.scaling * l.r) / alpha;
    let B = factor === 1 ? l.B : Float32Array.from(l.B, (x) => x * factor);
    if (target.permuteHeads) B = unpermuteRows(B, target.permuteHeads, l.r);
    tensors.push({ name: `${target.name}.weight.lora_a`, shape: l.aShape, data: l.A });
    tensors.push({ name: `${target.name}.weight.lora_b`, shape: l.bShape, data: B });
  }
  return { tensors, alpha, layers: plan.layers.length };
}

/** Writes the GGUF (and its Modelfile); progress callbacks for the app. */
export async function exportGguf(o: ExportGgufOptions, onProgress?: (p: ExportGgufProgress) => void): Promise<ExportGgufResult> {
  const type = o.type ?? 'f16';
  if (!GGUF_TYPES.includes(type)) throw new GgufExportError(`--type must be one of ${GGUF_TYPES.join(', ')}, got ${String(type)}`);
  if (o.loraOnly && !o.adapter) throw new GgufExportError('--lora-only writes an adapter: give it with --adapter DIR');
  const out = path.resolve(o.out);
  const modelfile = modelfilePath(out);
  refuseExisting(out, o.force);
  refuseExisting(modelfile, o.force);
  if (!existsSync(path.dirname(out))) throw new GgufExportError(`${path.dirname(out)}: the output folder does not exist`);
  const emit = (phase: ExportGgufProgress['phase'], done: number, total: number, message: string) => onProgress?.({ phase, done, total, message });

  emit('load', 0, 1, `reading ${o.model}`);
  const spec = loadModelSpec(o.model);
  const arch = assertExportable(spec);
  const model = loadModel(o.model);
  emit('load', 1, 1, `${spec.family.name} model, ${spec.cache.layers} layers`);
  const name = o.name ?? path.basename(out).replace(/\.gguf$/i, '');

  let metadata: [string, MetaValue][];
  let tensors: ArchTensor[];
  let loraLayers = 0;
  let tok: ReturnType<typeof ggufTokenizer> | null = null;
  if (o.loraOnly) {
    emit('merge', 0, 1, `reading the adapter ${o.adapter}`);
    const lora = loraTensors(model, o.adapter!);
    loraLayers = lora.layers;
    emit('merge', 1, 1, `${lora.layers} LoRA layers`);
    metadata = [...generalMeta(arch, 'adapter', name, type), ['adapter.type', str('lora')], ['adapter.lora.alpha', f32(lora.alpha)]];
    tensors = lora.tensors;
    try { tok = withChatTemplate(ggufTokenizer(o.model, spec), savedChatTemplate(o.adapter!)); } catch { tok = null; } // for the Modelfile's template only
  } else {
    if (o.adapter) {
      emit('merge', 0, 1, `merging ${o.adapter}`);
      loraLayers = mergeAdapter(model, o.adapter).plan.layers.length;
      emit('merge', 1, 1, `${loraLayers} LoRA layers merged`);
    }
    const plan = archPlan(spec, model.weights);
    // A fine-tuned adapter carries its run's chat template (chat_template.jinja): it wins over the base's.
    tok = withChatTemplate(ggufTokenizer(o.model, spec), o.adapter ? savedChatTemplate(o.adapter) : null);
    metadata = [...generalMeta(arch, 'model', name, type), ...plan.metadata, ...tok.metadata];
    tensors = plan.tensors;
  }
  const encoded = encodeAll(tensors, type, (done) => emit('convert', done, tensors.length, `converting tensors to ${type}`));
  const chunks = encodeGguf(metadata, encoded);
  const bytes = chunks.reduce((a, c) => a + c.byteLength, 0);
  emit('write', 0, 1, `writing ${out}`);
  writeFileAtomic(out, chunks);
  const mf = ollamaModelfile({
    dir: path.dirname(out), gguf: o.loraOnly ? null : out, adapter: o.loraOnly ? out : null,
    base: o.baseGguf ? path.resolve(o.baseGguf) : null, tokenizer: tok,
  });
  try {
    writeFileAtomic(modelfile, mf);
  } catch (e) {
    rmSync(out, { force: true }); // no GGUF without its Modelfile: the export failed as a whole
    throw e;
  }
  emit('write', 1, 1, `wrote ${out}`);
  const ollamaName = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+/, '') || 'model';
  const result: ExportGgufResult = {
    out, modelfile, ollamaCommand: `ollama create ${ollamaName} -f ${modelfile}`, arch, type,
    loraOnly: !!o.loraOnly, tensors: encoded.length, bytes, loraLayers, tokenizer: o.loraOnly ? null : tok?.model ?? null,
  };
  emit('done', 1, 1, `wrote ${out} (${encoded.length} tensors)`);
  return result;
}
