import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crdObject, KINDS, renderCrds } from '../src/crds.ts';
import { withReference } from '../src/reference.ts';

const crdDir = join(import.meta.dirname, '..', '..', 'crds');

// Keywords a structural schema may not use (apiextensions v1), or that TypeBox would emit by mistake.
const FORBIDDEN = ['$ref', '$id', '$schema', 'const', 'patternProperties', 'definitions', 'dependencies', 'anyOf'];

/** Walks a schema, yielding [path, node] for every node that describes a value. */
function* nodes(schema: Record<string, unknown>, path = ''): Generator<[string, Record<string, unknown>]> {
  yield [path, schema];
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, child] of Object.entries(props)) yield* nodes(child, `${path}.${name}`);
  if (schema.items) yield* nodes(schema.items as Record<string, unknown>, `${path}[]`);
  if (typeof schema.additionalProperties === 'object') {
    yield* nodes(schema.additionalProperties as Record<string, unknown>, `${path}{}`);
  }
}

describe('generated CRDs', () => {
  it('are what `npm run gen:crds` writes (the committed YAML is not stale)', () => {
    for (const [file, text] of renderCrds()) {
      expect(readFileSync(join(crdDir, file), 'utf8'), `crds/${file} is stale: run npm run gen:crds`).toBe(text);
    }
  });

  it('match the field reference in docs/api.md (not stale)', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'api.md'), 'utf8');
    // Compared modulo the column padding the formatter adds to Markdown tables.
    const tables = (s: string) => s.replace(/ {2,}/g, ' ').replace(/-{3,}/g, '---');
    expect(tables(doc), 'docs/api.md field reference is stale: run npm run gen:crds').toBe(tables(withReference(doc)));
  });

  it('round-trip through YAML to the same objects', () => {
    for (const k of KINDS) {
      const text = renderCrds().get(`lota.dev_${k.plural}.yaml`) ?? '';
      expect(parse(text)).toEqual(crdObject(k));
    }
  });

  for (const k of KINDS) {
    const schema = (crdObject(k) as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } })
      .spec.versions[0]?.schema.openAPIV3Schema as Record<string, unknown>;

    it(`${k.kind}: every field has a type and a description, and no keyword structural schemas forbid`, () => {
      const problems: string[] = [];
      for (const [path, node] of nodes(schema)) {
        const intOrString = node['x-kubernetes-int-or-string'] === true;
        if (!node.type && !intOrString) problems.push(`${path}: no type`);
        const isItem = path.endsWith('[]') || path.endsWith('{}');
        if (!node.description && !isItem && path !== '.metadata') problems.push(`${path}: no description`);
        for (const key of FORBIDDEN) {
          if (key in node && !(key === 'anyOf' && intOrString)) problems.push(`${path}: uses ${key}`);
        }
        if (typeof node.exclusiveMinimum === 'number' || typeof node.exclusiveMaximum === 'number') {
          problems.push(`${path}: exclusiveMinimum/Maximum must be booleans in OpenAPI v3.0`);
        }
      }
      expect(problems).toEqual([]);
    });

    it(`${k.kind}: every printer column points at a field of the schema`, () => {
      for (const column of k.columns) {
        if (column.jsonPath.startsWith('.metadata.')) continue;
        let node: Record<string, unknown> | undefined = schema;
        for (const part of column.jsonPath.slice(1).split('.')) {
          node = (node?.properties as Record<string, Record<string, unknown>> | undefined)?.[part];
        }
        expect(node, column.jsonPath).toBeDefined();
        expect(node?.type, column.jsonPath).toBe(column.type === 'date' ? 'string' : column.type);
      }
    });

    it(`${k.kind}: every string and list a CEL rule can reach is bounded (the API server estimates rule cost)`, () => {
      const unbounded: string[] = [];
      for (const [path, node] of nodes(schema)) {
        if (!path.startsWith('.spec')) continue;
        if (node.type === 'string' && node.maxLength === undefined && !node.enum && node.format !== 'date-time') {
          unbounded.push(path);
        }
        if (node.type === 'array' && node.maxItems === undefined) unbounded.push(path);
        if (node.type === 'object' && node.additionalProperties && node.maxProperties === undefined) {
          unbounded.push(path);
        }
      }
      expect(unbounded).toEqual([]);
    });
  }
});
