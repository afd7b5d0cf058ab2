// Kubernetes resource quantities (`500m`, `2Gi`, `1e3`; the grammar the CRDs validate) as plain numbers.
import { QUANTITY_PATTERN } from './schema/k8s.ts';

const GRAMMAR = new RegExp(QUANTITY_PATTERN);
const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The quantity's value (a number is taken as it is); throws on anything outside the Kubernetes grammar. */
export function parseQuantity(quantity: string | number): number {
  if (typeof quantity === 'number') return quantity;
  const text = quantity.trim();
  const m = GRAMMAR.test(text) ? /^(.*?)([KMGTPE]i|[numkMGTPE])?$/.exec(text) : null;
  if (!m?.[1]) throw new Error(`invalid resource quantity ${JSON.stringify(quantity)}`);
  return Number(m[1]) * (SUFFIX[m[2] ?? ''] as number);
}
