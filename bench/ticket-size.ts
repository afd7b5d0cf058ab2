// Ticket bytes vs a dense fp16 delta of the same target tensors: both written as real safetensors files, at several
// densities, with the base model's projection weights. The ticket stores 1 mask bit per entry + a 16-bit value per
// trained entry (values_dtype F16): 1 + 16·d bits per entry vs 16.
//   node bench/ticket-size.ts [--model DIR]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_TARGETS, targetMatcher } from '../api/src/targets.ts';
import { Checkpoint } from '../trainer-image/src/io/checkpoint.ts';
import { writeSafetensors } from '../trainer-image/src/io/safetensors.ts';
import { globalTopK } from '../trainer-image/src/lota/extract.ts';
import { fingerprintCheckpoint } from '../trainer-image/src/lota/fingerprint.ts';
import { seededRandom } from '../trainer-image/src/lota/random.ts';
import { type Ticket, ticketTensor, writeTicket } from '../trainer-image/src/lota/ticket.ts';

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
  console.log('density   ticket bytes   ticket/dense   bits per entry (file)   1+16d');
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
    const { bytes } = await writeTicket(join(dir, `ticket-${density}.safetensors`), ticket);
    console.log(
      `${String(density).padEnd(10)}${bytes.toLocaleString().padEnd(15)}${(bytes / dense).toFixed(4).padEnd(15)}${((bytes * 8) / entries).toFixed(3).padEnd(24)}${(1 + 16 * density).toFixed(3)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
