// Grouping examples into fixed-shape batches. Padding puts one example per row (segment 1, padding segment 0);
// packing fills rows with consecutive examples, each its own segment, so attention never crosses examples and
// positions restart at 0 for each one. Labels of padding are IGNORE_INDEX.
import { IGNORE_INDEX, type TokenizedExample } from './examples.ts';
import { shuffled } from './random.ts';

export interface Batch {
  batch: number;
  seqLen: number;
  inputIds: Int32Array;
  labels: Int32Array;
  segmentIds: Int32Array;
  positionIds: Int32Array;
  /** Examples it holds. */
  examples: number;
}

export interface BatchOptions {
  batchSize: number;
  maxSeqLength: number;
  padId: number;
  packing?: boolean;
  /** Shuffle with this seed before batching; omitted = keep order. */
  seed?: number;
  /** Pad every row to maxSeqLength (default: to the longest row of the batch). */
  fixedLength?: boolean;
}

type Row = TokenizedExample[];

function packRows(examples: readonly TokenizedExample[], maxSeqLength: number): Row[] {
  const rows: Row[] = [];
  let row: Row = [];
  let used = 0;
  for (const ex of examples) {
    if (used + ex.inputIds.length > maxSeqLength && row.length > 0) {
      rows.push(row);
      row = [];
      used = 0;
    }
    row.push(ex);
    used += ex.inputIds.length;
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

function toBatch(rows: readonly Row[], options: BatchOptions): Batch {
  const lengths = rows.map((r) => r.reduce((n, ex) => n + ex.inputIds.length, 0));
  const seqLen = options.fixedLength ? options.maxSeqLength : Math.max(...lengths);
  const size = rows.length * seqLen;
  const inputIds = new Int32Array(size).fill(options.padId);
  const labels = new Int32Array(size).fill(IGNORE_INDEX);
  const segmentIds = new Int32Array(size);
  const positionIds = new Int32Array(size);
  rows.forEach((row, r) => {
    let at = r * seqLen;
    row.forEach((ex, s) => {
      ex.inputIds.forEach((id, i) => {
        inputIds[at] = id;
        labels[at] = ex.labels[i] as number;
        segmentIds[at] = s + 1;
        positionIds[at] = i;
        at++;
      });
    });
  });
  return {
    batch: rows.length,
    seqLen,
    inputIds,
    labels,
    segmentIds,
    positionIds,
    examples: rows.reduce((n, r) => n + r.length, 0),
  };
}

/** All batches of one pass over the examples (the last may be smaller). */
export function makeBatches(examples: readonly TokenizedExample[], options: BatchOptions): Batch[] {
  if (!(options.batchSize >= 1)) throw new Error(`batchSize must be at least 1, got ${options.batchSize}`);
  const ordered = options.seed === undefined ? [...examples] : shuffled(examples, options.seed);
  const rows = options.packing ? packRows(ordered, options.maxSeqLength) : ordered.map((ex) => [ex]);
  const batches: Batch[] = [];
  for (let i = 0; i < rows.length; i += options.batchSize)
    batches.push(toBatch(rows.slice(i, i + options.batchSize), options));
  return batches;
}
