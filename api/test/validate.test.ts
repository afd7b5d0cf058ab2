import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../src/crds.ts';
import { resolveRelativeFileUris } from '../src/uri.ts';
import { admitAdaptation, admitMerge, admitObject, ValidationError } from '../src/validate.ts';
import { adaptation, celCases, merge, schemaCases } from './invalid-cases.ts';

const examplesDir = join(import.meta.dirname, '..', '..', 'examples');

function errorsOf(obj: object) {
  try {
    admitObject(obj);
  } catch (err) {
    if (err instanceof ValidationError) return err.errors;
    throw err;
  }
  throw new Error(`accepted an invalid object: ${JSON.stringify(obj)}`);
}

describe('clusterless admission (same schema, same CEL rules as the CRDs)', () => {
  it('admits a minimal adaptation and merge, with the static defaults applied', () => {
    expect(admitAdaptation(adaptation()).spec).toMatchObject({ method: 'lota', training: { optimizer: 'rmsprop' } });
    expect(admitMerge(merge()).spec).toMatchObject({ method: 'sum', parameters: { lambda: 1 } });
  });

  for (const file of readdirSync(examplesDir).filter((f) => /\.ya?ml$/.test(f))) {
    it(`admits the lota.dev objects of examples/${file}`, () => {
      // `file:relative` URIs (the `lota run` convenience of examples/demo.yaml) are resolved first, as `lota run` does.
      const docs = parseAllDocuments(readFileSync(join(examplesDir, file), 'utf8')).map((d) =>
        resolveRelativeFileUris(d.toJS(), examplesDir),
      );
      for (const doc of docs.filter((d) => String(d.apiVersion).startsWith('lota.dev/'))) {
        expect(() => admitObject(doc)).not.toThrow();
      }
    });
  }

  for (const [kind, cases] of [
    ['schema', schemaCases],
    ['CEL', celCases],
  ] as const) {
    for (const [name, make, field, message] of cases) {
      it(`${kind}: refuses ${name} (${field}: …${message}…)`, () => {
        const errors = errorsOf(make());
        expect(errors).toContainEqual({ field, message: expect.stringContaining(message) });
      });
    }
  }

  it('has a refusal case for every CEL rule of both CRDs (the immutability rule has its own test)', () => {
    const messages: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === 'x-kubernetes-validations') {
            for (const r of value as { rule: string; message: string }[]) {
              if (!r.rule.includes('oldSelf')) messages.push(r.message);
            }
          } else walk(value);
        }
      }
    };
    for (const k of KINDS) walk(JSON.parse(JSON.stringify(k.schema)));
    const covered = celCases.map(([, , , message]) => message);
    const uncovered = [...new Set(messages)].filter((m) => !covered.some((c) => m.includes(c)));
    expect(uncovered).toEqual([]);
  });

  it('refuses unknown fields (a typo must not be silently dropped)', () => {
    const a = adaptation() as unknown as { spec: Record<string, unknown> };
    a.spec.trainig = { epochs: 1 };
    expect(errorsOf(a)).toContainEqual({ field: 'spec.trainig', message: 'unknown field "spec.trainig"' });
  });

  it('has no lora.dropout (the trainer reads adapters merged into the weights, so it cannot drop their input)', () => {
    const a = adaptation();
    a.spec.method = 'lora';
    a.spec.lora = { rank: 4, dropout: 0.1 } as never;
    expect(errorsOf(a)).toContainEqual({ field: 'spec.lora.dropout', message: 'unknown field "spec.lora.dropout"' });
  });

  it('refuses other kinds and API versions', () => {
    expect(errorsOf({ ...adaptation(), apiVersion: 'lota.dev/v1' })[0]?.field).toBe('apiVersion/kind');
    expect(errorsOf({ ...adaptation(), kind: 'Pod' })[0]?.message).toContain('supported values: "LotaAdaptation"');
  });

  it('lists every problem at once, each with its field', () => {
    const a = adaptation();
    a.spec.lota = { sparsity: 2, calibration: { steps: 0 } };
    a.spec.method = 'lora' as never;
    const fields = errorsOf(a).map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['spec.lota.sparsity', 'spec.lota.calibration.steps']));
  });

  it('applies the immutability transition rule given the stored object', () => {
    const old = admitAdaptation(adaptation());
    old.status = { phase: 'Training', attempts: { calibrate: 1, train: 1 } };
    const changed = structuredClone(old);
    changed.spec.training = { ...changed.spec.training, learningRate: 1 };
    expect(() => admitAdaptation(changed, old)).toThrow(
      /spec is immutable once the LotaAdaptation has started a phase/,
    );
    const suspended = structuredClone(old);
    suspended.spec.suspend = true;
    expect(() => admitAdaptation(suspended, old)).not.toThrow();
    const notStarted = { ...structuredClone(old), status: { phase: 'Pending' as const } };
    expect(() => admitAdaptation(changed, notStarted)).not.toThrow();
  });
});
