// docs/install.md must stay true to the chart: every permission granted is justified in its table (and nothing
// is justified that is not granted), and the manifests it shows validate strictly against the CRDs and Kubernetes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tool } from '../../scripts/toolchain.ts';
import { find, parseManifests, REPO_ROOT, render } from './helm.ts';
import { schemaLocation, writeBuiltinSchemas, writeCrdSchemas } from './kubeconform-schemas.ts';

const run = promisify(execFile);
const doc = readFileSync(join(REPO_ROOT, 'docs/install.md'), 'utf8');

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** `group resource verb` for every (group, resource, verb) a rule list grants. */
function grants(rules: Rule[]): string[] {
  return rules.flatMap((r) =>
    r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g} ${res} ${v}`))),
  );
}

/** The same triples from the permissions table of docs/install.md. */
function justified(): string[] {
  const section = doc.slice(doc.indexOf('## Permissions'), doc.indexOf('## Monitoring'));
  return section
    .split('\n')
    .filter((l) => /^\| [^-]/.test(l) && !l.startsWith('| API group'))
    .flatMap((line) => {
      const [group = '', resources = '', verb = '', why = ''] = line
        .split('|')
        .slice(1)
        .map((c) => c.trim());
      expect(why.length, `no reason given in: ${line}`).toBeGreaterThan(10);
      const g = group.startsWith('""') ? '' : group;
      return resources.split(',').map((r) => `${g} ${r.trim()} ${verb}`);
    });
}

describe('docs/install.md', () => {
  it('justifies exactly the permissions the chart grants', async () => {
    const objects = parseManifests(await render({ replicaCount: 2 }));
    const operatorRoles = [...find(objects, 'ClusterRole'), ...find(objects, 'Role')].filter(
      (r) => !/-(edit|view)$/.test(r.metadata.name),
    ) as unknown as { rules: Rule[] }[];
    const granted = new Set(operatorRoles.flatMap((r) => grants(r.rules)));
    expect(new Set(justified())).toEqual(granted);
  });

  it('shows manifests that validate strictly', async () => {
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    const objects = blocks.flatMap((b) => parseManifests(b));
    expect(objects.map((o) => o.kind).sort()).toEqual(['LotaAdaptation', 'PersistentVolumeClaim', 'Pod']);
    const dir = mkdtempSync(join(tmpdir(), 'lota-docs-'));
    try {
      const crds = join(REPO_ROOT, 'crds');
      writeCrdSchemas(
        readdirSync(crds)
          .filter((f) => f.endsWith('.yaml'))
          .map((f) => join(crds, f)),
        dir,
      );
      writeBuiltinSchemas(
        tool('LOTA_K8S_SWAGGER'),
        [
          { group: '', version: 'v1', kind: 'PersistentVolumeClaim' },
          { group: '', version: 'v1', kind: 'Pod' },
        ],
        dir,
      );
      const file = join(dir, 'docs.yaml');
      writeFileSync(file, blocks.join('\n---\n'));
      await run(tool('LOTA_KUBECONFORM'), ['-strict', '-schema-location', schemaLocation(dir), file]).catch(
        (err: { stdout?: string; message: string }) => {
          throw new Error(`kubeconform refused a manifest of docs/install.md:\n${err.stdout || err.message}`);
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
