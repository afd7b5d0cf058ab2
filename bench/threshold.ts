// Threshold benchmark: the exact k-th largest |x| over 100M float32 values (the LoTA mask threshold) by our two-pass
// radix select, against numpy.partition and torch.topk on the very same values (written to a scratch file and read
// by the reference venv's Python). Prints each time and the ratios, all measured in this one run.
//   node bench/threshold.ts [count=100000000] [sparsity=0.9]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { tool } from '../scripts/toolchain.ts';
import { seededRandom } from '../trainer-image/src/lota/random.ts';
import { keepCount, kthLargestAbs } from '../trainer-image/src/lota/threshold.ts';

const count = Number(process.argv[2] ?? 100_000_000);
const sparsity = Number(process.argv[3] ?? 0.9);
const k = keepCount(sparsity, count);

// Task-vector-like data: normal-ish values of mixed scale, split into 7B-model-sized chunks of tensors.
const random = seededRandom(7);
const values = new Float32Array(count);
for (let i = 0; i < count; i++) values[i] = (random() + random() + random() - 1.5) * 1e-3;
const tensorSize = 4096 * 4096;
const arrays: Float32Array[] = [];
for (let at = 0; at < count; at += tensorSize) arrays.push(values.subarray(at, Math.min(count, at + tensorSize)));

const dir = mkdtempSync(join(tmpdir(), 'lota-threshold-'));
try {
  const file = join(dir, 'values.f32');
  writeFileSync(file, values);

  kthLargestAbs(arrays.slice(0, 1), 1000); // warm the JIT on one tensor
  const start = performance.now();
  const ours = kthLargestAbs(arrays, k);
  const oursSeconds = (performance.now() - start) / 1000;

  const python = `
import sys, time, json
import numpy as np, torch
torch.set_num_threads(${2})
x = np.fromfile(sys.argv[1], dtype=np.float32); k = int(sys.argv[2]); n = x.size
t = time.perf_counter(); a = np.abs(x); np_t = float(np.partition(a, n - k)[n - k]); np_s = time.perf_counter() - t
del a
xt = torch.from_numpy(x)
t = time.perf_counter(); th_t = float(torch.topk(xt.abs(), k, sorted=False).values.min()); th_s = time.perf_counter() - t
print(json.dumps({"numpy": [np_t, np_s], "torch": [th_t, th_s], "threads": torch.get_num_threads()}))
`;
  const run = spawnSync(tool('LOTA_PYTHON'), ['-c', python, file, String(k)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`reference run failed: ${run.stderr}`);
  const ref = JSON.parse(run.stdout) as { numpy: [number, number]; torch: [number, number]; threads: number };

  const agree = ref.numpy[0] === ours && ref.torch[0] === ours;
  console.log(`values ${count.toLocaleString()}, sparsity ${sparsity}, k ${k.toLocaleString()}, threshold ${ours}`);
  console.log(`radix select (node, 1 thread)   ${oursSeconds.toFixed(3)} s`);
  console.log(
    `numpy abs+partition            ${ref.numpy[1].toFixed(3)} s   ours/numpy = ${(oursSeconds / ref.numpy[1]).toFixed(2)}`,
  );
  console.log(
    `torch abs+topk (${ref.threads} threads)      ${ref.torch[1].toFixed(3)} s   ours/torch = ${(oursSeconds / ref.torch[1]).toFixed(2)}`,
  );
  console.log(`thresholds agree exactly: ${agree}`);
  console.log(
    `extra memory: ours 2 histograms (0.5 MiB); numpy/torch a full |x| copy (${((count * 4) / 2 ** 20).toFixed(0)} MiB) + selection buffers`,
  );
  if (!agree) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
