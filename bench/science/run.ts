// `npm run science [-- smoke]`: the small-scale reproduction of the LoTA paper's three claims (LOTA.md), every
// model trained and merged by the trainer's own code, every number measured in this run. Writes the raw results
// (JSON), the plots and docs/results.md (full profile) or out/science/smoke/results.md (smoke profile).
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { selectBackend } from '../../trainer-image/src/backend/select.ts';
import { overlapCount } from '../../trainer-image/src/lota/mask.ts';
import { readTicket } from '../../trainer-image/src/lota/ticket.ts';
import { runMerge } from '../../trainer-image/src/merge/run.ts';
import { TextTokenizer } from '../../trainer-image/src/tokenizer/tokenizer.ts';
import { type Adapted, type AdaptOptions, adapt, type Method } from './adapt.ts';
import { PROFILES, type ScienceConfig } from './config.ts';
import { type EvalSet, loadEvalSet, scoreModel } from './evaluate.ts';
import { assertDisjoint, assertTicketIsMask, assertZeroDrift } from './invariants.ts';
import { renderResults } from './report.ts';
import { restrictToTargets } from './restrict.ts';
import type { MergeRow, MergeSweepMethod, Results, Scores, SweepRow } from './results.ts';
import { generateSplit, TASKS, type TaskName, writeSplit } from './tasks.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BASE = join(ROOT, 'trainer-image/assets/base-model');

// `run.ts <profile>` runs the sweep, then one worker process per seed (`run.ts <profile> --seed <s> --lr <json>`) in
// parallel, then merges their results and renders the report.
// `run.ts render` only re-renders docs/results.md and the plots from docs/results/results.json (the raw results a
// full run commits next to its page), e.g. after a change to the report's wording; the page then names both commits.
if (process.argv[2] === 'render') {
  const raw = JSON.parse(await readFile(join(ROOT, 'docs/results/results.json'), 'utf8')) as Results;
  const python = execFileSync('bash', [join(ROOT, 'bench/science/setup-plot.sh')], { encoding: 'utf8' }).trim();
  execFileSync(
    python,
    [join(ROOT, 'bench/science/plot.py'), join(ROOT, 'docs/results/results.json'), join(ROOT, 'docs/results')],
    {
      stdio: 'inherit',
    },
  );
  await writeFile(join(ROOT, 'docs/results.md'), renderResults(raw, 'results', git('rev-parse', 'HEAD')));
  process.stdout.write('rendered docs/results.md from docs/results/results.json\n');
  process.exit(0);
}
const profile = (process.argv[2] ?? 'full') as ScienceConfig['profile'];
const profileConfig = PROFILES[profile];
if (profileConfig === undefined) {
  process.stderr.write(`usage: run.ts [full|smoke|render] (got ${process.argv[2]})\n`);
  process.exit(2);
}
const workerSeed = process.argv[3] === '--seed' ? Number(process.argv[4]) : undefined;
const workerLr = process.argv[5] === '--lr' ? (JSON.parse(process.argv[6] ?? '{}') as Results['chosenLr']) : undefined;
const workerMerge =
  process.argv[7] === '--merge'
    ? (JSON.parse(process.argv[8] ?? '{}') as NonNullable<Results['chosenMerge']>)
    : undefined;
const config: ScienceConfig = workerSeed === undefined ? profileConfig : { ...profileConfig, seeds: [workerSeed] };
const WORK = join(ROOT, 'out/science', profile);
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const who = workerSeed === undefined ? '' : ` seed ${workerSeed}`;
const log = (line: string) => process.stdout.write(`[${elapsed().toFixed(0).padStart(5)} s${who}] ${line}\n`);

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

if (workerSeed === undefined) await rm(WORK, { recursive: true, force: true });
await mkdir(WORK, { recursive: true });
const backend = await selectBackend(undefined, log);
const tokenizer = await TextTokenizer.load(BASE);
const [A, B, C] = config.tasks;

