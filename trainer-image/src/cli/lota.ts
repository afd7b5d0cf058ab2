#!/usr/bin/env node
// lota: run LoTA resources without a cluster. `lota run <manifest.yaml>` drives each LotaAdaptation / TicketMerge of
// the manifest through the operator's own phase machine, with local `lota-trainer` processes as the executor, and
// prints the status as it changes; at the end, each merge's scores on its inputs' held-out sets.
import { rm } from 'node:fs/promises';
import { isRemoteUri, resolveArtifactUri } from '@lota/api';
import type { MachineStatus, Transition } from '@lota/api/phase-machine';
import { Command } from 'commander';
import { LocalExecutor, nameOf } from '../run/local-executor.ts';
import { type Resource, readManifest } from '../run/manifest.ts';
import { formatMergeScores, scoreMerge } from '../run/merge-scores.ts';
import { classify } from './errors.ts';

function time(): string {
  return new Date().toISOString().slice(11, 19);
}

function label(r: Resource): string {
  return `${r.kind}/${nameOf(r)}`;
}

function summary(status: MachineStatus): string[] {
  const lines: string[] = [];
  const n = (x: number) => Number(x.toPrecision(4));
  if (status.mask) {
    lines.push(
      `mask     ${status.mask.trainable} / ${status.mask.total} target entries (density ${n(status.mask.density)})  ${status.mask.uri}`,
    );
    const c = status.mask.calibration;
    if (c) {
      const from =
        c.source === 'dense'
          ? `${c.steps} dense steps at lr ${c.learningRate}`
          : c.source === 'model'
            ? `Δ of ${c.fromModel}`
            : 'a random draw';
      lines.push(
        `         calibrated from ${from}${c.threshold !== undefined ? `, |Δ| threshold ${n(c.threshold)}` : ''}`,
      );
    }
  }
  if (status.ticket)
    lines.push(`ticket   ${status.ticket.bytes} bytes, density ${n(status.ticket.density)}  ${status.ticket.uri}`);
  if (status.output) lines.push(`output   ${status.output.bytes} bytes  ${status.output.uri}`);
  const kept = status.output?.survival;
  if (kept) {
    lines.push(
      `         ${kept.survivingEntries} of ${kept.changedEntries} changed entries survive in ${kept.dtype} (${n(100 * kept.survivingFraction)}%)`,
    );
  }
  const r = status.results;
  if (r) {
    const parts = [
      r.trainLoss !== undefined ? `trainLoss ${n(r.trainLoss)}` : '',
      r.evalLoss !== undefined ? `evalLoss ${n(r.evalLoss)}` : '',
      ...Object.entries(r.metrics ?? {}).map(([k, v]) => `${k} ${n(v)}`),
    ].filter(Boolean);
    if (parts.length > 0) lines.push(`results  ${parts.join(', ')}`);
  }
  const i = status.interference;
  if (i) {
    lines.push(
      `interference  ${i.tickets} inputs, overlapping entries ${i.overlappingEntries} (${n(i.overlapFraction)}), sign conflicts ${i.signConflicts}, max Jaccard ${n(i.maxPairwiseJaccard)}`,
    );
  }
  return lines;
}

async function run(
  manifest: string,
  options: { fresh?: boolean; verbose?: boolean; pvcRoot?: string },
): Promise<number> {
  const resources = await readManifest(manifest);
  if (options.fresh) {
    for (const r of resources) {
      if (isRemoteUri(r.spec.output.uri)) {
        process.stderr.write(
          `--fresh: ${r.spec.output.uri} is remote and kept; delete it with the store's own tools\n`,
        );
        continue;
      }
      await rm(resolveArtifactUri(r.spec.output.uri, options.pvcRoot ? { pvcRoot: options.pvcRoot } : {}), {
        recursive: true,
        force: true,
      });
    }
  }
  const started = Date.now();
  const shownBucket = new Map<string, number>();
  const executor = new LocalExecutor(resources, {
    ...(options.pvcRoot ? { pvcRoot: options.pvcRoot } : {}),
    ...(options.verbose ? { verbose: true } : {}),
    onTransition(r: Resource, previous: MachineStatus, next: Transition) {
      const s = next.status;
      const key = label(r);
      // Progress changes the message every step: show it in 10% steps, and every change of phase.
      const bucket = s.progress ? Math.floor(s.progress.percent / 10) : -1;
      if (s.phase === previous.phase && s.progress && shownBucket.get(key) === bucket) return;
      shownBucket.set(key, bucket);
      process.stdout.write(`${time()}  ${key.padEnd(32)} ${String(s.phase).padEnd(12)} ${s.message ?? ''}\n`);
      if (s.phase !== previous.phase && (s.phase === 'Succeeded' || s.phase === 'Failed')) {
        for (const line of summary(s)) process.stdout.write(`          ${' '.repeat(32)} ${line}\n`);
      }
    },
    onLine(r, phase, line) {
      process.stdout.write(`${time()}  ${label(r).padEnd(32)} ${`(${phase})`.padEnd(12)} ${line}\n`);
    },
  });
  const final = await executor.run();
  const failed = final.filter((f) => f.status.phase !== 'Succeeded');
  for (const f of final) {
    if (f.resource.kind !== 'TicketMerge' || f.status.phase !== 'Succeeded') continue;
    const rows = await scoreMerge(f.resource, f.status, final, options.pvcRoot);
    if (rows.length > 0) process.stdout.write(`\n${formatMergeScores(label(f.resource), rows).join('\n')}\n`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `\n${final.length - failed.length}/${final.length} succeeded in ${seconds} s` +
      (failed.length
        ? `; not succeeded: ${failed.map((f) => `${label(f.resource)} (${f.status.phase}: ${f.status.message})`).join('; ')}`
        : '') +
      '\n',
  );
  return failed.length === 0 ? 0 : 1;
}

const program = new Command('lota').description('LoTA without a cluster').showHelpAfterError();
program
  .command('run')
  .description('run the LotaAdaptations and TicketMerges of a manifest locally, as the operator would')
  .argument('<manifest>', 'YAML file with one or more lota.dev/v1alpha1 objects')
  .option('--fresh', 'delete the resources’ output directories first (otherwise finished phases are reused)')
  .option('--pvc-root <dir>', 'directory holding pvc://<claim>/… as <dir>/<claim>/…')
  .option('--verbose', 'show every log line of the trainer processes')
  .action(async (manifest: string, options: { fresh?: boolean; verbose?: boolean; pvcRoot?: string }) => {
    try {
      process.exitCode = await run(manifest, options);
    } catch (error) {
      process.stderr.write(`lota: ${(error as Error).message}\n`);
      process.exitCode = classify(error).exitCode;
    }
  });

await program.parseAsync(process.argv);
