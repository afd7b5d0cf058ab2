// Does a ticket's change survive the dtype the result is written in? base + δ rounded back to a bf16/f16 base's
// dtype erases every δ smaller than half a unit in the last place of its weight — at fine-tuning learning rates that
// is most of them, and the written model is then not the evaluated one. This counts, over the entries the tickets
// change (in float32), those whose written value still differs from the base's written value.
import { type Dtype, fromFloat32, storedFloat, toFloat32 } from '../io/dtype.ts';

export interface Survival {
  /** Element type of the written values. */
  dtype: Dtype;
  /** Entries whose value the tickets change (float32 arithmetic). */
  changed: number;
  /** Of those, the entries that still differ from the base once both are written in `dtype`. */
  surviving: number;
  /** surviving / changed (1 when nothing changed). */
  fraction: number;
}

export class SurvivalCounter {
  private changed = 0;
  private surviving = 0;
  readonly dtype: Dtype;
  private readonly storedValue: (x: number) => number;

  constructor(dtype: Dtype) {
    this.dtype = dtype;
    this.storedValue = storedFloat(dtype);
  }

  /** `adapted` is base + δ in float32, as it goes to the writer. */
  add(base: Float32Array, adapted: Float32Array): void {
    const b = this.written(base);
    const a = this.written(adapted);
    for (let i = 0; i < base.length; i++) {
      if (adapted[i] === base[i]) continue;
      this.changed++;
      if (!Object.is(a[i], b[i])) this.surviving++;
    }
  }

  /** The written value of a float32 value, undefined when it is written as is (float32): see ChangeCounter. */
  get stored(): ((x: number) => number) | undefined {
    return this.dtype === 'F32' ? undefined : this.storedValue;
  }

  /** Counts made by a loop that visits only the entries something changes, as add() counts them. */
  addCounts(changed: number, surviving: number): void {
    this.changed += changed;
    this.surviving += surviving;
  }

  /** A ticket's own values: a stored δ survives unless it rounds to zero. */
  addDeltas(deltas: Float32Array): void {
    const written = this.written(deltas);
    for (let i = 0; i < deltas.length; i++) {
      if (deltas[i] === 0) continue;
      this.changed++;
      if (written[i] !== 0) this.surviving++;
    }
  }

  result(): Survival {
    const fraction = this.changed === 0 ? 1 : this.surviving / this.changed;
    return { dtype: this.dtype, changed: this.changed, surviving: this.surviving, fraction };
  }

  private written(values: Float32Array): Float32Array {
    return this.dtype === 'F32' ? values : toFloat32(this.dtype, fromFloat32(this.dtype, values));
  }
}

/** One line for people: how many of the changed entries the written dtype keeps. */
export function describeSurvival(s: Survival): string {
  const pct = (100 * s.fraction).toFixed(s.fraction === 1 || s.fraction === 0 ? 0 : 2);
  const lost = s.changed - s.surviving;
  return (
    `${s.surviving} of ${s.changed} changed entries survive in ${s.dtype} (${pct}%)` +
    (lost > 0 ? `; ${lost} round back to the base value — write float32 to keep them` : '')
  );
}
