// base model directory + tickets → model directory, one tensor at a time (memory: one tensor plus the tickets).
// Output dtype: as asked, else f32 when a ticket holds f32 values (so base + δ is written exactly), else the base's.

import { BaseModelMismatchError } from '../errors.ts';
import { Checkpoint, CheckpointWriter, type OutputDtype } from '../io/checkpoint.ts';
import type { Dtype } from '../io/dtype.ts';
import { fingerprintCheckpoint } from './fingerprint.ts';
import { applyTicketTensor, assertSameBase, readTicket, type Ticket } from './ticket.ts';

const OUTPUT_OF: Partial<Record<Dtype, OutputDtype>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

/** Checks every ticket against the base (fingerprint, tensor names, shapes); throws BaseModelMismatchError. */
export function checkTickets(
  base: Checkpoint,
  fingerprint: string,
  tickets: readonly { path: string; ticket: Ticket }[],
) {
  for (const { path, ticket } of tickets) {
    assertSameBase(ticket, fingerprint, `ticket ${path}`);
    for (const [name, t] of ticket.tensors) {
      if (!base.has(name)) throw new BaseModelMismatchError(`ticket ${path}: tensor ${name} is not in the base model`);
      const shape = base.info(name).shape;
      if (shape.join(',') !== t.shape.join(',')) {
        throw new BaseModelMismatchError(`ticket ${path}: ${name} has shape [${t.shape}], the base has [${shape}]`);
      }
    }
  }
}

/** The output dtype a model written from this base gets by default: its first float tensor's. */
export function baseOutputDtype(base: Checkpoint): OutputDtype {
  for (const info of base.tensors.values()) {
    const out = OUTPUT_OF[info.dtype];
    if (out) return out;
  }
  return 'f32';
}

export async function applyTickets(
  baseDir: string,
  ticketPaths: readonly string[],
  outDir: string,
  options: { dtype?: OutputDtype } = {},
): Promise<{ tensors: number; changed: number }> {
  const base = await Checkpoint.open(baseDir);
  try {
    const tickets = [];
    for (const path of ticketPaths) tickets.push({ path, ticket: await readTicket(path) });
    checkTickets(base, await fingerprintCheckpoint(base), tickets);
    // f32 deltas on a narrower base would be rounded away on writing: keep f32 then, so apply stays bit-exact.
    const wide = tickets.some(({ ticket }) => ticket.info.valuesDtype === 'F32' || ticket.info.valuesDtype === 'F64');
    const names = base.names();
    const writer = await CheckpointWriter.create(
      outDir,
      names.map((name) => base.info(name)),
      { dtype: options.dtype ?? (wide ? 'f32' : baseOutputDtype(base)), sideFilesFrom: baseDir },
    );
    let changed = 0;
    try {
      for (const name of names) {
        let values = await base.readFloat32(name);
        for (const { ticket } of tickets) {
          const t = ticket.tensors.get(name);
          if (t) {
            values = applyTicketTensor(name, values, t);
            changed += t.delta.length;
          }
        }
        await writer.write(name, values);
      }
    } catch (error) {
      await writer.abort();
      throw error;
    }
    await writer.close();
    return { tensors: names.length, changed };
  } finally {
    await base.close();
  }
}
