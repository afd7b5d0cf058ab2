// The invariants the science run relies on, checked on every artifact it produces (not assumed):
//   - zero drift outside the mask: a LoTA model differs from its start (base, or base + earlier tickets) only at
//     the entries of its ticket's mask, bit for bit; tensors outside the targets are untouched;
//   - the ticket trains exactly the extracted mask (ticket mask = mask.safetensors);
//   - LoTTO: the masks of a chain are pairwise disjoint, and the earlier tickets' values survive unchanged.
// Each failure throws, which aborts the run: results are never reported from a run that broke one.
import { Checkpoint } from '../../trainer-image/src/io/checkpoint.ts';
import { forEachSet, getBit, overlapCount } from '../../trainer-image/src/lota/mask.ts';
import { readMaskFile } from '../../trainer-image/src/lota/mask-file.ts';
import { readTicket, type Ticket } from '../../trainer-image/src/lota/ticket.ts';

export class InvariantError extends Error {
  override name = 'InvariantError';
}

export interface Checked {
  /** Entries compared bit for bit. */
  entries: number;
}

async function tensorsOf(dir: string): Promise<Map<string, Float32Array>> {
  const checkpoint = await Checkpoint.open(dir);
  try {
    const out = new Map<string, Float32Array>();
    for (const name of checkpoint.names()) out.set(name, await checkpoint.readFloat32(name));
    return out;
  } finally {
    await checkpoint.close();
  }
}

/**
 * `adaptedDir` = `startDir` + the ticket: equal to the start bit for bit outside the ticket's mask, and at the mask
 * equal to fl32(start + δ) (how the trainer materialises tickets).
 */
export async function assertZeroDrift(startDir: string, adaptedDir: string, ticketPath: string): Promise<Checked> {
  const [start, adapted, ticket] = await Promise.all([
    tensorsOf(startDir),
    tensorsOf(adaptedDir),
    readTicket(ticketPath),
  ]);
  let entries = 0;
  for (const [name, before] of start) {
    const after = adapted.get(name);
    if (after === undefined || after.length !== before.length)
      throw new InvariantError(`${adaptedDir}: tensor ${name} is missing or resized`);
    const t = ticket.tensors.get(name);
    const expected = before.slice();
    if (t) {
      let j = 0;
      forEachSet(t.mask, (i) => {
        expected[i] = (before[i] as number) + (t.delta[j++] as number);
      });
    }
    for (let i = 0; i < before.length; i++) {
      if (!Object.is(Math.fround(expected[i] as number), after[i])) {
        const inside = t !== undefined && getBit(t.mask, i);
        throw new InvariantError(
          `${adaptedDir}: ${name}[${i}] ${inside ? 'is not start + δ' : 'drifted outside the mask'} (${before[i]} → ${after[i]})`,
        );
      }
    }
    entries += before.length;
  }
  return { entries };
}

/** The ticket's entries are exactly those of the mask file its run extracted. */
export async function assertTicketIsMask(ticketPath: string, maskPath: string): Promise<void> {
  const [ticket, { masks }] = await Promise.all([readTicket(ticketPath), readMaskFile(maskPath)]);
  for (const [name, mask] of masks) {
    const t = ticket.tensors.get(name);
    if (t === undefined) throw new InvariantError(`${ticketPath}: no entry for masked tensor ${name}`);
    if (Buffer.compare(Buffer.from(t.mask.bits), Buffer.from(mask.bits)) !== 0)
      throw new InvariantError(`${ticketPath}: ${name} trains other entries than ${maskPath} selects`);
  }
  for (const name of ticket.tensors.keys())
    if (!masks.has(name)) throw new InvariantError(`${ticketPath}: ${name} is not in ${maskPath}`);
}

/** Pairwise disjoint masks; returns the overlapping entry count (always 0, or it throws). */
export async function assertDisjoint(ticketPaths: readonly string[]): Promise<{ overlap: number }> {
  const tickets: Ticket[] = await Promise.all(ticketPaths.map((p) => readTicket(p)));
  for (let a = 0; a < tickets.length; a++) {
    for (let b = a + 1; b < tickets.length; b++) {
      for (const [name, ta] of (tickets[a] as Ticket).tensors) {
        const tb = (tickets[b] as Ticket).tensors.get(name);
        if (tb && overlapCount(ta.mask, tb.mask) > 0) {
          throw new InvariantError(`LoTTO masks overlap in ${name}: ${ticketPaths[a]} and ${ticketPaths[b]}`);
        }
      }
    }
  }
  return { overlap: 0 };
}
