// Loading and saving a Hugging Face model directory (config.json + safetensors + tokenizer files) as parameters.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Checkpoint, CheckpointWriter, copySideFiles } from '../io/checkpoint.ts';
import { OUTPUT_DTYPES, type OutputDtype } from '../io/dtype.ts';
import { ConfigError, type LlamaConfig, parameterShapes, parseConfig } from './config.ts';
import type { Parameters } from './llama.ts';
import { type NamedArray, parametersFromArrays } from './parameters.ts';

export interface PretrainedModel {
  dir: string;
  config: LlamaConfig;
  params: Parameters;
}

export async function loadPretrained(dir: string): Promise<PretrainedModel> {
  const checkpoint = await Checkpoint.open(dir);
  try {
    const raw = await checkpoint.config();
    if (raw === undefined) throw new ConfigError(`${join(dir, 'config.json')}: file not found`);
    const config = parseConfig(raw, join(dir, 'config.json'));
    const arrays = new Map<string, NamedArray>();
    for (const name of parameterShapes(config).keys()) {
      if (!checkpoint.has(name)) continue;
      arrays.set(name, { shape: [...checkpoint.info(name).shape], data: await checkpoint.readFloat32(name) });
    }
    const params = parametersFromArrays(config, (n) => arrays.get(n), checkpoint.names(), dir);
    return { dir, config, params };
  } finally {
    await checkpoint.close();
  }
}

export interface SaveOptions {
  dtype?: OutputDtype;
  /** Directory whose tokenizer files (tokenizer.json, tokenizer_config.json, ...) are copied alongside. */
  tokenizerFrom?: string;
  maxShardBytes?: number;
}

/** Writes params as a model directory that `transformers` loads with from_pretrained. */
export async function savePretrained(
  dir: string,
  config: LlamaConfig,
  params: ReadonlyMap<string, { shape: number[]; dataSync(): unknown }>,
  options: SaveOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? 'f32';
  const names = [...parameterShapes(config).keys()];
  const specs = names.map((name) => {
    const p = params.get(name);
    if (p === undefined) throw new Error(`cannot save: parameter "${name}" is missing`);
    return { name, dtype: 'F32' as const, shape: p.shape };
  });
  const writer = await CheckpointWriter.create(dir, specs, {
    dtype,
    ...(options.maxShardBytes !== undefined ? { maxShardBytes: options.maxShardBytes } : {}),
  });
  try {
    for (const name of names) {
      await writer.write(name, Float32Array.from((params.get(name) as { dataSync(): Float32Array }).dataSync()));
    }
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  if (options.tokenizerFrom !== undefined) await copySideFiles(options.tokenizerFrom, dir);
  const torch = OUTPUT_DTYPES[dtype].torch;
  const raw: Record<string, unknown> = { ...config.raw, torch_dtype: torch };
  if ('dtype' in config.raw) raw.dtype = torch;
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(raw, null, 2)}\n`);
}
