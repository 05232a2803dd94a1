// The export service: a LoRA adapter folded into its base model as a Hugging Face folder (PEFT's
// merge_and_unload, optionally with an ONNX decoder), or a model / adapter as GGUF for llama.cpp,
// Ollama and LM Studio.

export { type MergeResult, mergeToFolder as mergeAdapter } from '../export/hf-folder.ts';
export { GGUF_TYPES, type GgufType, exportGguf } from '../export/gguf.ts';