interface TaskData {
  train: string;
  eval: EvalSet;
}
const dataCache = new Map<string, TaskData>();
async function data(task: TaskName, seed: number): Promise<TaskData> {
  const key = `${task}/${seed}`;
  const cached = dataCache.get(key);
  if (cached) return cached;
  const split = generateSplit(
    TASKS[task],
    seed * 1000 + config.tasks.indexOf(task),
    config.trainSize,
    config.evalSize,
    'messages',
  );
  const paths = await writeSplit(join(WORK, 'data', `seed-${seed}`), task, split);
  const d = { train: paths.train, eval: await loadEvalSet(task, paths.eval, tokenizer) };
  dataCache.set(key, d);
  return d;
}

async function scores(dir: string, tasks: readonly TaskName[], seed: number): Promise<Record<string, number>> {
  return scoreModel(dir, tokenizer, await Promise.all(tasks.map(async (t) => (await data(t, seed)).eval)));
}

let runs = 0;
async function run(
  label: string,
  o: Omit<AdaptOptions, 'name' | 'out' | 'trainData' | 'steps' | 'batchSize' | 'baseModel'> & {
    task: TaskName;
    baseModel?: string;
    /** Optimizer steps; default config.steps. */
    steps?: number;
  },
): Promise<Adapted> {
  const name = `${label}-${++runs}`.replace(/[^a-z0-9-]/g, '-');
  const { task, ...rest } = o;
  const result = await adapt({
    ...rest,
    name,
    baseModel: o.baseModel ?? BASE,
    trainData: (await data(task, o.seed)).train,
    out: join(WORK, 'runs', name),
    steps: o.steps ?? config.steps,
    batchSize: config.batchSize,
    ...(o.method === 'lora' ? { loraRank: config.lora.rank, loraAlpha: config.lora.alpha } : {}),
  });
  log(
    `${name}: ${o.method} on ${task} (lr ${o.learningRate}) loss ${result.trainLoss.toFixed(3)} in ${result.seconds.toFixed(0)} s`,
  );
  return result;
}

const invariants = { zeroDriftChecks: 0, entriesCompared: 0, ticketMaskChecks: 0, disjointChecks: 0 };
async function checkLota(startDir: string, adapted: Adapted): Promise<void> {
  const ticket = adapted.ticket as string;
  await assertTicketIsMask(ticket, join(adapted.modelDir, '..', 'mask.safetensors'));
  invariants.ticketMaskChecks++;
  const { entries } = await assertZeroDrift(startDir, adapted.modelDir, ticket);
  invariants.zeroDriftChecks++;
  invariants.entriesCompared += entries;
}

const results: Results = {
  config,
  commit: git('rev-parse', 'HEAD'),
  dirtyFiles: git('status', '--porcelain')
    .split('\n')
    .filter((l) => l.trim() !== '').length,
  scienceDirtyFiles: git('status', '--porcelain', '--', 'bench/science', 'package.json')
    .split('\n')
    .filter((l) => l.trim() !== '').length,
  startedAt: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadAtStart: loadavg()[0] ?? 0 },
  backend,
  seedsCompleted: [],
  sweep: [],
  chosenLr: { full: 0, lora: 0, lota: 0 },
  base: {},
  claim1: { tasks: config.tasks, methods: [], scores: {}, trainable: {} },
  claim2: { taskA: A, taskB: B, methods: [], scores: {}, maskOverlap: [] },
  claim3: { merges: [] },
  invariants,
  seconds: 0,
};
const methodLabel = (m: Method, sparsity?: number) =>
  m === 'full' ? 'FFT' : m === 'lora' ? `LoRA r${config.lora.rank}` : `LoTA ${Math.round((sparsity ?? 0) * 100)}%`;
const push = (obj: Record<string, Record<string, number[]>>, a: string, b: string, v: number) => {
  const byTask = obj[a] ?? {};
  obj[a] = byTask;
  byTask[b] = [...(byTask[b] ?? []), v];
};

