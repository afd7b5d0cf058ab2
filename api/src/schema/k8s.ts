// Building blocks for schemas that are at once TypeBox schemas (TypeScript types via Static<>, defaults via
// Value.Default) and Kubernetes structural OpenAPI v3 schemas (the CRDs are generated from them).
// Kubernetes accepts a subset of JSON Schema: no `const`, no `$ref`, no `patternProperties`, booleans for
// exclusiveMinimum/exclusiveMaximum. These helpers only emit that subset.
import {
  type SchemaOptions,
  type Static,
  type TArray,
  type TObject,
  type TOptional,
  type TProperties,
  type TSchema,
  type TUnsafe,
  Type,
} from '@sinclair/typebox';

/** A CEL rule as the API server evaluates it (`x-kubernetes-validations` entry). */
export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
  /** Kubernetes ≥ 1.30: re-validate an unchanged value on update only if this is false (ratcheting). */
  optionalOldSelf?: boolean;
}

/** Schema options Kubernetes understands beyond plain JSON Schema. */
export interface K8sOptions extends SchemaOptions {
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

export interface NumberRange extends K8sOptions {
  minimum?: number;
  maximum?: number;
  /** Kubernetes (OpenAPI v3.0) semantics: a boolean that makes `minimum` exclusive. */
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
}

export interface StringOptions extends K8sOptions {
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
}

export interface ArrayOptions extends K8sOptions {
  minItems?: number;
  maxItems?: number;
  uniqueItems?: never;
}

declare const DefaultBrand: unique symbol;
declare const CodeDefaultBrand: unique symbol;

/** An optional field the API server fills with `default` when it is absent. */
export type TDefaulted<T extends TSchema> = TOptional<T> & { [DefaultBrand]: true };
/** An optional field whose default depends on other fields, so `withXDefaults()` fills it (not the API server). */
export type TCodeDefaulted<T extends TSchema> = TOptional<T> & { [CodeDefaultBrand]: true };

export function Defaulted<T extends TSchema>(schema: T, value: Static<T>): TDefaulted<T> {
  return Type.Optional({ ...schema, default: value } as T) as TDefaulted<T>;
}

export function CodeDefaulted<T extends TSchema>(schema: T): TCodeDefaulted<T> {
  return Type.Optional(schema) as TCodeDefaulted<T>;
}

/**
 * The static type of a schema once defaults are applied: fields marked Defaulted or CodeDefaulted become required.
 * (Static<> gives the type as users write it, with those fields optional.)
 */
export type Resolved<T> =
  T extends TObject<infer P>
    ? ResolvedObject<P>
    : T extends TArray<infer I>
      ? Resolved<I>[]
      : T extends TSchema
        ? Static<T>
        : never;

type IsDefaulted<S> = S extends { [DefaultBrand]: true } ? true : S extends { [CodeDefaultBrand]: true } ? true : false;
type IsOptional<S> = S extends TOptional<TSchema> ? true : false;
type RequiredKeys<P extends TProperties> = {
  [K in keyof P]: IsDefaulted<P[K]> extends true ? K : IsOptional<P[K]> extends true ? never : K;
}[keyof P];
type OptionalKeys<P extends TProperties> = Exclude<keyof P, RequiredKeys<P>>;
type Flatten<T> = { [K in keyof T]: T[K] } & {};
type ResolvedObject<P extends TProperties> = Flatten<
  { [K in RequiredKeys<P>]-?: Resolved<P[K]> } & { [K in OptionalKeys<P>]?: Resolved<P[K]> }
>;

/** A string restricted to `values` (JSON Schema `enum`; TypeBox's Literal would emit `const`). */
export function StringEnum<const V extends readonly string[]>(values: V, options: K8sOptions = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ ...options, type: 'string', enum: [...values] });
}

export function Str(options: StringOptions = {}) {
  return Type.String(options);
}

export function Int(options: NumberRange = {}) {
  return Type.Unsafe<number>({ ...options, type: 'integer', format: 'int64' });
}

export function Int32(options: NumberRange = {}) {
  return Type.Unsafe<number>({ ...options, type: 'integer', format: 'int32' });
}

export function Num(options: NumberRange = {}) {
  return Type.Unsafe<number>({ ...options, type: 'number' });
}

export function Bool(options: K8sOptions = {}) {
  return Type.Boolean(options);
}

export function Obj<P extends TProperties>(properties: P, options: K8sOptions = {}): TObject<P> {
  return Type.Object(properties, options);
}

export function List<T extends TSchema>(items: T, options: ArrayOptions = {}): TArray<T> {
  return Type.Array(items, options);
}

/** An object with arbitrary keys and values of one schema (`additionalProperties`, which Kubernetes allows). */
export function StringMap<T extends TSchema>(
  values: T,
  options: K8sOptions & { maxProperties?: number } = {},
): TUnsafe<Record<string, Static<T>>> {
  return Type.Unsafe<Record<string, Static<T>>>({ ...options, type: 'object', additionalProperties: values });
}

/** An object the API server stores as given (for embedded Kubernetes types too large to restate, e.g. Affinity). */
export function OpaqueObject<T = Record<string, unknown>>(options: K8sOptions = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ ...options, type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
}

/** The resource quantity grammar of k8s.io/apimachinery (e.g. `500m`, `4Gi`, `1e3`). */
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** A resource quantity: an integer or a string such as `4Gi` (what controller-gen emits for resource.Quantity). */
export function Quantity(options: K8sOptions = {}): TUnsafe<number | string> {
  return Type.Unsafe<number | string>({
    ...options,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
    'x-kubernetes-int-or-string': true,
  });
}

/** DNS-1123 subdomain: names of most Kubernetes objects (PVCs, LotaAdaptations, ServiceAccounts…). */
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** DNS-1123 label: names that end up in labels or DNS (Kueue LocalQueue names, container names). */
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export function ObjectName(description: string, options: StringOptions = {}) {
  return Str({ description, minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN, ...options });
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** The parts of metav1.ObjectMeta this project reads or writes. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

/** `metadata` of a root schema: Kubernetes validates it itself; a CRD may only say it is an object. */
export function Metadata(): TUnsafe<ObjectMeta> {
  return Type.Unsafe<ObjectMeta>({ type: 'object' });
}

/** The root schema of a custom resource: apiVersion, kind, metadata, spec and status. */
export function RootObject<S extends TSchema, T extends TSchema>(
  group: string,
  kind: string,
  spec: S,
  status: T,
  options: K8sOptions,
) {
  return Obj(
    {
      apiVersion: Type.Optional(Str({ description: group })),
      kind: Type.Optional(Str({ description: kind })),
      metadata: Type.Optional(Metadata()),
      spec,
      status: Type.Optional(status),
    },
    options,
  );
}
