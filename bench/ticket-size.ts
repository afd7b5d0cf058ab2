// Ticket bytes vs a dense fp16 delta of the same target tensors: both written as real safetensors files, at several
// densities, with the base model's projection weights. The ticket stores each tensor's mask as a bitmask (1 bit per
// entry) or as LEB128 index gaps (≈ 8–16 bits per trained entry), whichever is smaller, + a 16-bit value per
// trained entry (values_dtype F16): min(1, ~8d…16d) + 16·d bits per entry vs 16. Each ticket is then read back by
// python/lota_ticket.py (into torch tensors) and compared entry for entry with our reader.
//   node bench/ticket-size.ts [--model DIR]   (Python: LOTA_PYTHON or .lota/env, as the tests)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_TARGETS, targetMatcher } from '../api/src/targets.ts';
import { tool } from '../scripts/toolchain.ts';
import { Checkpoint } from '../trainer-image/src/io/checkpoint.ts';
import { SafetensorsReader, writeSafetensors } from '../trainer-image/src/io/safetensors.ts';
import { globalTopK } from '../trainer-image/src/lota/extract.ts';
import { fingerprintCheckpoint } from '../trainer-image/src/lota/fingerprint.ts';
import { forEachSet } from '../trainer-image/src/lota/mask.ts';
import { seededRandom } from '../trainer-image/src/lota/random.ts';
import { readTicket, type Ticket, ticketTensor, writeTicket } from '../trainer-image/src/lota/ticket.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: fileURLToPath(new URL('../trainer-image/assets/base-model', import.meta.url)) },
  },
});
const checkpoint = await Checkpoint.open(values.model as string);
const isTarget = targetMatcher(DEFAULT_TARGETS);
const names = checkpoint.names().filter(isTarget);
const base = new Map<string, Float32Array>();
for (const n of names) base.set(n, await checkpoint.readFloat32(n));
const fingerprint = await fingerprintCheckpoint(checkpoint);
await checkpoint.close();

// A task-vector-like Δ: small normal-ish perturbations.
const random = seededRandom(11);
const deltas = new Map(
  [...base].map(([n, v]) => [n, Float32Array.from(v, () => (random() + random() + random() - 1.5) * 1e-3)]),
);
const entries = [...base.values()].reduce((s, v) => s + v.length, 0);
const dir = mkdtempSync(join(tmpdir(), 'lota-ticket-size-'));
try {
  const densePath = join(dir, 'dense-f16.safetensors');
  await writeSafetensors(
    densePath,
    names.map((n) => ({
      name: n,
      dtype: 'F16' as const,
      shape: checkpoint.info(n).shape,
      data: deltas.get(n) as Float32Array,
    })),
  );
  const dense = statSync(densePath).size;
  console.log(
    `${names.length} target tensors, ${entries.toLocaleString()} entries; dense fp16 delta: ${dense.toLocaleString()} bytes`,
  );
  console.log('density   ticket bytes   ticket/dense   bits per entry (file)   bitmask bound 1+16d   mask coding');
  const written: string[] = [];
  for (const density of [0.5, 0.1, 0.01, 0.001]) {
    const { masks } = globalTopK(new Map([...deltas].map(([n, d]) => [n, d.slice()])), 1 - density);
    const trained = new Map(
      [...base].map(([n, v]) => {
        const out = v.slice();
        const d = deltas.get(n) as Float32Array;
        const m = masks.get(n);
        for (let i = 0; i < out.length; i++)
          if (m && ((m.bits[i >> 3] as number) >> (i & 7)) & 1) out[i] = (out[i] as number) + (d[i] as number);
        return [n, out];
      }),
    );
    const ticket: Ticket = {
      info: {
        baseFingerprint: fingerprint,
        sparsity: 1 - density,
        method: 'lota',
        task: 'bench',
        source: 'bench',
        valuesDtype: 'F16',
      },
      tensors: new Map(
        names.map((n) => [
          n,
          ticketTensor(
            n,
            [...checkpoint.info(n).shape],
            base.get(n) as Float32Array,
            trained.get(n) as Float32Array,
            masks.get(n) as never,
            'F16',
          ),
        ]),
      ),
    };
    const path = join(dir, `ticket-${density}.safetensors`);
    const { bytes } = await writeTicket(path, ticket);
    written.push(path);
    const codings = Object.values(JSON.parse((await readHeader(path)).mask_coding ?? '{}') as Record<string, string>);
    const gaps = codings.filter((c) => c === 'gaps').length;
    console.log(
      `${String(density).padEnd(10)}${bytes.toLocaleString().padEnd(15)}${(bytes / dense).toFixed(4).padEnd(15)}${((bytes * 8) / entries).toFixed(3).padEnd(24)}${(1 + 16 * density).toFixed(3).padEnd(22)}${gaps}/${codings.length} tensors as gaps`,
    );
  }
  // Round trip through the Python reader: the same entries and values as ours, for every ticket above.
  const dumps = JSON.parse(
    execFileSync(
      tool('LOTA_PYTHON'),
      [fileURLToPath(new URL('../python/lota_ticket.py', import.meta.url)), '--json', ...written],
      {
        maxBuffer: 1 << 30,
        encoding: 'utf8',
      },
    ),
  ) as Record<string, { tensors: Record<string, { indices: number[]; values: number[] }> }>;
  for (const path of written) {
    const ours = await readTicket(path);
    let compared = 0;
    for (const [name, t] of ours.tensors) {
      const theirs = dumps[path]?.tensors[name];
      const idx: number[] = [];
      forEachSet(t.mask, (i) => idx.push(i));
      const same =
        theirs !== undefined &&
        theirs.indices.length === idx.length &&
        idx.every((i, k) => theirs.indices[k] === i && theirs.values[k] === t.delta[k]);
      if (!same) throw new Error(`python/lota_ticket.py disagrees with our reader on ${name} of ${path}`);
      compared += idx.length;
    }
    console.log(
      `python/lota_ticket.py round trip ${path.split('/').at(-1)}: ${compared.toLocaleString()} entries identical`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function readHeader(path: string): Promise<Record<string, string>> {
  const reader = await SafetensorsReader.open(path);
  try {
    return reader.metadata;
  } finally {
    await reader.close();
  }
}