async function save(): Promise<void> {
  results.seconds = elapsed();
  await writeFile(join(WORK, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
}

// ---- Learning-rate sweep (task A, seed config.sweep.seed) ----
if (workerLr !== undefined) results.chosenLr = workerLr;
else {
  const seed = config.sweep.seed;
  const best = (rows: SweepRow[]) =>
    rows.reduce((a, b) =>
      b.exactMatch > a.exactMatch || (b.exactMatch === a.exactMatch && b.trainLoss < a.trainLoss) ? b : a,
    );
  const rowsOf = (method: string) => results.sweep.filter((r) => r.method === method);
  const fullRuns = new Map<number, Adapted>();
  for (const lr of config.sweep.lrs.full) {
    const r = await run(`sweep-full`, { method: 'full', task: A, learningRate: lr, seed });
    fullRuns.set(lr, r);
    results.sweep.push({
      method: 'FFT',
      lr,
      exactMatch: (await scores(r.modelDir, [A], seed))[A] as number,
      trainLoss: r.trainLoss,
    });
  }
  results.chosenLr.full = best(rowsOf('FFT')).lr;
  for (const lr of config.sweep.lrs.lora) {
    const r = await run(`sweep-lora`, { method: 'lora', task: A, learningRate: lr, seed });
    results.sweep.push({
      method: methodLabel('lora'),
      lr,
      exactMatch: (await scores(r.modelDir, [A], seed))[A] as number,
      trainLoss: r.trainLoss,
    });
  }
  results.chosenLr.lora = best(rowsOf(methodLabel('lora'))).lr;
  const calibration = fullRuns.get(results.chosenLr.full) as Adapted;
  for (const sparsity of config.sparsities.slice(0, 1)) {
    for (const lr of config.sweep.lrs.lota) {
      const r = await run(`sweep-lota`, {
        method: 'lota',
        task: A,
        learningRate: lr,
        seed,
        sparsity,
        calibratedModel: calibration.modelDir,
      });
      await checkLota(BASE, r);
      results.sweep.push({
        method: methodLabel('lota', sparsity),
        lr,
        exactMatch: (await scores(r.modelDir, [A], seed))[A] as number,
        trainLoss: r.trainLoss,
      });
    }
  }
  // One LoTA learning rate for both sparsities: the best mean exact match over them.
  const lotaMean = (lr: number) => {
    const rows = results.sweep.filter((r) => r.method.startsWith('LoTA') && r.lr === lr);
    return rows.reduce((s, r) => s + r.exactMatch, 0) / rows.length;
  };
  results.chosenLr.lota = config.sweep.lrs.lota.reduce((a, b) => (lotaMean(b) > lotaMean(a) ? b : a));
  log(`chosen learning rates: ${JSON.stringify(results.chosenLr)}`);
  await sweepMerges(calibration);
  await save();
}
if (workerMerge !== undefined) results.chosenMerge = workerMerge;

/** Claim 3's baselines tuned on the sweep seed: FFT deltas of A (the chosen sweep run) and B, merged and scored. */
async function sweepMerges(fftA: Adapted): Promise<void> {
  const seed = config.sweep.seed;
  const fftB = await run('sweep-full-b', { method: 'full', task: B, learningRate: results.chosenLr.full, seed });
  const rows: NonNullable<Results['mergeSweep']> = [];
  const configs: { method: MergeSweepMethod; density?: number; lambda: number }[] = [
    ...config.mergeSweep.taLambdas.map((lambda) => ({ method: 'task-arithmetic' as const, lambda })),
    ...(['ties', 'dare-linear', 'dare-ties'] as const).flatMap((method) =>
      config.mergeSweep.densities.flatMap((density) =>
        config.mergeSweep.lambdas.map((lambda) => ({ method, density, lambda })),
      ),
    ),
  ];
  for (const c of configs) {
    const dir = join(WORK, 'merges', `sweep-${c.method}-${c.density ?? 'all'}-${c.lambda}`);
    await runMerge({
      method: c.method,
      baseModel: BASE,
      inputs: [
        { name: A, path: fftA.modelDir },
        { name: B, path: fftB.modelDir },
      ],
      parameters: {
        lambda: c.lambda,
        ...(c.density !== undefined ? { density: c.density } : {}),
        ...(c.method.startsWith('dare') ? { seed } : {}),
      },
      output: { kind: 'model', dir, dtype: 'f32' },
    });
    const s = await scores(dir, [A, B], seed);
    rows.push({ ...c, meanExactMatch: ((s[A] as number) + (s[B] as number)) / 2 });
    await rm(dir, { recursive: true, force: true });
  }
  results.mergeSweep = rows;
  results.chosenMerge = {};
  for (const method of new Set(rows.map((r) => r.method))) {
    const best = rows
      .filter((r) => r.method === method)
      .reduce((a, b) => (b.meanExactMatch > a.meanExactMatch ? b : a));
    results.chosenMerge[method] = {
      lambda: best.lambda,
      ...(best.density !== undefined ? { density: best.density } : {}),
    };
  }
  log(`chosen merge configurations: ${JSON.stringify(results.chosenMerge)}`);
}

// ---- Seeds: in this process (worker), or one worker process per seed (parent) ----
if (workerSeed === undefined) {
  const workers = await Promise.all(config.seeds.map((seed) => runWorker(seed, results.chosenLr)));
  for (const w of workers) if (w !== undefined) mergeSeed(results, w);
  await finishReport();
} else {
  await runSeed(workerSeed);
  results.cpuSeconds = cpuSeconds();
  await writeFile(join(WORK, `seed-${workerSeed}.json`), `${JSON.stringify(results, null, 2)}\n`);
}

async function runSeed(seed: number): Promise<void> {
  const seedStart = elapsed();
  const lr = results.chosenLr;
  results.base[seed] = await scores(BASE, config.tasks, seed);

  // Claim 1: each task alone, every method at the same step budget.
  const fft = new Map<TaskName, Adapted>();
  const lota90 = new Map<TaskName, Adapted>();
  const lora = new Map<TaskName, Adapted>();
  for (const task of config.tasks) {
    const full = await run(`full-${task}-s${seed}`, { method: 'full', task, learningRate: lr.full, seed });
    fft.set(task, full);
    const adapted: [string, Adapted][] = [[methodLabel('full'), full]];
    for (const sparsity of config.sparsities) {
      const r = await run(`lota${sparsity}-${task}-s${seed}`, {
        method: 'lota',
        task,
        learningRate: lr.lota,
        seed,
        sparsity,
        calibratedModel: full.modelDir,
      });
      await checkLota(BASE, r);
      if (sparsity === config.sparsities[0]) lota90.set(task, r);
      adapted.push([methodLabel('lota', sparsity), r]);
    }
    const lo = await run(`lora-${task}-s${seed}`, { method: 'lora', task, learningRate: lr.lora, seed });
    lora.set(task, lo);
    adapted.push([methodLabel('lora'), lo]);
    for (const [label, r] of adapted) {
      if (!results.claim1.methods.includes(label)) results.claim1.methods.push(label);
      push(results.claim1.scores, label, task, (await scores(r.modelDir, [task], seed))[task] as number);
      if (r.trainable !== undefined) results.claim1.trainable[label] = r.trainable;
    }
  }

  // Claim 2: A then B. Each method's B run starts from its own A model, with claim 1's calibration (config.steps
  // dense steps at the FFT learning rate, as claim 1's LoTA ranks |Δ| of its FFT run) and equal budgets: every B
  // run takes 2 × config.steps optimizer steps — FFT and LoRA all of them on B, LoTA config.steps dense calibration
  // steps + config.steps sparse ones.
  const budget = 2 * config.steps;
  const fromA = async (label: string, a: Adapted, b: Adapted) => {
    if (!results.claim2.methods.includes(label)) results.claim2.methods.push(label);
    const before = (await scores(a.modelDir, [A], seed))[A] as number;
    const after = await scores(b.modelDir, [A, B], seed);
    results.claim2.scores[label] ??= { aBefore: [], aAfter: [], bAfter: [] };
    const row = results.claim2.scores[label];
    row.aBefore.push(before);
    row.aAfter.push(after[A] as number);
    row.bAfter.push(after[B] as number);
  };
  const ticketA = (lota90.get(A) as Adapted).ticket as string;
  const fullAB = await run(`seq-full-s${seed}`, {
    method: 'full',
    task: B,
    learningRate: lr.full,
    seed,
    steps: budget,
    baseModel: (fft.get(A) as Adapted).modelDir,
  });
  await fromA('FFT', fft.get(A) as Adapted, fullAB);
  const loraAB = await run(`seq-lora-s${seed}`, {
    method: 'lora',
    task: B,
    learningRate: lr.lora,
    seed,
    steps: budget,
    baseModel: (lora.get(A) as Adapted).modelDir,
  });
  await fromA(methodLabel('lora'), lora.get(A) as Adapted, loraAB);
  const lotaA = lota90.get(A) as Adapted;
  const sparsity = config.sparsities[0] as number;
  const calibration = { calibrationSteps: config.steps, calibrationLearningRate: lr.full };
  const lotaAB = await run(`seq-lota-s${seed}`, {
    method: 'lota',
    task: B,
    learningRate: lr.lota,
    seed,
    sparsity,
    baseModel: lotaA.modelDir,
    ...calibration,
  });
  await checkLota(lotaA.modelDir, lotaAB);
  await fromA(`${methodLabel('lota', sparsity)}, no exclusion`, lotaA, lotaAB);
  const lotto = await run(`seq-lotto-s${seed}`, {
    method: 'lota',
    task: B,
    learningRate: lr.lota,
    seed,
    sparsity,
    excludeTickets: { [`task-a-s${seed}`]: ticketA },
    ...calibration,
  });
  await checkLota(lotaA.modelDir, lotto);
  await assertDisjoint([ticketA, lotto.ticket as string]);
  invariants.disjointChecks++;
  await fromA(`LoTTO ${Math.round(sparsity * 100)}%`, lotaA, lotto);
  // Capacity reference: LoTA learning B from the base (claim 1's run), so "LoTTO did not learn B" can be told apart
  // from "LoTA cannot learn B at this budget".
  results.claim2.bFromBase ??= {
    label: `${methodLabel('lota', sparsity)} on ${B} from the base (claim 1)`,
    scores: [],
  };
  results.claim2.bFromBase.scores.push((await scores((lota90.get(B) as Adapted).modelDir, [B], seed))[B] as number);
  results.claim2.maskOverlap.push({
    seed,
    noExclusion: await ticketOverlap(ticketA, lotaAB.ticket as string),
    lotto: await ticketOverlap(ticketA, lotto.ticket as string),
  });

  // Claim 3: merge two and three task models. FFT deltas also restricted to the target tensors (what a ticket can
  // change), and every method also applied to each task vector alone (single-input control).
  const fftTargets = new Map<TaskName, string>();
  for (const t of config.tasks) {
    const dir = join(WORK, 'runs', `full-targets-${t}-s${seed}`);
    await restrictToTargets(BASE, (fft.get(t) as Adapted).modelDir, dir);
    fftTargets.set(t, dir);
  }
  const singleDone = new Set<string>();
  for (const tasks of [
    [A, B],
    [A, B, C],
  ] as TaskName[][]) {
    const key = tasks.join('+');
    let merge = results.claim3.merges.find((m) => m.tasks.join('+') === key);
    if (!merge) {
      merge = { tasks, methods: [], scores: {}, interference: [] };
      results.claim3.merges.push(merge);
    }
    const variants: {
      label: string;
      method: 'sum' | 'task-arithmetic' | 'ties' | 'dare-linear' | 'dare-ties';
      inputs: string[];
      density?: boolean;
    }[] = [
      {
        label: `LoTA ${Math.round(sparsity * 100)}% tickets, sum`,
        method: 'sum',
        inputs: tasks.map((t) => (lota90.get(t) as Adapted).ticket as string),
      },
      {
        label: 'FFT, task arithmetic',
        method: 'task-arithmetic',
        inputs: tasks.map((t) => (fft.get(t) as Adapted).modelDir),
      },
      { label: 'FFT, TIES', method: 'ties', inputs: tasks.map((t) => (fft.get(t) as Adapted).modelDir), density: true },
      {
        label: 'FFT, DARE',
        method: 'dare-linear',
        inputs: tasks.map((t) => (fft.get(t) as Adapted).modelDir),
        density: true,
      },
      {
        label: 'FFT, DARE-TIES',
        method: 'dare-ties',
        inputs: tasks.map((t) => (fft.get(t) as Adapted).modelDir),
        density: true,
      },
      {
        label: `LoTA ${Math.round(sparsity * 100)}% tickets, TIES`,
        method: 'ties',
        inputs: tasks.map((t) => (lota90.get(t) as Adapted).ticket as string),
        density: true,
      },
      {
        label: 'FFT targets only, task arithmetic',
        method: 'task-arithmetic',
        inputs: tasks.map((t) => fftTargets.get(t) as string),
      },
      {
        label: 'FFT targets only, TIES',
        method: 'ties',
        inputs: tasks.map((t) => fftTargets.get(t) as string),
        density: true,
      },
    ];
    if (tasks.length === 2) {
      variants.splice(1, 0, {
        label: `LoTTO ${Math.round(sparsity * 100)}% tickets, sum`,
        method: 'sum',
        inputs: [ticketA, lotto.ticket as string],
      });
    }
    for (const v of variants) {
      // Baselines take the configuration the sweep chose (default: density config.mergeDensity, λ 1).
      const chosen = v.method === 'sum' ? undefined : results.chosenMerge?.[v.method];
      const parameters =
        v.method === 'sum'
          ? {}
          : {
              parameters: {
                lambda: chosen?.lambda ?? 1,
                ...(v.density ? { density: chosen?.density ?? config.mergeDensity } : {}),
                ...(v.method.startsWith('dare') ? { seed } : {}),
              },
            };
      const dir = join(WORK, 'merges', `s${seed}-${key}-${v.label.replace(/[^A-Za-z0-9]+/g, '-')}`);
      const merged = await runMerge({
        method: v.method,
        baseModel: BASE,
        inputs: v.inputs.map((path, i) => ({ name: tasks[i] as string, path })),
        ...parameters,
        output: { kind: 'model', dir, dtype: 'f32' },
      });
      // Single-input control, once per method and task (LoTTO's B ticket is not a single-task vector).
      if (!v.label.startsWith('LoTTO')) {
        for (const [i, t] of tasks.entries()) {
          if (singleDone.has(`${v.label}/${t}`)) continue;
          singleDone.add(`${v.label}/${t}`);
          const alone = join(WORK, 'merges', `s${seed}-single-${t}-${v.label.replace(/[^A-Za-z0-9]+/g, '-')}`);
          await runMerge({
            method: v.method,
            baseModel: BASE,
            inputs: [{ name: t, path: v.inputs[i] as string }],
            ...parameters,
            output: { kind: 'model', dir: alone, dtype: 'f32' },
          });
          results.claim3.single ??= {};
          push(results.claim3.single, v.label, t, (await scores(alone, [t], seed))[t] as number);
          await rm(alone, { recursive: true, force: true });
        }
      }
      if (!merge.methods.includes(v.label)) merge.methods.push(v.label);
      const s = await scores(dir, tasks, seed);
      for (const t of tasks) push(merge.scores, v.label, t, s[t] as number);
      const inputs = merged.interference.inputs;
      const row: MergeRow = {
        seed,
        method: v.label,
        overlapFraction: merged.summary.overlapFraction,
        signConflicts: merged.summary.signConflicts,
        maxPairwiseJaccard: merged.summary.maxPairwiseJaccard,
        survivingL1Fraction: inputs.reduce((a, i) => a + i.survivingL1Fraction, 0) / inputs.length,
      };
      merge.interference.push(row);
      log(`merge ${key} ${v.label}: ${JSON.stringify(s)} overlap ${row.overlapFraction}`);
    }
  }
  results.seedsCompleted.push(seed);
  log(`seed ${seed} done in ${(elapsed() - seedStart).toFixed(0)} s`);
}

function cpuSeconds(): number {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1e6;
}

/** Runs one seed in a child process; its results, or undefined (and a log line) when it failed. */
function runWorker(seed: number, lr: Results['chosenLr']): Promise<Results | undefined> {
  return new Promise((resolveWorker) => {
    const child = spawn(
      process.execPath,
      [
        import.meta.filename,
        profile,
        '--seed',
        String(seed),
        '--lr',
        JSON.stringify(lr),
        '--merge',
        JSON.stringify(results.chosenMerge ?? {}),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    child.on('exit', async (code) => {
      if (code !== 0) {
        log(`seed ${seed} failed (exit ${code}); its numbers are left out`);
        resolveWorker(undefined);
        return;
      }
      resolveWorker(JSON.parse(await readFile(join(WORK, `seed-${seed}.json`), 'utf8')) as Results);
    });
  });
}

/** Appends one seed's numbers (a worker's Results) to the parent's. */
function mergeSeed(into: Results, from: Results): void {
  const union = (a: string[], b: string[]) => {
    for (const x of b) if (!a.includes(x)) a.push(x);
  };
  const concat = (a: Scores, b: Scores) => {
    for (const [m, byTask] of Object.entries(b))
      for (const [t, values] of Object.entries(byTask)) for (const v of values) push(a, m, t, v);
  };
  into.seedsCompleted.push(...from.seedsCompleted);
  Object.assign(into.base, from.base);
  union(into.claim1.methods, from.claim1.methods);
  concat(into.claim1.scores, from.claim1.scores);
  Object.assign(into.claim1.trainable, from.claim1.trainable);
  union(into.claim2.methods, from.claim2.methods);
  for (const [m, row] of Object.entries(from.claim2.scores)) {
    into.claim2.scores[m] ??= { aBefore: [], aAfter: [], bAfter: [] };
    const to = into.claim2.scores[m];
    to.aBefore.push(...row.aBefore);
    to.aAfter.push(...row.aAfter);
    to.bAfter.push(...row.bAfter);
  }
  into.claim2.maskOverlap.push(...from.claim2.maskOverlap);
  if (from.claim2.bFromBase) {
    into.claim2.bFromBase ??= { label: from.claim2.bFromBase.label, scores: [] };
    into.claim2.bFromBase.scores.push(...from.claim2.bFromBase.scores);
  }
  for (const merge of from.claim3.merges) {
    const key = merge.tasks.join('+');
    let to = into.claim3.merges.find((m) => m.tasks.join('+') === key);
    if (!to) {
      to = { tasks: merge.tasks, methods: [], scores: {}, interference: [] };
      into.claim3.merges.push(to);
    }
    union(to.methods, merge.methods);
    concat(to.scores, merge.scores);
    to.interference.push(...merge.interference);
  }
  if (from.claim3.single) {
    into.claim3.single ??= {};
    concat(into.claim3.single, from.claim3.single);
  }
  for (const k of Object.keys(into.invariants) as (keyof Results['invariants'])[])
    into.invariants[k] += from.invariants[k];
  into.cpuSeconds = (into.cpuSeconds ?? 0) + (from.cpuSeconds ?? 0);
}

async function ticketOverlap(a: string, b: string): Promise<number> {
  const [ta, tb] = await Promise.all([readTicket(a), readTicket(b)]);
  let n = 0;
  for (const [name, t] of ta.tensors) {
    const u = tb.tensors.get(name);
    if (u) n += overlapCount(t.mask, u.mask);
  }
  return n;
}

// ---- Report ----
async function finishReport(): Promise<void> {
  results.cpuSeconds = (results.cpuSeconds ?? 0) + cpuSeconds();
  results.machine.loadAtEnd = loadavg()[0] ?? 0;
  await save();
  const plotDir = profile === 'full' ? join(ROOT, 'docs/results') : join(WORK, 'plots');
  const python = execFileSync('bash', [join(ROOT, 'bench/science/setup-plot.sh')], { encoding: 'utf8' }).trim();
  execFileSync(python, [join(ROOT, 'bench/science/plot.py'), join(WORK, 'results.json'), plotDir], {
    stdio: 'inherit',
  });
  const mdPath = profile === 'full' ? join(ROOT, 'docs/results.md') : join(WORK, 'results.md');
  const plotsRel = profile === 'full' ? 'results' : 'plots';
  results.seconds = elapsed();
  await save();
  if (profile === 'full')
    await writeFile(join(ROOT, 'docs/results/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(mdPath, renderResults(results, plotsRel));
  log(`wrote ${mdPath} and plots in ${plotDir} (${results.seconds.toFixed(0)} s)`);
}
