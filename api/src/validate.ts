// Admission without an API server, for objects that never reach one (`lota run` on a laptop): the same schema and
// the same CEL rules the CRDs carry, applied in the API server's order — defaults, unknown fields, OpenAPI schema,
// then the x-kubernetes-validations rules evaluated by a real CEL implementation (@bufbuild/cel). Messages follow
// the API server's wording so an error reads the same in both places; api/test shares one table of invalid objects
// between this validator and the real kube-apiserver.
import { type CelValue, celEnv, isCelError, parse, plan } from '@bufbuild/cel';
import type { TObject } from '@sinclair/typebox';
import { LotaAdaptation as AdaptationSchema } from './schema/adaptation.ts';
import { applyDefaults } from './schema/defaulting.ts';
import { type CelRule, DNS1123_SUBDOMAIN } from './schema/k8s.ts';
import { TicketMerge as MergeSchema } from './schema/merge.ts';
import type { LotaAdaptation, TicketMerge } from './types.ts';

interface Node {
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  required?: string[];
  properties?: Record<string, Node>;
  additionalProperties?: Node | boolean;
  items?: Node;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
}

export interface FieldError {
  /** Dotted path as the API server prints it, e.g. `spec.lota.sparsity` or `spec.tickets[0]`. */
  field: string;
  message: string;
}

export class ValidationError extends Error {
  readonly errors: FieldError[];
  constructor(what: string, errors: FieldError[]) {
    super(`${what} is invalid:\n${errors.map((e) => `  ${e.field}: ${e.message}`).join('\n')}`);
    this.name = 'ValidationError';
    this.errors = errors;
  }
}

const child = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);
const show = (v: unknown) => JSON.stringify(v);

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

/** OpenAPI v3 (structural subset) validation with the API server's messages. Unknown fields are errors. */
function checkSchema(n: Node, v: unknown, path: string, out: FieldError[]): void {
  const add = (message: string): void => {
    out.push({ field: path, message });
  };
  if (v === null || v === undefined) {
    add('Required value');
    return;
  }
  if (n['x-kubernetes-int-or-string']) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)))) {
      add(`Invalid value: ${show(v)}: must be an integer or a string`);
      return;
    }
    if (typeof v === 'string' && n.pattern && !new RegExp(n.pattern).test(v)) {
      add(`Invalid value: ${show(v)}: should match '${n.pattern}'`);
    }
    return;
  }
  if (n.type && !typeMatches(n.type, v)) {
    add(`Invalid value: ${show(v)}: must be of type ${n.type}`);
    return;
  }
  if (n.enum && !n.enum.includes(v)) {
    add(`Unsupported value: ${show(v)}: supported values: ${n.enum.map(show).join(', ')}`);
    return;
  }
  if (typeof v === 'number') {
    if (n.minimum !== undefined && (n.exclusiveMinimum ? v <= n.minimum : v < n.minimum)) {
      add(`Invalid value: ${v}: should be greater than ${n.exclusiveMinimum ? '' : 'or equal to '}${n.minimum}`);
    }
    if (n.maximum !== undefined && (n.exclusiveMaximum ? v >= n.maximum : v > n.maximum)) {
      add(`Invalid value: ${v}: should be less than ${n.exclusiveMaximum ? '' : 'or equal to '}${n.maximum}`);
    }
  }
  if (typeof v === 'string') {
    if (n.minLength !== undefined && v.length < n.minLength) {
      add(`Invalid value: ${show(v)}: should be at least ${n.minLength} chars long`);
    }
    if (n.maxLength !== undefined && v.length > n.maxLength) add(`Too long: may not be more than ${n.maxLength} bytes`);
    if (n.pattern && !new RegExp(n.pattern).test(v)) add(`Invalid value: ${show(v)}: should match '${n.pattern}'`);
  }
  if (Array.isArray(v)) {
    if (n.minItems !== undefined && v.length < n.minItems) add(`should have at least ${n.minItems} items`);
    if (n.maxItems !== undefined && v.length > n.maxItems)
      add(`Too many: ${v.length}: must have at most ${n.maxItems} items`);
    const listType = n['x-kubernetes-list-type'];
    const keyOf = (item: unknown) =>
      listType === 'map'
        ? JSON.stringify((n['x-kubernetes-list-map-keys'] ?? []).map((k) => (item as Record<string, unknown>)[k]))
        : JSON.stringify(item);
    const seen = new Set<string>();
    v.forEach((item, i) => {
      if (n.items) checkSchema(n.items, item, `${path}[${i}]`, out);
      if (listType === 'set' || listType === 'map') {
        const key = keyOf(item);
        if (seen.has(key)) out.push({ field: `${path}[${i}]`, message: `Duplicate value: ${key}` });
        seen.add(key);
      }
    });
  }
  if (n.type === 'object' && typeof v === 'object' && !Array.isArray(v)) {
    const obj = v as Record<string, unknown>;
    for (const key of n.required ?? []) {
      if (obj[key] === undefined) out.push({ field: child(path, key), message: 'Required value' });
    }
    if (n.maxProperties !== undefined && Object.keys(obj).length > n.maxProperties) {
      add(`Too many: ${Object.keys(obj).length}: must have at most ${n.maxProperties} items`);
    }
    for (const [key, value] of Object.entries(obj)) {
      if (path === '' && key === 'metadata') continue; // ObjectMeta: validated by the API server itself, see admit()
      const prop = n.properties?.[key];
      if (prop) checkSchema(prop, value, child(path, key), out);
      else if (typeof n.additionalProperties === 'object')
        checkSchema(n.additionalProperties, value, child(path, key), out);
      else if (!n['x-kubernetes-preserve-unknown-fields']) {
        out.push({ field: child(path, key), message: `unknown field "${child(path, key)}"` });
      }
    }
  }
}

