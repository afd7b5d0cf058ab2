// The field reference of docs/api.md, generated from the same schemas as the CRDs (scripts/gen-crds.ts writes it
// between the markers; api/test/crds.test.ts fails when it is stale).

import { KINDS } from './crds.ts';
import { ARTIFACT_URI_PATTERN } from './uri.ts';

interface Node {
  description?: string;
  type?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  pattern?: string;
  format?: string;
  required?: string[];
  properties?: Record<string, Node>;
  items?: Node;
  additionalProperties?: Node | boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string }[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: string;
}

export const REFERENCE_BEGIN = '<!-- BEGIN GENERATED FIELD REFERENCE (npm run gen:crds) -->';
export const REFERENCE_END = '<!-- END GENERATED FIELD REFERENCE -->';

function typeOf(n: Node): string {
  if (n['x-kubernetes-int-or-string']) return 'quantity';
  if (n.type === 'array') return `[]${n.items ? typeOf(n.items) : '?'}`;
  if (n.type === 'object' && typeof n.additionalProperties === 'object') {
    return `map[string]${typeOf(n.additionalProperties)}`;
  }
  if (n.pattern === ARTIFACT_URI_PATTERN) return 'URI';
  return n.type ?? 'any';
}

function constraints(n: Node): string[] {
  const out: string[] = [];
  if (n.enum) out.push(n.enum.map((v) => `\`${v}\``).join(' | '));
  if (n.minimum !== undefined || n.maximum !== undefined) {
    const lo = n.minimum === undefined ? '(-∞' : `${n.exclusiveMinimum ? '(' : '['}${n.minimum}`;
    const hi = n.maximum === undefined ? '∞)' : `${n.maximum}${n.exclusiveMaximum ? ')' : ']'}`;
    out.push(`${lo}, ${hi}`);
  }
  if (n.maxLength !== undefined && n.pattern !== ARTIFACT_URI_PATTERN) out.push(`≤ ${n.maxLength} chars`);
  if (n.minItems !== undefined) out.push(`≥ ${n.minItems} items`);
  if (n.maxItems !== undefined) out.push(`≤ ${n.maxItems} items`);
  if (n.maxProperties !== undefined) out.push(`≤ ${n.maxProperties} keys`);
  if (n['x-kubernetes-list-type'] === 'set') out.push('unique');
  if (n.pattern && n.pattern !== ARTIFACT_URI_PATTERN && !n['x-kubernetes-int-or-string']) {
    out.push(`pattern \`${n.pattern}\``);
  }
  if (n.format === 'date-time') out.push('RFC 3339 time');
  for (const v of n['x-kubernetes-validations'] ?? []) {
    if (!v.rule.includes('oldSelf')) out.push(`rule: ${v.message ?? v.rule}`);
  }
  return out;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function rows(n: Node, path: string, required: boolean, out: string[]): void {
  const def = n.default === undefined ? '' : `\`${JSON.stringify(n.default)}\``;
  const c = constraints(n).map(cell).join('; ');
  out.push(`| \`${path}\`${required ? ' *' : ''} | ${typeOf(n)} | ${def} | ${c} | ${cell(n.description ?? '')} |`);
  const item = n.type === 'array' ? n.items : undefined;
  const target = item ?? n;
  const prefix = item ? `${path}[]` : path;
  for (const [name, child] of Object.entries(target.properties ?? {})) {
    rows(child, `${prefix}.${name}`, (target.required ?? []).includes(name), out);
  }
}

export function renderReference(): string {
  const parts: string[] = [REFERENCE_BEGIN, ''];
  for (const k of KINDS) {
    const root = JSON.parse(JSON.stringify(k.schema)) as Node;
    for (const section of ['spec', 'status'] as const) {
      const node = root.properties?.[section];
      if (!node) continue;
      parts.push(`### ${k.kind} \`.${section}\``, '');
      parts.push('| field | type | default | constraints | meaning |', '| --- | --- | --- | --- | --- |');
      const out: string[] = [];
      for (const [name, child] of Object.entries(node.properties ?? {})) {
        rows(child, `${section}.${name}`, (node.required ?? []).includes(name), out);
      }
      parts.push(...out, '');
    }
    const rootRules = (root['x-kubernetes-validations'] ?? []).map((v) => `- ${v.message}`);
    const specRules = (root.properties?.spec?.['x-kubernetes-validations'] ?? []).map((v) => `- ${v.message}`);
    parts.push(`Rules across fields of ${k.kind}:`, '', ...specRules, ...rootRules, '');
  }
  parts.push(REFERENCE_END);
  return parts.join('\n');
}

/** `doc` with the text between the markers replaced by the current reference. */
export function withReference(doc: string): string {
  const begin = doc.indexOf(REFERENCE_BEGIN);
  const end = doc.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin) throw new Error(`docs/api.md lacks the markers ${REFERENCE_BEGIN} … ${REFERENCE_END}`);
  return doc.slice(0, begin) + renderReference() + doc.slice(end + REFERENCE_END.length);
}
