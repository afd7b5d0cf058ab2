// JSON schemas in kubeconform's layout (`<kind><-group><-version>.json`, strict: unknown fields refused), made
// offline from (1) the Kubernetes release's own OpenAPI document (swagger.json from its Go module) and (2) our CRDs.
// Does what kubeconform's openapi2jsonschema does: inline every $ref (standalone), `additionalProperties: false`
// on every object with declared properties, int-or-string as string|integer.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Schema = Record<string, unknown>;
interface Gvk {
  group: string;
  version: string;
  kind: string;
}

/** kubeconform's file name for a kind: lower-cased kind, first label of the group, version. */
export function schemaFileName({ group, version, kind }: Gvk): string {
  const groupPart = group === '' ? '' : `-${group.split('.')[0]?.toLowerCase()}`;
  return `${kind.toLowerCase()}${groupPart}-${version.toLowerCase()}.json`;
}

/** The -schema-location template matching schemaFileName in `dir`. */
export function schemaLocation(dir: string): string {
  return join(dir, '{{ .ResourceKind }}{{ .KindSuffix }}.json');
}

const INT_OR_STRING = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
const QUANTITY = { oneOf: [{ type: 'string' }, { type: 'number' }] };

/** Strict, standalone schemas for the built-in kinds in `kinds`, from a Kubernetes swagger.json. */
export function writeBuiltinSchemas(swaggerPath: string, kinds: Gvk[], dir: string): void {
  const swagger = JSON.parse(readFileSync(swaggerPath, 'utf8')) as { definitions: Record<string, Schema> };
  const defs = swagger.definitions;
  const byGvk = new Map<string, string>();
  for (const [name, def] of Object.entries(defs)) {
    for (const g of (def['x-kubernetes-group-version-kind'] as Gvk[] | undefined) ?? []) {
      byGvk.set(`${g.group}/${g.version}/${g.kind}`, name);
    }
  }
  const inline = (schema: unknown, stack: string[]): unknown => {
    if (Array.isArray(schema)) return schema.map((s) => inline(s, stack));
    if (schema === null || typeof schema !== 'object') return schema;
    const s = schema as Schema;
    const ref = s.$ref;
    if (typeof ref === 'string') {
      const name = ref.replace('#/definitions/', '');
      if (name === 'io.k8s.apimachinery.pkg.util.intstr.IntOrString') return INT_OR_STRING;
      if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') return QUANTITY;
      // Recursive types (JSONSchemaProps) are cut at the first repeat: anything goes below it.
      if (stack.includes(name)) return {};
      const target = defs[name];
      if (!target) throw new Error(`swagger.json has no definition ${name}`);
      return inline(target, [...stack, name]);
    }
    if (s.format === 'int-or-string') return INT_OR_STRING;
    const out: Schema = {};
    for (const [k, v] of Object.entries(s)) {
      // Property names are data, not schema keywords: recurse into their values only.
      out[k] =
        k === 'properties'
          ? Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, inline(ps, stack)]))
          : inline(v, stack);
    }
    if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
    return out;
  };
  mkdirSync(dir, { recursive: true });
  for (const gvk of kinds) {
    const name = byGvk.get(`${gvk.group}/${gvk.version}/${gvk.kind}`);
    if (!name) throw new Error(`swagger.json has no ${gvk.kind} in ${gvk.group || 'core'}/${gvk.version}`);
    writeFileSync(join(dir, schemaFileName(gvk)), JSON.stringify(inline(defs[name], [name])));
  }
}

/** Strict schemas for every served version of every CustomResourceDefinition in `crdFiles`; returns their GVKs. */
export function writeCrdSchemas(crdFiles: string[], dir: string): Gvk[] {
  const written: Gvk[] = [];
  const strict = (schema: unknown): unknown => {
    if (Array.isArray(schema)) return schema.map(strict);
    if (schema === null || typeof schema !== 'object') return schema;
    const s = schema as Schema;
    if (s['x-kubernetes-int-or-string'] === true) return INT_OR_STRING;
    const out: Schema = {};
    for (const [k, v] of Object.entries(s)) {
      out[k] =
        k === 'properties'
          ? Object.fromEntries(Object.entries(v as Schema).map(([p, ps]) => [p, strict(ps)]))
          : k === 'x-kubernetes-validations' || k === 'default' || k === 'example' || k === 'enum'
            ? v
            : strict(v);
    }
    const open = out['x-kubernetes-preserve-unknown-fields'] === true;
    if (out.properties !== undefined && out.additionalProperties === undefined && !open) {
      out.additionalProperties = false;
    }
    return out;
  };
  mkdirSync(dir, { recursive: true });
  for (const file of crdFiles) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const crd = doc.toJS() as {
        kind?: string;
        spec?: {
          group: string;
          names: { kind: string };
          versions: { name: string; served: boolean; schema?: { openAPIV3Schema: Schema } }[];
        };
      } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
      for (const v of crd.spec.versions) {
        if (!v.served || !v.schema) continue;
        const gvk = { group: crd.spec.group, version: v.name, kind: crd.spec.names.kind };
        const root = structuredClone(v.schema.openAPIV3Schema);
        // The API server adds these to every CRD schema; a manifest always carries them.
        root.properties = {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          metadata: { type: 'object' },
          ...(root.properties as Schema | undefined),
        };
        writeFileSync(join(dir, schemaFileName(gvk)), JSON.stringify(strict(root)));
        written.push(gvk);
      }
    }
  }
  return written;
}
