// Structural defaulting exactly as the API server does it for CRDs (apiextensions-apiserver/pkg/structuraldefaulting):
// an absent property whose schema has a `default` gets a deep copy of it; then every known property, list item and
// map value is visited, so defaults nested inside a defaulted object apply too. A present object is never merged
// with its default (which is where TypeBox's Value.Default differs).
import type { Static, TSchema } from '@sinclair/typebox';

interface SchemaNode {
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
}

function visit(value: unknown, schema: SchemaNode): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) visit(item, schema.items);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (obj[key] === undefined && prop.default !== undefined) obj[key] = structuredClone(prop.default);
  }
  for (const [key, child] of Object.entries(obj)) {
    const prop = schema.properties?.[key];
    if (prop) visit(child, prop);
    else if (typeof schema.additionalProperties === 'object') visit(child, schema.additionalProperties);
  }
}

/** Fills defaults into `value` in place and returns it. */
export function applyDefaults<T extends TSchema, V extends Static<T>>(schema: T, value: V): V {
  visit(value, schema as SchemaNode);
  return value;
}