/** JSON → CEL value, typed by the schema as the API server types it (integers are CEL ints). */
function toCel(n: Node | undefined, v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => toCel(n?.items, x));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        k,
        toCel(
          n?.properties?.[k] ?? (typeof n?.additionalProperties === 'object' ? n.additionalProperties : undefined),
          x,
        ),
      ]),
    );
  }
  if (typeof v === 'number' && n?.type === 'integer') return BigInt(v);
  return v;
}

const env = celEnv();
const compiled = new Map<string, (bindings: Record<string, unknown>) => CelValue>();

function evaluate(rule: string, bindings: Record<string, unknown>): CelValue {
  let program = compiled.get(rule);
  if (!program) {
    const p = plan(env, parse(rule));
    program = (b) => p(b as never) as CelValue;
    compiled.set(rule, program);
  }
  return program(bindings);
}

/** Evaluates every x-kubernetes-validations rule where its value is present; transition rules only with `old`. */
function checkRules(n: Node, v: unknown, old: unknown, path: string, out: FieldError[]): void {
  if (v === undefined || v === null) return;
  for (const r of n['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(r.rule);
    if (transition && old === undefined) continue;
    const bindings: Record<string, unknown> = { self: toCel(n, v) };
    if (transition) bindings.oldSelf = toCel(n, old);
    const result = evaluate(r.rule, bindings);
    const field = r.fieldPath ? child(path, r.fieldPath.replace(/^\./, '')) : path;
    if (isCelError(result))
      out.push({ field, message: `Invalid value: rule ${show(r.rule)} failed: ${result.message}` });
    else if (result !== true) out.push({ field, message: `Invalid value: ${r.message ?? `failed rule: ${r.rule}`}` });
  }
  const oldObj = (old ?? undefined) as Record<string, unknown> | unknown[] | undefined;
  if (Array.isArray(v)) {
    // Like the API server, list items are correlated with the old list only for map lists; others get no oldSelf.
    v.forEach((item, i) => {
      if (n.items) checkRules(n.items, item, undefined, `${path}[${i}]`, out);
    });
  } else if (typeof v === 'object') {
    for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
      const prop =
        n.properties?.[key] ?? (typeof n.additionalProperties === 'object' ? n.additionalProperties : undefined);
      const oldValue = oldObj && !Array.isArray(oldObj) ? oldObj[key] : undefined;
      if (prop) checkRules(prop, value, oldValue, child(path, key), out);
    }
  }
}

function validate(schema: TObject, obj: unknown, old?: unknown): FieldError[] {
  const n = JSON.parse(JSON.stringify(schema)) as Node;
  const errors: FieldError[] = [];
  checkSchema(n, obj, '', errors);
  // The API server evaluates rules only on objects that passed the schema (types are then known).
  if (errors.length === 0) checkRules(n, obj, old, '', errors);
  return errors;
}

type Manifest = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };

function admit<T>(schema: TObject, kind: string, obj: unknown, old?: unknown): T {
  const m = obj as Manifest;
  const what = `${kind} ${show(m?.metadata?.name ?? '')}`;
  if (m?.apiVersion !== 'lota.dev/v1alpha1' || m?.kind !== kind) {
    throw new ValidationError(what, [
      {
        field: 'apiVersion/kind',
        message: `expected lota.dev/v1alpha1 ${kind}, got ${show(m?.apiVersion)} ${show(m?.kind)}`,
      },
    ]);
  }
  const name = m.metadata?.name;
  if (typeof name !== 'string' || name.length > 253 || !new RegExp(DNS1123_SUBDOMAIN).test(name)) {
    throw new ValidationError(what, [
      { field: 'metadata.name', message: `Invalid value: ${show(name)}: must be a DNS-1123 subdomain` },
    ]);
  }
  const defaulted = applyDefaults(schema, structuredClone(obj) as never);
  const errors = validate(schema, defaulted, old);
  if (errors.length > 0) throw new ValidationError(what, errors);
  return defaulted as T;
}

/** The object as the API server would store it (static defaults applied), or a ValidationError listing every problem. */
export function admitAdaptation(obj: unknown, old?: LotaAdaptation): LotaAdaptation {
  return admit<LotaAdaptation>(AdaptationSchema, 'LotaAdaptation', obj, old);
}

export function admitMerge(obj: unknown, old?: TicketMerge): TicketMerge {
  return admit<TicketMerge>(MergeSchema, 'TicketMerge', obj, old);
}

/** Admits any lota.dev object by its kind. */
export function admitObject(obj: unknown): LotaAdaptation | TicketMerge {
  const m = obj as Manifest;
  if (m?.kind === 'TicketMerge') return admitMerge(obj);
  if (m?.kind === 'LotaAdaptation') return admitAdaptation(obj);
  throw new ValidationError(`object ${show(m?.metadata?.name ?? '')}`, [
    {
      field: 'kind',
      message: `Unsupported value: ${show(m?.kind)}: supported values: "LotaAdaptation", "TicketMerge"`,
    },
  ]);
}
