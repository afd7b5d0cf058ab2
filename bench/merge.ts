// Merge benchmark: 3 LoTA tickets (density 0.1 over the projection weights) merged into a seeded Llama-shaped base of
// ~110M parameters, by our streaming merge and by MergeKit (PyPI mergekit, CPU, float32) on the same inputs, in one
// run. MergeKit cannot read tickets, so it gets the dense models base + ticket_i; ours is timed on the tickets and on
// those same dense models. Each merge runs in its own process; printed: wall and CPU time of the merge, CPU time of
// the whole process (imports included), peak RSS, and the ratios ours / MergeKit. CPU time is the figure to trust on a
// shared machine: wall time includes waiting for cores others use. Also timed, in its own process: the I/O floor, a
// plain copy of the base's weight files to a new directory (read the base once, write an output of the same size
// once), against which the ticket merge's wall time is put. Targets (issue 17): merge CPU sum ≤ 0.33× MergeKit,
// ties ≤ 0.5×; ticket merge wall ≤ 1.5× the I/O floor. The ticket merge is timed twice: hashing the base for the
// fingerprint the tickets are checked against, and with that fingerprint recorded (spec.fingerprintCache, as a merge
// over a base that an earlier merge already read finds it; trainer-image/src/lota/fingerprint-cache.ts).
// Fairness: before each timed process its input files are read through once (so every run starts with them in the
// page cache), `sync` runs (so none pays for writing back an earlier run's output while it is timed), and only then
// is the output of the run before it of the same kind removed. Every kind also runs once untimed first, so each timed
// run starts alike: with the memory and disk blocks of an output of its size just freed. (On the 2-core KVM
// development machine, writing 440 MB into memory freed a few seconds earlier takes ~1 s of CPU, into memory just
// freed ~0.1 s: the host takes back the guest's free pages. Before this ordering the I/O floor always ran in the slow
// state and the ticket merge in the fast one. Other processes on the machine still move it between the two states
// now and then, so single runs scatter: compare the medians.)
// The ticket merge and the I/O floor alternate `repeats` times and MergeKit runs `repeats` times; the ratios are of
// medians (each run's figures are printed too), and the wall ratio to the floor also of the best runs of each (load
// only ever adds time, so best against best compares like with like when the medians straddle the two states); the
// floor target counts as met only when both ratios meet it. Not a test.
//   node bench/merge.ts [layers=12] [methods=sum,ties] [repeats=5]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { tool } from '../scripts/toolchain.ts';
import { Checkpoint, CheckpointWriter } from '../trainer-image/src/io/checkpoint.ts';
import { fingerprintCheckpoint } from '../trainer-image/src/lota/fingerprint.ts';
import { RACY_MARGIN_NS } from '../trainer-image/src/lota/fingerprint-cache.ts';
import { maskWhere } from '../trainer-image/src/lota/mask.ts';
import { seededRandom } from '../trainer-image/src/lota/random.ts';
import { type TicketTensor, writeTicket } from '../trainer-image/src/lota/ticket.ts';
import type { MergeSpec } from '../trainer-image/src/merge/run.ts';
import { median } from './stats.ts';

