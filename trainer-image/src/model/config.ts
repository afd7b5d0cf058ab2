// The decoder configuration, read from a Hugging Face config.json. Llama, Mistral and Qwen2 share one architecture;
// everything else is refused by name rather than silently mis-computed.

const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;
type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface LlamaConfig {
  architecture: Architecture;
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2 always; Llama when attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama attention_bias only). */
  oBias: boolean;
  /** Bias on gate/up/down (Llama mlp_bias). */
  mlpBias: boolean;
  /** Mistral-style sliding window (null = full causal attention). */
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
  /** The config.json object as read, written back unchanged (apart from torch_dtype) with checkpoints. */
  raw: Record<string, unknown>;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const MODEL_TYPES: Record<Architecture, string> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

function positiveInt(raw: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`${where}: "${key}" must be a positive integer, got ${JSON.stringify(raw[key])}`);
  }
  return value;
}

function positiveNumber(raw: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${where}: "${key}" must be a positive number, got ${JSON.stringify(raw[key])}`);
  }
  return value;
}

function optionalTokenId(raw: Record<string, unknown>, key: string, where: string): number | null {
  const value = raw[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${where}: "${key}" must be a non-negative integer or null, got ${JSON.stringify(value)}`);
  }
  return value;
}

function ropeParameters(
  raw: Record<string, unknown>,
  where: string,
): { theta: number; scaling: Llama3RopeScaling | null } {
  // transformers ≥ 5 writes `rope_parameters` (with rope_theta inside); older files write rope_theta + rope_scaling.
  const params = (raw.rope_parameters ?? raw.rope_scaling ?? null) as Record<string, unknown> | null;
  if (params !== null && (typeof params !== 'object' || Array.isArray(params))) {
    throw new ConfigError(`${where}: "rope_parameters"/"rope_scaling" must be an object or null`);
  }
  const theta = positiveNumber({ rope_theta: raw.rope_theta ?? params?.rope_theta }, 'rope_theta', where, 10000);
  const type = params?.rope_type ?? params?.type ?? 'default';
  if (type === 'default') return { theta, scaling: null };
  if (type !== 'llama3') {
    throw new ConfigError(
      `${where}: rope scaling type "${String(type)}" is not supported (supported: default, llama3)`,
    );
  }
  const p = params as Record<string, unknown>;
  const scaling: Llama3RopeScaling = {
    factor: positiveNumber(p, 'factor', `${where} rope llama3`),
    lowFreqFactor: positiveNumber(p, 'low_freq_factor', `${where} rope llama3`),
    highFreqFactor: positiveNumber(p, 'high_freq_factor', `${where} rope llama3`),
    originalMaxPositionEmbeddings: positiveInt(p, 'original_max_position_embeddings', `${where} rope llama3`),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw new ConfigError(`${where}: rope llama3 "high_freq_factor" must exceed "low_freq_factor"`);
  }
  return { theta, scaling };
}

