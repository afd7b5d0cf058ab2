// `npm run bench -- <name> [args]`: runs bench/<name>.ts with the project's Node (node_modules/.bin/node, which the
// npm script puts first on PATH, so it works whatever `node` the machine has). Without a name it lists the benches,
// each with what it compares and its usage line (read from the bench's header). Benches are the .ts files directly
// under bench/ (helpers a bench starts end in -worker.ts), plus the two in subfolders named below.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const NESTED: Record<string, string> = { science: 'science/run.ts', 'gpu/lota-gpu': 'gpu/lota-gpu.ts' };
/** One line each; a bench not named here is described by its header's first sentence. */
const ABOUT: Record<string, string> = {
  merge: 'merge CPU and wall time vs MergeKit on the same inputs, and vs a plain read-base + write-output pass',
  'native-vs-others': 'training-step time on each tfjs backend vs PyTorch CPU, same config and batch',
  'sparse-memory': 'peak tensor bytes and RSS of the sparse (LoTA) phase vs full fine-tuning',
  threshold: 'mask threshold (k-th largest |x| of 100M values) vs numpy.partition and torch.topk',
  'ticket-size': 'ticket bytes vs a dense fp16 delta of the same tensors, at several densities',
  'train-throughput': 'train and eval tokens/s on every tfjs backend vs PyTorch CPU',
  science: "the paper's three claims at small scale; writes docs/results.md (same as npm run science)",
  'gpu/lota-gpu': 'LoTA calibrate + train on a ~100M Llama on the native backend: tokens/s and peak GPU memory',
};
const SCIENCE_ARGS = '[full|smoke|render]';

function benches(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of readdirSync(here).sort()) {
    if (!file.endsWith('.ts') || file === 'run.ts' || file.endsWith('-worker.ts')) continue;
    found.set(file.slice(0, -3), file);
  }
  for (const [name, file] of Object.entries(NESTED)) found.set(name, file);
  return found;
}

/** The header comment's first sentence and its usage line (`//   node bench/x.ts [args]`), as `npm run bench` args. */
function describe(name: string, file: string): { about: string; usage: string } {
  const header = readFileSync(join(here, file), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('//'))
    .map((line) => line.replace(/^\/\/ ?/, ''));
  const usageLine = header.find((line) => /^\s+node bench\//.test(line));
  const args = usageLine?.replace(/^\s+node bench\/\S+\s*/, '') ?? '';
  const prose = header.filter((line) => !/^\s/.test(line)).join(' ');
  const about = ABOUT[name] ?? (prose.match(/^.*?\.(\s|$)/)?.[0] ?? prose).trim();
  const shown = name === 'science' ? SCIENCE_ARGS : args;
  return { about, usage: `npm run bench -- ${name}${shown ? ` ${shown}` : ''}` };
}

const [name, ...args] = process.argv.slice(2);
const all = benches();
if (name === undefined || name === '--help' || name === '-h') {
  process.stdout.write('usage: npm run bench -- <name> [args]\n\n');
  for (const [bench, file] of all) {
    const { about, usage } = describe(bench, file);
    process.stdout.write(`${bench}\n  ${about}\n  ${usage}\n`);
  }
  process.exit(0);
}
const file = all.get(name);
if (file === undefined) {
  process.stderr.write(`bench: no bench named ${JSON.stringify(name)}; known: ${[...all.keys()].join(', ')}\n`);
  process.exit(2);
}
const run = spawnSync(process.execPath, [join(here, file), ...args], { stdio: 'inherit' });
process.exit(run.status ?? 1);