const layers = Number(process.argv[2] ?? 12);
const methods = (process.argv[3] ?? 'sum,ties').split(',');
const repeats = Number(process.argv[4] ?? 5);
const hidden = 768;
const intermediate = 2048;
const vocab = 32000;
const config = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: vocab,
  hidden_size: hidden,
  intermediate_size: intermediate,
  num_hidden_layers: layers,
  num_attention_heads: 12,
  num_key_value_heads: 12,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: true,
  dtype: 'float32',
};
const shapes = new Map<string, number[]>([['model.embed_tokens.weight', [vocab, hidden]]]);
for (let l = 0; l < layers; l++) {
  const p = `model.layers.${l}`;
  for (const m of ['q', 'k', 'v', 'o']) shapes.set(`${p}.self_attn.${m}_proj.weight`, [hidden, hidden]);
  shapes.set(`${p}.mlp.gate_proj.weight`, [intermediate, hidden]);
  shapes.set(`${p}.mlp.up_proj.weight`, [intermediate, hidden]);
  shapes.set(`${p}.mlp.down_proj.weight`, [hidden, intermediate]);
  shapes.set(`${p}.input_layernorm.weight`, [hidden]);
  shapes.set(`${p}.post_attention_layernorm.weight`, [hidden]);
}
shapes.set('model.norm.weight', [hidden]);
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const parameters = [...shapes.values()].reduce((a, s) => a + size(s), 0);
const isTarget = (name: string) => name.endsWith('_proj.weight');

const dir = mkdtempSync(join(tmpdir(), 'lota-bench-merge-'));
const python = tool('LOTA_PYTHON');
const mergekitScript = fileURLToPath(new URL('../trainer-image/test/merge/python/mergekit_merge.py', import.meta.url));
const worker = fileURLToPath(new URL('./merge-worker.ts', import.meta.url));

function baseValues(name: string, index: number): Float32Array {
  const random = seededRandom(index + 1);
  const n = size(shapes.get(name) as number[]);
  const out = new Float32Array(n);
  if (name.endsWith('norm.weight')) for (let i = 0; i < n; i++) out[i] = 1 + (random() - 0.5) * 0.1;
  else for (let i = 0; i < n; i++) out[i] = (random() - 0.5) * 0.04;
  return out;
}

function ticketDelta(ticket: number, index: number, n: number): Float32Array {
  const random = seededRandom(1_000_003 * (ticket + 1) + index);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) if (random() < 0.1) out[i] = (random() - 0.5) * 2e-3;
  return out;
}

async function makeInputs(): Promise<void> {
  const names = [...shapes.keys()];
  const specs = names.map((name) => ({ name, dtype: 'F32' as const, shape: shapes.get(name) as number[] }));
  const base = await CheckpointWriter.create(join(dir, 'base'), specs, { maxShardBytes: 2e9 });
  const dense = await Promise.all(
    [0, 1, 2].map((t) => CheckpointWriter.create(join(dir, `dense${t}`), specs, { maxShardBytes: 2e9 })),
  );
  const tickets = [0, 1, 2].map(() => new Map<string, TicketTensor>());
  for (const [index, name] of names.entries()) {
    const values = baseValues(name, index);
    await base.write(name, values);
    for (const t of [0, 1, 2]) {
      if (!isTarget(name)) {
        await (dense[t] as CheckpointWriter).write(name, values);
        continue;
      }
      const delta = ticketDelta(t, index, values.length);
      const mask = maskWhere(delta, (x) => x !== 0);
      tickets[t]?.set(name, { shape: shapes.get(name) as number[], mask, delta: delta.filter((x) => x !== 0) });
      await (dense[t] as CheckpointWriter).write(
        name,
        values.map((x, i) => x + (delta[i] as number)),
      );
    }
  }
  await base.close();
  for (const d of dense) await d.close();
  for (const d of ['base', 'dense0', 'dense1', 'dense2'])
    writeFileSync(join(dir, d, 'config.json'), JSON.stringify(config));
  const checkpoint = await Checkpoint.open(join(dir, 'base'));
  const fingerprint = await fingerprintCheckpoint(checkpoint);
  await checkpoint.close();
  for (const t of [0, 1, 2]) {
    await writeTicket(join(dir, `ticket${t}.safetensors`), {
      info: {
        baseFingerprint: fingerprint,
        sparsity: 0.9,
        method: 'lota',
        task: `task${t}`,
        source: 'bench',
        valuesDtype: 'F32',
      },
      tensors: tickets[t] as Map<string, TicketTensor>,
    });
  }
}

