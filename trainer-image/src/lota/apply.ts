// base model directory + tickets → model directory, one tensor at a time (memory: one tensor plus the tickets).
// Output dtype: as asked, else f32 when a ticket holds f32 values (so base + δ is written exactly), else the base's.

import * as tf from '@tensorflow/tfjs';
import { Checkpoint, CheckpointWriter, defaultOutputDtype } from '../io/checkpoint.ts';
import type { OutputDtype } from '../io/dtype.ts';
import type { Parameters } from '../model/llama.ts';
import { fingerprintCheckpoint } from './fingerprint.ts';
import { applyTicketTensor, assertTicketFitsBase, readTicket, type Ticket, ticketShapes } from './ticket.ts';

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
    let fingerprint: Promise<string> | undefined;
    for (const { path, ticket } of tickets) {
      await assertTicketFitsBase(`ticket ${path}`, ticketShapes(ticket), {
        shapeOf: (name) => (base.has(name) ? base.info(name).shape : undefined),
        fingerprint: () => {
          fingerprint ??= fingerprintCheckpoint(base);
          return fingerprint;
        },
      });
    }
    // f32 deltas on a narrower base would be rounded away on writing: keep f32 then, so apply stays bit-exact.
    const wide = tickets.some(({ ticket }) => ticket.info.valuesDtype === 'F32' || ticket.info.valuesDtype === 'F64');
    const names = base.names();
    const writer = await CheckpointWriter.create(
      outDir,
      names.map((name) => base.info(name)),
      { dtype: options.dtype ?? (wide ? 'f32' : defaultOutputDtype(base)), sideFilesFrom: baseDir },
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

/**
 * Adds tickets to parameters held in memory (base + δ on each ticket's entries, in order), after checking that each
 * belongs to the base whose fingerprint is given. `what` names each ticket in errors.
 */
export async function applyTicketsInMemory(
  params: Parameters,
  tickets: readonly { what: string; ticket: Ticket }[],
  fingerprint: string,
): Promise<void> {
  for (const { what, ticket } of tickets) {
    await assertTicketFitsBase(what, ticketShapes(ticket), {
      shapeOf: (name) => params.get(name)?.shape,
      fingerprint: () => fingerprint,
    });
    for (const [name, t] of ticket.tensors) {
      const param = params.get(name) as tf.Variable;
      const next = applyTicketTensor(name, param.dataSync() as Float32Array, t);
      tf.tidy(() => param.assign(tf.tensor(next, param.shape)));
    }
  }
}
