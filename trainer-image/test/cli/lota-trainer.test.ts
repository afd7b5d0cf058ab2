import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '@lota/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskFile, tinyModelDir } from '../lota/fixture-model.ts';

const CLI = new URL('../../src/cli/lota-trainer.ts', import.meta.url).pathname;
let base: string;
let other: string;
let work: string;
let data: string;

beforeAll(async () => {
  base = await tinyModelDir(0);
  other = await tinyModelDir(1);
  work = mkdtempSync(join(tmpdir(), 'lota-cli-'));
  data = await taskFile(work, 'train.jsonl', 12, 3);
});
afterAll(() => {
  for (const d of [base, other, work]) rmSync(d, { recursive: true, force: true });
});

function spec(out: string, extra: Record<string, unknown> = {}) {
  return {
    baseModel: { uri: `file://${base}` },
    dataset: { uri: `file://${data}`, format: 'prompt-completion', maxSeqLength: 16, maxPromptLength: 8 },
    lota: { sparsity: 0.9, calibration: { steps: 2 } },
    training: { maxSteps: 2, batchSize: 4, gradientAccumulationSteps: 1, learningRate: 0.01 },
    output: { uri: `file://${join(work, out)}` },
    ...extra,
  };
}

function trainer(args: string[], env: Record<string, string>) {
  const log = join(work, `termination-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, LOTA_BACKEND: 'cpu', LOTA_PROGRESS_PORT: '0', LOTA_TERMINATION_LOG: log, ...env },
    encoding: 'utf8',
  });
  const termination = existsSync(log) ? JSON.parse(readFileSync(log, 'utf8')) : undefined;
  return { code: r.status, termination, stdout: r.stdout, stderr: r.stderr };
}

describe('lota-trainer phases', () => {
  it('runs calibrate then train, records each phase, and repeats no work on a re-run', () => {
    const env = { LOTA_SPEC: JSON.stringify(spec('run')), LOTA_NAME: 'cli-test' };
    const cal = trainer(['calibrate'], env);
    expect(cal.code, cal.stderr).toBe(EXIT.ok);
    expect(cal.termination).toMatchObject({
      version: 1,
      phase: 'calibrate',
      outcome: 'Succeeded',
      reason: 'Completed',
    });
    expect(cal.termination.mask.trainable).toBeGreaterThan(0);
    // Not a terminal: JSON log lines with the progress fields.
    expect(cal.stderr).toMatch(/"step":2,"totalSteps":2/);
    const train = trainer(['train'], env);
    expect(train.code, train.stderr).toBe(EXIT.ok);
    expect(train.termination.ticket.uri).toBe(`file://${join(work, 'run', 'ticket.safetensors')}`);
    expect(JSON.parse(readFileSync(join(work, 'run', 'phases', 'train.json'), 'utf8'))).toEqual(train.termination);
    const again = trainer(['train'], env);
    expect(again.code).toBe(EXIT.ok);
    expect(again.stderr).toMatch(/already done/);
    expect(again.termination).toEqual(train.termination);

    const inspect = spawnSync(process.execPath, [CLI, 'inspect', join(work, 'run', 'ticket.safetensors'), '--json'], {
      encoding: 'utf8',
    });
    expect(JSON.parse(inspect.stdout).trainable).toBe(train.termination.mask.trainable);
    const evaluated = spawnSync(
      process.execPath,
      [
        CLI,
        'eval',
        '--model',
        base,
        '--data',
        data,
        '--ticket',
        join(work, 'run', 'ticket.safetensors'),
        '--max-seq-length',
        '16',
      ],
      { env: { ...process.env, LOTA_BACKEND: 'cpu' }, encoding: 'utf8' },
    );
    expect(evaluated.status, evaluated.stderr).toBe(0);
    expect(JSON.parse(evaluated.stdout)).toMatchObject({
      evalLoss: expect.any(Number),
      exactMatch: expect.any(Number),
    });
    const apply = trainer(
      ['apply', '--base', other, '--ticket', join(work, 'run', 'ticket.safetensors'), '--out', join(work, 'x')],
      {},
    );
    expect(apply.code).toBe(EXIT.incompatibleArtifact);
  });

  it('exits 10 on an invalid spec, naming the problem', () => {
    const bad = trainer(['calibrate'], { LOTA_SPEC: JSON.stringify(spec('bad', { lota: { sparsity: 1.5 } })) });
    expect(bad.code).toBe(EXIT.invalidSpec);
    expect(bad.termination).toMatchObject({ outcome: 'Failed', reason: 'InvalidSpec' });
    expect(bad.termination.message).toMatch(/sparsity/);
    expect(trainer(['calibrate'], { LOTA_SPEC: '{not json' }).code).toBe(EXIT.invalidSpec);
    expect(trainer(['calibrate'], { LOTA_SPEC: JSON.stringify(spec('m')), LOTA_PHASE: 'train' }).code).toBe(
      EXIT.invalidSpec,
    );
  });

  it('exits 11 on a bad dataset line and 12 on a mask of another base', () => {
    const broken = join(work, 'broken.jsonl');
    writeFileSync(broken, '{"prompt": "a"}\n');
    const s = spec('broken');
    const bad = trainer(['calibrate'], {
      LOTA_SPEC: JSON.stringify({ ...s, dataset: { ...s.dataset, uri: `file://${broken}` } }),
    });
    expect(bad.code).toBe(EXIT.invalidInput);
    expect(bad.termination.reason).toBe('InvalidDataset');
    expect(bad.termination.message).toMatch(/broken.jsonl:1/);
    // The mask of run/ was extracted on `base`; training it on `other` is refused.
    const moved = { ...spec('run'), baseModel: { uri: `file://${other}` } };
    rmSync(join(work, 'run', 'phases', 'train.json'));
    const mismatch = trainer(['train'], { LOTA_SPEC: JSON.stringify(moved) });
    expect(mismatch.code).toBe(EXIT.incompatibleArtifact);
    expect(mismatch.termination.reason).toBe('BaseModelMismatch');
  });
});