interface Measured {
  /** The output's sha256 and where the base's fingerprint came from (ours only). */
  sha256?: string;
  baseFingerprint?: { recorded: boolean };
  seconds: number[];
  cpuSeconds: number[];
  processCpuSeconds: number;
  maxRssBytes: number;
  processSeconds: number;
  largestTensor?: number;
}

/** Reads the files (a directory: its files) through once, so that they are in the page cache. */
function warm(paths: readonly string[]): void {
  const buffer = Buffer.allocUnsafe(8 << 20);
  for (const path of paths) {
    const files = statSync(path).isDirectory() ? readdirSync(path).map((f) => join(path, f)) : [path];
    for (const file of files) {
      const fd = openSync(file, 'r');
      while (readSync(fd, buffer, 0, buffer.length, null) > 0);
      closeSync(fd);
    }
  }
}

/**
 * Times one process whose inputs are `inputs` and whose output is `output`, with the inputs in the page cache, no
 * other run's writes pending, and the previous output at `output` removed just before it starts (see the header).
 */
function runProcess(command: string, args: string[], inputs: readonly string[], output: string): Measured {
  warm(inputs);
  // earlier runs' outputs reach the disk before this one starts, so it does not share the disk with their write-back
  spawnSync('sync');
  rmSync(output, { recursive: true, force: true });
  const start = performance.now();
  const child = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, OMP_NUM_THREADS: '2' },
  });
  const processSeconds = (performance.now() - start) / 1000;
  if (child.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${child.stderr}`);
  const last = child.stdout.trim().split('\n').at(-1) as string;
  return { ...(JSON.parse(last) as Omit<Measured, 'processSeconds'>), processSeconds };
}

function ours(label: string, spec: MergeSpec, mode: string[] = []): Measured {
  const file = join(dir, `${label}.json`);
  writeFileSync(file, JSON.stringify(spec));
  if (spec.output.kind !== 'model') throw new Error('the bench writes model outputs');
  return runProcess(
    process.execPath,
    [worker, ...mode, file],
    [spec.baseModel, ...spec.inputs.map((i) => i.path)],
    spec.output.dir,
  );
}

const TARGETS: Record<string, number> = { sum: 0.33, ties: 0.5 };
const IO_FLOOR_TARGET = 1.5;

/** Met only when both ratios are: a median can pass on a floor slowed by the machine's page state (header). */
function floorVerdict(medians: number, best: number): string {
  const met = (x: number) => x <= IO_FLOOR_TARGET;
  if (met(medians) && met(best)) return 'met';
  if (met(medians)) return 'NOT met on best runs';
  if (met(best)) return 'NOT met on medians';
  return 'NOT met';
}

/**
 * `repeats` MergeKit merges after an untimed one, each in a process of its own (MergeKit keeps loaded models in a
 * process-wide cache, so a second merge in the same process would not read its inputs again); the last one's output
 * is kept.
 */
function mergekit(label: string, method: string, density: number | undefined): Measured {
  const file = join(dir, `mk-${label}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      merge_method: method,
      base_model: join(dir, 'base'),
      models: [0, 1, 2].map((t) => ({
        model: join(dir, `dense${t}`),
        parameters: { weight: 1, ...(density === undefined ? {} : { density }) },
      })),
      dtype: 'float32',
    }),
  );
  const out = join(dir, `out-mk-${label}`);
  const run = () =>
    runProcess(
      python,
      [mergekitScript, file, out],
      ['base', 'dense0', 'dense1', 'dense2'].map((d) => join(dir, d)),
      out,
    );
  run();
  const runs: Measured[] = [];
  for (let r = 0; r < repeats; r++) runs.push(run());
  return combine(runs);
}

