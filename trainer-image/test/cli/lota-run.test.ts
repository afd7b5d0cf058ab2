import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disjoint } from '../../src/lota/mask.ts';
import { readTicket } from '../../src/lota/ticket.ts';
import { taskFile, tinyModelDir } from '../lota/fixture-model.ts';

const LOTA = new URL('../../src/cli/lota.ts', import.meta.url).pathname;
let base: string;
let work: string;

beforeAll(async () => {
  base = await tinyModelDir(0);
  work = mkdtempSync(join(tmpdir(), 'lota-run-'));
  await taskFile(work, 'a.jsonl', 8, 1);
  await taskFile(work, 'b.jsonl', 8, 2, 'wxyz');
  await taskFile(work, 'a-eval.jsonl', 4, 11);
  await taskFile(work, 'b-eval.jsonl', 4, 12, 'wxyz');
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const adaptation = (name: string, data: string, exclude?: string, evalData?: string) => `
apiVersion: lota.dev/v1alpha1
kind: LotaAdaptation
metadata: { name: ${name} }
spec:
  baseModel: { uri: "file://${base}" }
  dataset: { uri: "file:${data}",${evalData ? ` evalUri: "file:${evalData}",` : ''} format: prompt-completion, maxSeqLength: 16, maxPromptLength: 8 }
  lota:
    sparsity: 0.9
    calibration: { steps: 2 }
${exclude ? `    excludeTicketsOf: [${exclude}]\n` : ''}  training: { maxSteps: 2, batchSize: 4, gradientAccumulationSteps: 1, learningRate: 0.01 }
  output: { uri: "file:out/${name}" }
`;

function lota(...args: string[]) {
  return spawnSync(process.execPath, [LOTA, ...args], {
    env: { ...process.env, LOTA_BACKEND: 'cpu' },
    encoding: 'utf8',
  });
}

describe('lota run', () => {
  it('runs a LoTTO chain and a merge with the phase machine, printing the status as it changes', async () => {
    const manifest = join(work, 'chain.yaml');
    const merge = `
apiVersion: lota.dev/v1alpha1
kind: TicketMerge
metadata: { name: both }
spec:
  baseModel: { uri: "file://${base}" }
  tickets: [{ adaptationRef: { name: second } }, { adaptationRef: { name: first } }]
  output: { uri: "file:out/both", kind: ticket }
`;
    // Listed out of order on purpose: dependencies, not file order, decide what runs first.
    writeFileSync(
      manifest,
      [
        merge,
        adaptation('second', 'b.jsonl', 'first', 'b-eval.jsonl'),
        adaptation('first', 'a.jsonl', undefined, 'a-eval.jsonl'),
      ].join('---\n'),
    );
    const r = lota('run', manifest);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/LotaAdaptation\/second\s+Pending\s+waiting for the tickets of first/)).toBeGreaterThanOrEqual(0);
    expect(at(/LotaAdaptation\/first\s+Succeeded/)).toBeLessThan(at(/LotaAdaptation\/second\s+Calibrating/));
    expect(at(/TicketMerge\/both\s+Succeeded/)).toBeGreaterThan(at(/LotaAdaptation\/second\s+Succeeded/));
    expect(r.stdout).toMatch(/overlapping entries 0/);
    expect(r.stdout).toMatch(/3\/3 succeeded/);
    expect(r.stdout).toMatch(/calibrated from 2 dense steps at lr 5e-7/);
    expect(r.stdout).toMatch(/changed entries survive in float32 \(100%\)/);
    // The closing table: the merged model scored on each input's held-out set, next to its single-task score.
    expect(r.stdout).toMatch(/TicketMerge\/both: held-out exact match of each input task/);
    for (const task of ['first', 'second'])
      expect(r.stdout).toMatch(
        new RegExp(`\\n  ${task}\\s+\\d\\.\\d{3}\\s+\\d\\.\\d{3}\\s+\\d\\.\\d{3}\\s+\\d+\\.\\d{3}`),
      );
    const a = await readTicket(join(work, 'out', 'first', 'ticket.safetensors'));
    const b = await readTicket(join(work, 'out', 'second', 'ticket.safetensors'));
    let compared = 0;
    for (const [name, t] of a.tensors) {
      const other = b.tensors.get(name);
      if (other === undefined) continue;
      expect(disjoint(t.mask, other.mask)).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
  });

  it('refuses an invalid manifest with the API server’s wording and exit code 10', () => {
    const manifest = join(work, 'bad.yaml');
    writeFileSync(manifest, adaptation('Bad_Name', 'a.jsonl'));
    const r = lota('run', manifest);
    expect(r.status).toBe(10);
    expect(r.stderr).toMatch(/metadata.name/);
  });
});
