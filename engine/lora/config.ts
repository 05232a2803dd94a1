// PEFT's LoraConfig as we use it: the same fields, defaults and scaling rules, so an adapter
// trained here loads in PEFT and vice versa. On disk it is PEFT's snake_case adapter_config.json.
import { FormatError } from '../store/errors.ts';
import {
  describeType, isJsonObject, optionalBoolean, optionalNumber, optionalString, optionalStringArray,
  type JsonObject,
} from '../store/json.ts';

export type LoraBias = 'none' | 'all' | 'lora_only';

export interface LoraConfig {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  bias: LoraBias;
  /**
   * Module names (matched as name suffixes), a regex string (full match), or 'all-linear'.
   * An empty list means PEFT's None: "the model's default targets" (written as null).
   */
  targetModules: string[] | string;
  useRslora: boolean;
  initLoraWeights: boolean | 'gaussian';
  modulesToSave: string[] | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  fanInFanOut: boolean;
  /** e.g. 'CAUSAL_LM', 'SEQ_CLS'; '' means unset (null on disk). */
  taskType: string;
  baseModelNameOrPath: string | null;
}

const BIASES: readonly string[] = ['none', 'all', 'lora_only'];

/** PEFT's defaults (r 8, lora_alpha 8, no dropout, bias none, no rsLoRA, default init). */
export function defaultLoraConfig(overrides: Partial<LoraConfig> = {}): LoraConfig {
  return {
    r: 8,
    loraAlpha: 8,
    loraDropout: 0,
    bias: 'none',
    targetModules: [],
    useRslora: false,
    initLoraWeights: true,
    modulesToSave: null,
    rankPattern: {},
    alphaPattern: {},
    fanInFanOut: false,
    taskType: '',
    baseModelNameOrPath: null,
    ...overrides,
  };
}

/**
 * The key of a rank_pattern / alpha_pattern that applies to a module, as PEFT decides it: the
 * first key `k` (in insertion order) with `m == k` or `re.match(rf".*\.{k}$", m)`.
 */
export function matchPatternKey(keys: Iterable<string>, moduleName: string): string | undefined {
  for (const key of keys) {
    if (key === moduleName) return key;
    const re = patternRegex(key);
    if (re && re.test(moduleName)) return key;
  }
  return undefined;
}

function patternRegex(key: string): RegExp | undefined {
  try {
    // re.match anchors at the start only; wrapping the whole pattern keeps alternations (a|b) scoped as in Python.
    return new RegExp(`^(?:.*\\.${key}$)`);
  } catch {
    return undefined; // reported by validateLoraConfig
  }
}

export function effectiveRank(cfg: LoraConfig, moduleName: string): number {
  const key = matchPatternKey(Object.keys(cfg.rankPattern), moduleName);
  return key === undefined ? cfg.r : cfg.rankPattern[key]!;
}

export function effectiveAlpha(cfg: LoraConfig, moduleName: string): number {
  const key = matchPatternKey(Object.keys(cfg.alphaPattern), moduleName);
  return key === undefined ? cfg.loraAlpha : cfg.alphaPattern[key]!;
}