/** Several runs of the same process as one Measured: per-merge figures listed, whole-process figures as medians. */
function combine(runs: Measured[]): Measured {
  return {
    ...(runs[0] as Measured),
    seconds: runs.flatMap((r) => r.seconds),
    cpuSeconds: runs.flatMap((r) => r.cpuSeconds),
    processCpuSeconds: median(runs.map((r) => r.processCpuSeconds)),
    processSeconds: median(runs.map((r) => r.processSeconds)),
    maxRssBytes: Math.max(...runs.map((r) => r.maxRssBytes)),
  };
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const s = (x: number | undefined) => `${(x as number).toFixed(2).padStart(7)} s`;
const each = (xs: number[]) => (xs.length > 1 ? ` (${xs.map((x) => x.toFixed(2)).join(', ')})` : '');
const row = (name: string, m: Measured) =>
  `${name.padEnd(26)} merge wall ${s(median(m.seconds))} cpu ${s(median(m.cpuSeconds))} | process wall ${s(m.processSeconds)} cpu ${s(m.processCpuSeconds)} | peak RSS ${mb(m.maxRssBytes).padStart(9)}`;
const runs = (name: string, m: Measured) =>
  m.seconds.length > 1 ? `  ${name}: wall${each(m.seconds)} s, cpu${each(m.cpuSeconds)} s` : undefined;

try {
  console.log(
    `base: ${(parameters / 1e6).toFixed(1)}M parameters (${layers} layers, float32); 3 tickets at density 0.1`,
  );
  const start = performance.now();
  await makeInputs();
  console.log(`inputs made in ${((performance.now() - start) / 1000).toFixed(1)} s under ${dir}`);
  for (const method of methods) {
    const density = method === 'ties' ? 0.5 : undefined;
    const mkMethod = method === 'sum' ? 'task_arithmetic' : method.replace('-', '_');
    const parameters = density === undefined ? {} : { density };
    const spec = (inputs: string[], out: string, fingerprintCache?: string): MergeSpec => ({
      method: method as MergeSpec['method'],
      baseModel: join(dir, 'base'),
      inputs: inputs.map((path, i) => ({ name: `t${i}`, path })),
      parameters,
      output: { kind: 'model', dir: join(dir, out), dtype: 'f32' },
      ...(fingerprintCache && { fingerprintCache }),
    });
    const ticketPaths = [0, 1, 2].map((t) => join(dir, `ticket${t}.safetensors`));
    const ticketMerge = () => ours(`${method}-tickets`, spec(ticketPaths, `out-${method}-t`));
    const fingerprints = join(dir, 'fingerprints');
    const recordedMerge = () => ours(`${method}-recorded`, spec(ticketPaths, `out-${method}-r`, fingerprints));
    const copyBase = () => ours(`${method}-floor`, spec([], `out-${method}-floor`), ['--io-floor']);
    const denseMerge = () =>
      ours(
        `${method}-dense`,
        spec(
          [0, 1, 2].map((t) => join(dir, `dense${t}`)),
          `out-${method}-d`,
        ),
      );
    // untimed first runs (see the header); the second records the fingerprint, which it does only for files older
    // than the cache's margin
    ticketMerge();
    const age = Date.now() - statSync(join(dir, 'base', 'model.safetensors')).ctimeMs;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(RACY_MARGIN_NS / 1_000_000n) + 100 - age)));
    recordedMerge();
    copyBase();
    const ticketRuns: Measured[] = [];
    const recordedRuns: Measured[] = [];
    const floorRuns: Measured[] = [];
    for (let r = 0; r < repeats; r++) {
      ticketRuns.push(ticketMerge());
      recordedRuns.push(recordedMerge());
      floorRuns.push(copyBase());
    }
    if (recordedRuns.some((m) => m.baseFingerprint?.recorded !== true))
      throw new Error('a merge with the fingerprint recorded hashed the base');
    if (ticketRuns.some((m) => m.baseFingerprint?.recorded !== false))
      throw new Error('a merge without the fingerprint cache took a recorded fingerprint');
    if (new Set([...ticketRuns, ...recordedRuns].map((m) => m.sha256)).size !== 1)
      throw new Error('the ticket merges wrote different outputs');
    const a = combine(ticketRuns);
    const known = combine(recordedRuns);
    const floor = combine(floorRuns);
    denseMerge();
    const b = denseMerge();
    const c = mergekit(method, mkMethod, density);
    console.log(
      `\n${method} (MergeKit ${mkMethod}${density === undefined ? '' : `, density ${density}`}), medians of ${repeats} runs where repeated:`,
    );
    console.log(row('ours, 3 tickets', a));
    console.log(row('  fingerprint recorded', known));
    console.log(row('ours, 3 dense models', b));
    console.log(row('MergeKit, 3 dense models', c));
    console.log(row('I/O floor (copy the base)', floor));
    for (const [name, m] of [
      ['ours, 3 tickets', a],
      ['  fingerprint recorded', known],
      ['MergeKit', c],
      ['I/O floor', floor],
    ] as const) {
      const line = runs(name, m);
      if (line) console.log(line);
    }
    const ratio = (x: number | undefined, y: number | undefined) => ((x as number) / (y as number)).toFixed(2);
    const both = (f: (m: Measured) => number | undefined) => `tickets ${ratio(f(a), f(c))}, dense ${ratio(f(b), f(c))}`;
    console.log(
      `ratios ours/MergeKit  merge cpu: ${both((m) => median(m.cpuSeconds))}; merge wall: ${both((m) => median(m.seconds))}`,
    );
    console.log(
      `                      process cpu: ${both((m) => m.processCpuSeconds)}; peak RSS: ${both((m) => m.maxRssBytes)}`,
    );
    const target = TARGETS[method];
    for (const [label, m] of [
      ['ticket merge', a],
      ['ticket merge, fingerprint recorded,', known],
    ] as const) {
      const cpuRatio = median(m.cpuSeconds) / median(c.cpuSeconds);
      const floorRatio = median(m.seconds) / median(floor.seconds);
      const bestRatio = Math.min(...m.seconds) / Math.min(...floor.seconds);
      console.log(
        `${label} cpu / MergeKit cpu: ${cpuRatio.toFixed(2)}${target === undefined ? '' : ` (target ≤ ${target}: ${cpuRatio <= target ? 'met' : 'NOT met'})`}`,
      );
      console.log(
        `${label} wall / I/O floor wall: medians ${floorRatio.toFixed(2)}, best runs ${bestRatio.toFixed(2)}${method === 'sum' ? ` (target ≤ ${IO_FLOOR_TARGET}: ${floorVerdict(floorRatio, bestRatio)})` : ''}; cpu ${(median(m.cpuSeconds) / median(floor.cpuSeconds)).toFixed(2)}`,
      );
    }
    const bound = (9 * 3 + 21) * (a.largestTensor ?? 0);
    console.log(
      `stated working-set bound (9N + 21)·n bytes, N = 3, n = ${a.largestTensor} (largest tensor): ${mb(bound)}`,
    );
    // The outputs must agree, or the timings compare different work.
    const x = await Checkpoint.open(join(dir, `out-${method}-d`));
    const y = await Checkpoint.open(join(dir, `out-mk-${method}`));
    let maxDiff = 0;
    for (const name of x.names()) {
      const p = await x.readFloat32(name);
      const q = await y.readFloat32(name);
      for (let i = 0; i < p.length; i++) maxDiff = Math.max(maxDiff, Math.abs((p[i] as number) - (q[i] as number)));
    }
    await x.close();
    await y.close();
    console.log(`max |ours − MergeKit| over all weights: ${maxDiff.toExponential(2)}`);
    for (const out of [
      `out-${method}-t`,
      `out-${method}-r`,
      `out-${method}-d`,
      `out-mk-${method}`,
      `out-${method}-floor`,
    ])
      rmSync(join(dir, out), { recursive: true, force: true });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
