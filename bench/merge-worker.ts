// One merge in its own process, so its peak RSS is its own: reads a MergeSpec (JSON) and prints time and memory.
//   node bench/merge-worker.ts SPEC_JSON
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type MergeSpec, runMerge } from '../trainer-image/src/merge/run.ts';

const spec = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as MergeSpec;
const cpu = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;
const start = performance.now();
const startCpu = process.cpuUsage();
const result = await runMerge(spec);
const seconds = (performance.now() - start) / 1000;
const cpuSeconds = cpu(process.cpuUsage(startCpu));
console.log(
  JSON.stringify({
    seconds: [seconds],
    cpuSeconds: [cpuSeconds],
    processCpuSeconds: cpu(process.cpuUsage()),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    largestTensor: result.largestTensor,
    summary: result.summary,
  }),
);
