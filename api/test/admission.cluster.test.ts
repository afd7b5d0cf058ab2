// Admission against the real kube-apiserver: the CRDs it accepts, the objects it defaults, accepts and refuses.
// Every refusal below comes from the API server itself — OpenAPI schema validation or CEL rules it compiled and
// evaluated — and is matched on the field it names and the message the schema declares.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { cluster, createNamespace } from '../../e2e/harness/cluster.ts';
import { KubectlError } from '../../e2e/harness/kubectl.ts';
import { KINDS } from '../src/crds.ts';
import { adaptationPlan, type MachineStatus, nextState, type Observations } from '../src/phase-machine.ts';
import { applyDefaults } from '../src/schema/defaulting.ts';
import type { LotaAdaptation } from '../src/types.ts';
import { resolveRelativeFileUris } from '../src/uri.ts';
import { adaptation, celCases, merge, schemaCases } from './invalid-cases.ts';

const { kubectl } = cluster();
const examplesDir = join(import.meta.dirname, '..', '..', 'examples');
let ns = '';

beforeAll(async () => {
  ns = await createNamespace(kubectl, 'api');
});
afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

/** Server-side dry-run create; resolves with the object as the server would store it. */
async function dryRun(obj: object): Promise<Record<string, unknown>> {
  const out = await kubectl(['create', '--dry-run=server', '-n', ns, '-o', 'json', '-f', '-'], {
    input: JSON.stringify(obj),
  });
  return JSON.parse(out);
}

/** The API server's refusal message for `obj` (fails the test if the server accepts it). */
async function refusal(obj: object): Promise<string> {
  try {
    await dryRun(obj);
  } catch (err) {
    if (err instanceof KubectlError) return err.stderr;
    throw err;
  }
  throw new Error(`the API server accepted an invalid object: ${JSON.stringify(obj)}`);
}

describe('the CRDs on a real API server', () => {
  for (const k of KINDS) {
    it(`${k.plural}.lota.dev is Established, with a structural schema and CEL rules within the cost budget`, async () => {
      const crd = JSON.parse(await kubectl(['get', 'crd', `${k.plural}.lota.dev`, '-o', 'json']));
      const conditions = crd.status.conditions as { type: string; status: string; message: string }[];
      const byType = Object.fromEntries(conditions.map((c) => [c.type, c]));
      expect(byType.Established?.status).toBe('True');
      expect(byType.NamesAccepted?.status).toBe('True');
      // The server sets NonStructuralSchema (status True) on a CRD whose schema is not structural.
      expect(byType.NonStructuralSchema).toBeUndefined();
      expect(crd.status.acceptedNames).toMatchObject({ kind: k.kind, shortNames: k.shortNames, categories: ['lota'] });
    });
  }
});

describe('examples/', () => {
  const files = readdirSync(examplesDir).filter((f) => /\.ya?ml$/.test(f));

  it('holds the LoTA, FFT, LoRA, LoTTO and merge examples', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'lota-adaptation.yaml',
        'fft-baseline.yaml',
        'lora-baseline.yaml',
        'lotto-chain.yaml',
        'ticket-merge.yaml',
      ]),
    );
  });

  for (const file of files) {
    it(`${file} passes server-side dry-run`, async () => {
      // `file:relative` URIs (the `lota run` convenience of examples/demo.yaml) are resolved first, as `lota run` does.
      const docs = parseAllDocuments(readFileSync(join(examplesDir, file), 'utf8')).map((d) =>
        resolveRelativeFileUris(d.toJS(), examplesDir),
      );
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) {
        const stored = await dryRun(doc);
        expect(stored.kind).toBe(doc.kind);
      }
    });
  }
});

describe('defaulting', () => {
  it('the API server fills exactly the defaults applyDefaults() fills (one schema, one algorithm)', async () => {
    for (const [obj, schema] of [
      [adaptation(), KINDS[0]?.schema],
      [merge(), KINDS[1]?.schema],
    ] as const) {
      const stored = await dryRun(obj);
      const local = applyDefaults(schema as NonNullable<typeof schema>, structuredClone(obj) as never) as {
        spec: unknown;
      };
      expect(stored.spec).toEqual(local.spec);
    }
  });

  it('a minimal LotaAdaptation is stored with the LoTA reference settings', async () => {
    const stored = (await dryRun(adaptation())) as unknown as LotaAdaptation;
    expect(stored.spec).toMatchObject({
      method: 'lota',
      training: { optimizer: 'rmsprop', maxGradNorm: 1, gradClipScope: 'per-tensor' },
      dataset: { maxSeqLength: 512, maxPromptLength: 256, format: 'messages' },
      suspend: false,
    });
  });
});

describe('invalid objects are refused by the API server', () => {
  it(`covers at least 15 cases, schema and CEL both (${schemaCases.length} + ${celCases.length})`, () => {
    expect(schemaCases.length + celCases.length).toBeGreaterThanOrEqual(15);
    expect(schemaCases.length).toBeGreaterThan(5);
    expect(celCases.length).toBeGreaterThan(5);
  });

  for (const [kind, cases] of [
    ['schema', schemaCases],
    ['CEL', celCases],
  ] as const) {
    for (const [name, make, field, message] of cases) {
      it(`${kind}: ${name}`, async () => {
        const stderr = await refusal(make());
        expect(stderr).toContain(`${field}:`);
        expect(stderr).toContain(message);
      });
    }
  }
});

