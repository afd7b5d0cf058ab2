// One merge in its own process, so its peak RSS is its own: reads a MergeSpec (JSON) and prints time and memory.
// With --io-floor it instead copies the spec's base model files to the spec's output directory with plain reads and
// writes (no parsing, no arithmetic): the I/O a merge that reads the base and writes the output once cannot avoid.
//   node bench/merge-worker.ts [--io-floor] SPEC_JSON
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type MergeSpec, runMerge } from '../trainer-image/src/merge/run.ts';

const floor = process.argv[2] === '--io-floor';
const spec = JSON.parse(readFileSync(process.argv[floor ? 3 : 2] as string, 'utf8')) as MergeSpec;
const cpu = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;

async function copyWeights(from: string, to: string): Promise<void> {
  mkdirSync(to, { recursive: true });
  const buffer = Buffer.allocUnsafe(8 << 20);
  for (const file of readdirSync(from).filter((f) => f.endsWith('.safetensors'))) {
    const input = await open(join(from, file), 'r');
    const output = await open(join(to, file), 'w');
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      await output.write(buffer, 0, bytesRead);
    }
    await input.close();
    await output.close();
  }
}

const start = performance.now();
const startCpu = process.cpuUsage();
let extra: Record<string, unknown> = {};
if (floor) {
  if (spec.output.kind !== 'model') throw new Error('--io-floor needs a model output');
  await copyWeights(spec.baseModel, spec.output.dir);
} else {
  const result = await runMerge(spec);
  extra = {
    largestTensor: result.largestTensor,
    summary: result.summary,
    sha256: result.output.sha256,
    baseFingerprint: result.baseFingerprint,
  };
}
const seconds = (performance.now() - start) / 1000;
const cpuSeconds = cpu(process.cpuUsage(startCpu));
console.log(
  JSON.stringify({
    seconds: [seconds],
    cpuSeconds: [cpuSeconds],
    processCpuSeconds: cpu(process.cpuUsage()),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    ...extra,
  }),
);
