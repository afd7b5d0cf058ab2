// mask.safetensors: the calibrate phase's output, read by the train phase. One packed bitmask per target tensor
// (`mask/<name>`, U8 [⌈n/8⌉], bit order as mask.ts) and __metadata__: format "lota-mask", format_version "1",
// base_fingerprint, shapes (JSON {name: shape}), sparsity, selection, threshold, trainable, total.
import { InvalidArtifactError } from '../io/errors.ts';
import { SafetensorsReader, writeSafetensors } from '../io/safetensors.ts';
import { countSetAll, type MaskSet, maskFromBits } from './mask.ts';

const MASK_FORMAT = 'lota-mask';
const MASK_FORMAT_VERSION = 1;

export interface MaskFileInfo {
  baseFingerprint: string;
  sparsity: number;
  /** `global`, `per-tensor` or `random`. */
  selection: string;
  /** Global |Δ| threshold, when there is one. */
  threshold?: number;
  shapes: Record<string, number[]>;
}

export async function writeMaskFile(path: string, masks: MaskSet, info: MaskFileInfo): Promise<void> {
  const names = [...masks.keys()].sort();
  const { trainable, total } = countSetAll(masks);
  await writeSafetensors(
    path,
    names.map((name) => {
      const bits = (masks.get(name) as { bits: Uint8Array }).bits;
      return { name: `mask/${name}`, dtype: 'U8' as const, shape: [bits.length], data: bits };
    }),
    {
      format: MASK_FORMAT,
      format_version: String(MASK_FORMAT_VERSION),
      base_fingerprint: info.baseFingerprint,
      shapes: JSON.stringify(info.shapes),
      sparsity: String(info.sparsity),
      selection: info.selection,
      ...(info.threshold === undefined ? {} : { threshold: String(info.threshold) }),
      trainable: String(trainable),
      total: String(total),
    },
  );
}

export async function readMaskFile(path: string): Promise<{ masks: MaskSet; info: MaskFileInfo }> {
  const reader = await SafetensorsReader.open(path, { reason: 'InvalidTicket' });
  const fail = (problem: string, tensor?: string) =>
    new InvalidArtifactError(
      path,
      problem,
      tensor === undefined ? { reason: 'InvalidTicket' } : { tensor, reason: 'InvalidTicket' },
    );
  try {
    const meta = reader.metadata;
    if (meta.format !== MASK_FORMAT)
      throw fail(`is not a LoTA mask (__metadata__.format is ${JSON.stringify(meta.format)})`);
    if (meta.format_version !== String(MASK_FORMAT_VERSION))
      throw fail(`has mask format version ${meta.format_version}`);
    let shapes: Record<string, number[]>;
    try {
      shapes = JSON.parse(meta.shapes ?? '') as Record<string, number[]>;
    } catch {
      throw fail('has no valid __metadata__.shapes JSON');
    }
    const masks: MaskSet = new Map();
    for (const name of reader.names()) {
      if (!name.startsWith('mask/')) throw fail('is not a mask/ tensor', name);
      const tensor = name.slice('mask/'.length);
      const shape = shapes[tensor];
      if (!Array.isArray(shape)) throw fail('has no shape in __metadata__.shapes', name);
      try {
        masks.set(
          tensor,
          maskFromBits(
            (await reader.read(name)) as Uint8Array,
            shape.reduce((a, b) => a * b, 1),
          ),
        );
      } catch (error) {
        throw fail((error as Error).message, name);
      }
    }
    if (!meta.base_fingerprint) throw fail('has no base_fingerprint');
    return {
      masks,
      info: {
        baseFingerprint: meta.base_fingerprint,
        sparsity: Number(meta.sparsity),
        selection: meta.selection ?? 'global',
        ...(meta.threshold === undefined ? {} : { threshold: Number(meta.threshold) }),
        shapes,
      },
    };
  } finally {
    await reader.close();
  }
}