/** Validates a parsed config.json. `where` names the file in error messages. */
export function parseConfig(raw: unknown, where = 'config.json'): LlamaConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${where}: expected a JSON object`);
  }
  const c = raw as Record<string, unknown>;
  const archs = c.architectures;
  if (!Array.isArray(archs) || archs.length !== 1 || typeof archs[0] !== 'string') {
    throw new ConfigError(`${where}: "architectures" must list exactly one architecture name`);
  }
  const architecture = archs[0];
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new ConfigError(
      `${where}: architecture "${architecture}" is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`,
    );
  }
  const arch = architecture as Architecture;
  const hiddenSize = positiveInt(c, 'hidden_size', where);
  const numAttentionHeads = positiveInt(c, 'num_attention_heads', where);
  const numKeyValueHeads = positiveInt(c, 'num_key_value_heads', where, numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ConfigError(
      `${where}: num_attention_heads (${numAttentionHeads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`,
    );
  }
  const defaultHeadDim = hiddenSize / numAttentionHeads;
  const headDimRaw = c.head_dim ?? (Number.isInteger(defaultHeadDim) ? defaultHeadDim : undefined);
  const headDim = positiveInt({ head_dim: headDimRaw }, 'head_dim', where);
  if (headDim % 2 !== 0) throw new ConfigError(`${where}: head_dim must be even for rotary embeddings, got ${headDim}`);
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ConfigError(`${where}: hidden_act "${String(act)}" is not supported (only silu)`);
  const { theta, scaling } = ropeParameters(c, where);
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') throw new ConfigError(`${where}: "${key}" must be a boolean`);
    return v;
  };
  const attentionBias = bool('attention_bias', false);
  if (arch === 'Qwen2ForCausalLM' && bool('use_sliding_window', false)) {
    throw new ConfigError(`${where}: Qwen2 use_sliding_window=true is not supported`);
  }
  let slidingWindow: number | null = null;
  if (arch === 'MistralForCausalLM' && c.sliding_window !== undefined && c.sliding_window !== null) {
    slidingWindow = positiveInt(c, 'sliding_window', where);
  }
  let eosTokenId: number | number[] | null = null;
  if (Array.isArray(c.eos_token_id)) {
    eosTokenId = c.eos_token_id.map((id) => {
      const checked = optionalTokenId({ eos_token_id: id }, 'eos_token_id', where);
      if (checked === null) throw new ConfigError(`${where}: "eos_token_id" lists a null entry`);
      return checked;
    });
  } else {
    eosTokenId = optionalTokenId(c, 'eos_token_id', where);
  }
  const config: LlamaConfig = {
    architecture: arch,
    modelType: MODEL_TYPES[arch],
    vocabSize: positiveInt(c, 'vocab_size', where),
    hiddenSize,
    intermediateSize: positiveInt(c, 'intermediate_size', where),
    numHiddenLayers: positiveInt(c, 'num_hidden_layers', where),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: positiveNumber(c, 'rms_norm_eps', where, 1e-6),
    ropeTheta: theta,
    ropeScaling: scaling,
    maxPositionEmbeddings: positiveInt(c, 'max_position_embeddings', where, 2048),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    qkvBias: arch === 'Qwen2ForCausalLM' || attentionBias,
    oBias: arch !== 'Qwen2ForCausalLM' && attentionBias,
    mlpBias: arch === 'LlamaForCausalLM' && bool('mlp_bias', false),
    slidingWindow,
    bosTokenId: optionalTokenId(c, 'bos_token_id', where),
    eosTokenId,
    padTokenId: optionalTokenId(c, 'pad_token_id', where),
    raw: c,
  };
  return config;
}

/** Every parameter of the model: HF name → shape in HF layout (Linear weights are [out, in]). */
export function parameterShapes(config: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: h, intermediateSize: f, headDim: d, numAttentionHeads: nh, numKeyValueHeads: nkv } = config;
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [config.vocabSize, h]);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    shapes.set(`${p}.input_layernorm.weight`, [h]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [nh * d, h]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [nkv * d, h]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [nkv * d, h]);
    if (config.qkvBias) {
      shapes.set(`${p}.self_attn.q_proj.bias`, [nh * d]);
      shapes.set(`${p}.self_attn.k_proj.bias`, [nkv * d]);
      shapes.set(`${p}.self_attn.v_proj.bias`, [nkv * d]);
    }
    shapes.set(`${p}.self_attn.o_proj.weight`, [h, nh * d]);
    if (config.oBias) shapes.set(`${p}.self_attn.o_proj.bias`, [h]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [h]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [f, h]);
    shapes.set(`${p}.mlp.up_proj.weight`, [f, h]);
    shapes.set(`${p}.mlp.down_proj.weight`, [h, f]);
    if (config.mlpBias) {
      shapes.set(`${p}.mlp.gate_proj.bias`, [f]);
      shapes.set(`${p}.mlp.up_proj.bias`, [f]);
      shapes.set(`${p}.mlp.down_proj.bias`, [h]);
    }
  }
  shapes.set('model.norm.weight', [h]);
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [config.vocabSize, h]);
  return shapes;
}

export function parameterCount(config: LlamaConfig): number {
  let n = 0;
  for (const shape of parameterShapes(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