describe('spec immutability (transition rule on the stored object)', () => {
  it('allows spec changes before the run starts, then only spec.suspend', async () => {
    const name = 'immutable';
    const obj = adaptation(name);
    await kubectl(['create', '-n', ns, '-f', '-'], { input: JSON.stringify(obj) });
    const patch = (p: object, extra: string[] = []) =>
      kubectl(['patch', 'la', name, '-n', ns, '--type=merge', '-p', JSON.stringify(p), ...extra]);

    // Not started: the spec may still be corrected.
    await patch({ spec: { lota: { sparsity: 0.99 } } });

    // The operator records the first attempt of a phase: from now on the spec is fixed.
    await patch({ status: { phase: 'Calibrating', attempts: { calibrate: 1 } } }, ['--subresource=status']);
    const err = await patch({ spec: { lota: { sparsity: 0.5 } } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubectlError);
    expect((err as KubectlError).stderr).toContain('spec is immutable once the LotaAdaptation has started a phase');

    await patch({ spec: { suspend: true } });
    const stored = JSON.parse(await kubectl(['get', 'la', name, '-n', ns, '-o', 'json'])) as LotaAdaptation;
    expect(stored.spec.suspend).toBe(true);
    expect(stored.spec.lota?.sparsity).toBe(0.99);

    // Status updates go through although the root rule reads the spec.
    await patch({ status: { phase: 'Suspended' } }, ['--subresource=status']);
  });

  it('shows phase, progress and density in kubectl get', async () => {
    const name = 'columns';
    await kubectl(['create', '-n', ns, '-f', '-'], { input: JSON.stringify(adaptation(name)) });
    await kubectl([
      'patch',
      'la',
      name,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          phase: 'Training',
          progress: { phase: 'train', step: 30, totalSteps: 120, percent: 25 },
          mask: { trainable: 100, total: 1000, density: 0.1, uri: 'pvc://models/runs/a/mask.safetensors' },
        },
      }),
    ]);
    const table = await kubectl(['get', 'la', '-n', ns, name]);
    expect(table).toMatch(/NAME\s+METHOD\s+PHASE\s+PROGRESS\s+DENSITY\s+AGE/);
    expect(table).toMatch(/columns\s+lota\s+Training\s+25\s+0.1\s+/);
  });

  it('accepts the statuses the phase machine writes, and kubectl wait sees Succeeded', async () => {
    const name = 'machine';
    const obj = adaptation(name);
    const created = JSON.parse(
      await kubectl(['create', '-n', ns, '-o', 'json', '-f', '-'], { input: JSON.stringify(obj) }),
    ) as LotaAdaptation;
    const plan = adaptationPlan({ name, generation: created.metadata.generation ?? 1 }, created.spec);
    const write = (status: MachineStatus) =>
      kubectl([
        'patch',
        'la',
        name,
        '-n',
        ns,
        '--subresource=status',
        '--type=json',
        '-p',
        JSON.stringify([{ op: 'add', path: '/status', value: status }]),
      ]);
    const observe = (phases: Observations['phases'], seconds: number): Observations => ({
      phases,
      dependencies: {},
      now: new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)),
    });
    const out = 'pvc://models/runs/a';
    const running = nextState(
      plan,
      undefined,
      observe(
        {
          calibrate: {
            state: 'Running',
            progress: {
              phase: 'calibrate',
              step: 5,
              totalSteps: 20,
              percent: 25,
              loss: 2.5,
              tokensPerSecond: 900,
              etaSeconds: 30,
            },
          },
        },
        1,
      ),
    );
    await write(running.status);
    const done = nextState(
      plan,
      running.status,
      observe(
        {
          calibrate: {
            state: 'Succeeded',
            termination: {
              version: 1,
              phase: 'calibrate',
              outcome: 'Succeeded',
              reason: 'Completed',
              message: 'calibrated 20 steps',
              inputs: [{ uri: 'hf://org/base@main', revision: 'f'.repeat(40), bytes: 123456 }],
              mask: { trainable: 100, total: 1000, density: 0.1, uri: `${out}/mask.safetensors` },
            },
          },
          train: {
            state: 'Succeeded',
            termination: {
              version: 1,
              phase: 'train',
              outcome: 'Succeeded',
              reason: 'Completed',
              message: 'trained 60 steps',
              results: { trainLoss: 0.4, evalLoss: 0.5, metrics: { exactMatch: 0.9 } },
              ticket: { uri: `${out}/ticket.safetensors`, bytes: 4096, density: 0.1, sha256: 'a'.repeat(64) },
            },
          },
        },
        90,
      ),
    );
    expect(done.status.phase).toBe('Succeeded');
    await write(done.status);
    await kubectl(['wait', 'la', name, '-n', ns, '--for=condition=Succeeded', '--timeout=30s']);
    await kubectl(['wait', 'la', name, '-n', ns, '--for=condition=Ready', '--timeout=30s']);
    const stored = JSON.parse(await kubectl(['get', 'la', name, '-n', ns, '-o', 'json'])) as LotaAdaptation;
    expect(stored.status).toEqual(done.status);
  });

  it('evaluates the root rule on metadata.name for objects created with generateName', async () => {
    const obj = adaptation();
    obj.metadata = { generateName: 'task-' };
    obj.spec.lota = { excludeTicketsOf: ['task-b'] };
    const stored = (await dryRun(obj)) as unknown as LotaAdaptation;
    expect(stored.metadata.name).toMatch(/^task-[a-z0-9]{5}$/);
  });

  it('explains every field through kubectl explain (the CRD publishes its descriptions)', async () => {
    const text = await kubectl(['explain', 'lotaadaptation.spec.lota']);
    expect(text).toContain('Lottery Ticket Adaptation');
    expect(text).toMatch(/sparsity\s+<number>/);
    expect(text).toContain('excludeTicketsOf');
  });
});
