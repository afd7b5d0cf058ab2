// Runs the pinned helm (scripts/setup-helm.sh) on the chart and parses what it renders.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { tool } from '../../scripts/toolchain.ts';

const run = promisify(execFile);

export const CHART_DIR = fileURLToPath(new URL('../lota-operator', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with `args`; never throws for a non-zero exit (tests assert on refusals). */
export async function helm(args: string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(tool('LOTA_HELM'), args, {
      maxBuffer: 32 << 20,
      env: {
        ...process.env,
        HELM_CACHE_HOME: '/tmp/lota-helm/cache',
        HELM_CONFIG_HOME: '/tmp/lota-helm/config',
        HELM_DATA_HOME: '/tmp/lota-helm/data',
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `helm template` with `--set`-style values (`key=value`, JSON values through --set-json); throws on failure. */
export async function render(values: Record<string, unknown> = {}, extra: string[] = []): Promise<string> {
  const args = [
    'template',
    'lota',
    CHART_DIR,
    '--namespace',
    'lota-system',
    '--kube-version',
    tool('LOTA_K8S_VERSION'),
  ];
  for (const [k, v] of Object.entries(values)) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  const r = await helm([...args, ...extra]);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = find(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as K8sObject;
}