/** alpha / r, or alpha / sqrt(r) with rsLoRA; per-module rank and alpha from the patterns. */
export function loraScaling(cfg: LoraConfig, moduleName?: string): number {
  const r = moduleName === undefined ? cfg.r : effectiveRank(cfg, moduleName);
  const alpha = moduleName === undefined ? cfg.loraAlpha : effectiveAlpha(cfg, moduleName);
  return cfg.useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** The first problem with a config, or undefined. */
function configProblem(cfg: LoraConfig): string | undefined {
  if (!Number.isSafeInteger(cfg.r) || cfg.r <= 0) return `r must be a positive integer, got ${cfg.r}`;
  if (typeof cfg.loraAlpha !== 'number' || !Number.isFinite(cfg.loraAlpha)) return `lora_alpha must be a finite number, got ${cfg.loraAlpha}`;
  if (typeof cfg.loraDropout !== 'number' || !(cfg.loraDropout >= 0 && cfg.loraDropout < 1)) {
    return `lora_dropout must be in [0, 1), got ${cfg.loraDropout}`;
  }
  if (!BIASES.includes(cfg.bias)) return `bias must be one of ${BIASES.join(', ')}, got ${JSON.stringify(cfg.bias)}`;
  if (typeof cfg.targetModules === 'string') {
    if (cfg.targetModules === '') return 'target_modules must not be an empty string';
    try { new RegExp(cfg.targetModules); } catch { return `target_modules ${JSON.stringify(cfg.targetModules)} is not a valid regular expression`; }
  } else if (!Array.isArray(cfg.targetModules) || cfg.targetModules.some((m) => typeof m !== 'string' || m === '')) {
    return 'target_modules must be a list of module names, a regular expression or "all-linear"';
  }
  if (cfg.initLoraWeights !== true && cfg.initLoraWeights !== false && cfg.initLoraWeights !== 'gaussian') {
    return `init_lora_weights must be true, false or "gaussian", got ${JSON.stringify(cfg.initLoraWeights)}`;
  }
  if (cfg.modulesToSave !== null && (!Array.isArray(cfg.modulesToSave) || cfg.modulesToSave.some((m) => typeof m !== 'string' || m === ''))) {
    return 'modules_to_save must be a list of module names or null';
  }
  for (const [name, pattern, check, what] of [
    ['rank_pattern', cfg.rankPattern, (v: number) => Number.isSafeInteger(v) && v > 0, 'a positive integer'],
    ['alpha_pattern', cfg.alphaPattern, (v: number) => Number.isFinite(v), 'a finite number'],
  ] as const) {
    for (const [key, value] of Object.entries(pattern)) {
      if (typeof value !== 'number' || !check(value)) return `${name} "${key}" must be ${what}, got ${JSON.stringify(value)}`;
      if (!patternRegex(key)) return `${name} key ${JSON.stringify(key)} is not a valid regular expression`;
    }
  }
  return undefined;
}

/** Throws a clear Error for impossible values (r <= 0, dropout outside [0, 1), ...). */
export function validateLoraConfig(cfg: LoraConfig): void {
  const problem = configProblem(cfg);
  if (problem) throw new Error(`invalid LoRA config: ${problem}`);
}

/** Reads PEFT's adapter_config.json object (snake_case; unknown keys ignored). */
export function parseAdapterConfig(json: unknown, file: string): LoraConfig {
  if (!isJsonObject(json)) throw new FormatError(file, `adapter config must be a JSON object, got ${describeType(json)}`);
  const o = json;
  const peftType = o.peft_type;
  if (peftType !== 'LORA') {
    throw new FormatError(file, peftType === undefined
      ? 'peft_type is missing (expected "LORA")'
      : `peft_type is ${JSON.stringify(peftType)}; only LORA adapters are supported`);
  }
  // Variants whose weights mean something else: refuse rather than apply them wrongly.
  if (o.use_dora === true) throw new FormatError(file, 'DoRA adapters (use_dora: true) are not supported');
  if (o.lora_bias === true) throw new FormatError(file, 'adapters with a LoRA bias (lora_bias: true) are not supported');

  const d = defaultLoraConfig();
  const r = o.r == null ? d.r : o.r;
  if (typeof r !== 'number') throw new FormatError(file, `"r" must be a number, got ${describeType(r)}`);
  const bias = optionalString(o, 'bias', file) ?? d.bias;
  const cfg: LoraConfig = {
    r,
    loraAlpha: optionalNumber(o, 'lora_alpha', file) ?? d.loraAlpha,
    loraDropout: optionalNumber(o, 'lora_dropout', file) ?? d.loraDropout,
    bias: bias as LoraBias,
    targetModules: targetModules(o, file),
    useRslora: optionalBoolean(o, 'use_rslora', file) ?? d.useRslora,
    initLoraWeights: initWeights(o, file),
    modulesToSave: optionalStringArray(o, 'modules_to_save', file) ?? null,
    rankPattern: numberMap(o, 'rank_pattern', file),
    alphaPattern: numberMap(o, 'alpha_pattern', file),
    fanInFanOut: optionalBoolean(o, 'fan_in_fan_out', file) ?? d.fanInFanOut,
    taskType: optionalString(o, 'task_type', file) ?? '',
    baseModelNameOrPath: optionalString(o, 'base_model_name_or_path', file) ?? null,
  };
  const problem = configProblem(cfg);
  if (problem) throw new FormatError(file, problem);
  return cfg;
}

function targetModules(o: JsonObject, file: string): string[] | string {
  const v = o.target_modules;
  if (v == null) return [];
  if (typeof v === 'string') return v;
  return optionalStringArray(o, 'target_modules', file) ?? [];
}

function initWeights(o: JsonObject, file: string): boolean | 'gaussian' {
  const v = o.init_lora_weights;
  if (v == null) return true;
  if (v === true || v === false || v === 'gaussian') return v;
  throw new FormatError(file, `init_lora_weights ${JSON.stringify(v)} is not supported (expected true, false or "gaussian")`);
}

function numberMap(o: JsonObject, key: string, file: string): Record<string, number> {
  const v = o[key];
  if (v == null) return {};
  if (!isJsonObject(v)) throw new FormatError(file, `"${key}" must be an object of numbers, got ${describeType(v)}`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'number') throw new FormatError(file, `"${key}" value for "${k}" must be a number, got ${describeType(x)}`);
  }
  return Object.fromEntries(Object.entries(v)) as Record<string, number>;
}

/** PEFT's adapter_config.json object: snake_case, keys sorted, as PEFT writes it. */
export function adapterConfigJson(cfg: LoraConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    alpha_pattern: { ...cfg.alphaPattern },
    base_model_name_or_path: cfg.baseModelNameOrPath,
    bias: cfg.bias,
    fan_in_fan_out: cfg.fanInFanOut,
    inference_mode: true,
    init_lora_weights: cfg.initLoraWeights,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: cfg.loraAlpha,
    lora_dropout: cfg.loraDropout,
    modules_to_save: cfg.modulesToSave === null ? null : [...cfg.modulesToSave],
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: { ...cfg.rankPattern },
    target_modules: typeof cfg.targetModules === 'string'
      ? cfg.targetModules
      : cfg.targetModules.length === 0 ? null : [...cfg.targetModules],
    task_type: cfg.taskType === '' ? null : cfg.taskType,
    use_dora: false,
    use_rslora: cfg.useRslora,
  };
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}
