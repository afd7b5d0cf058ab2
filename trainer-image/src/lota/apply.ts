// base model directory + tickets → model directory, one tensor at a time (memory: one tensor plus the tickets).
// Output dtype: as asked, else f32 — base + δ rounded back to a bf16/f16 base would erase most fine-tuning deltas —
// and the result says how many changed entries survive in the written dtype (survival.ts).
import * as tf from '@tensorflow/tfjs';
import { Checkpoint, CheckpointWriter } from '../io/checkpoint.ts';
import { OUTPUT_DTYPES, type OutputDtype } from '../io/dtype.ts';
import type { Parameters } from '../model/llama.ts';
import { fingerprintCheckpoint } from './fingerprint.ts';
import { type Survival, SurvivalCounter } from './survival.ts';
import { applyTicketTensor, assertTicketFitsBase, readTicket, type Ticket, ticketShapes } from './ticket.ts';

export async function applyTickets(
  baseDir: string,
  ticketPaths: readonly string[],
  outDir: string,
  options: { dtype?: OutputDtype } = {},
): Promise<{ tensors: number; changed: number; dtype: OutputDtype; survival: Survival }> {
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
    const dtype = options.dtype ?? 'f32';
    const survival = new SurvivalCounter(OUTPUT_DTYPES[dtype].dtype);
    const names = base.names();
    const writer = await CheckpointWriter.create(
      outDir,
      names.map((name) => base.info(name)),
      { dtype, sideFilesFrom: baseDir },
    );
    let changed = 0;
    try {
      for (const name of names) {
        const original = await base.readFloat32(name);
        let values = original;
        for (const { ticket } of tickets) {
          const t = ticket.tensors.get(name);
          if (t) {
            values = applyTicketTensor(name, values, t);
            changed += t.delta.length;
          }
        }
        if (values !== original) survival.add(original, values);
        await writer.write(name, values);
      }
    } catch (error) {
      await writer.abort();
      throw error;
    }
    await writer.close();
    return { tensors: names.length, changed, dtype, survival: survival.result() };
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
