// The Helm chart: lint, strict schema validation of everything it renders (kubeconform against the Kubernetes
// release's own OpenAPI and our CRDs), the values schema's refusals, RBAC shape per mode, leader election, the
// restricted security context, and CRD copies that match the one source of truth.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tool } from '../../scripts/toolchain.ts';
import { CHART_DIR, find, helm, type K8sObject, one, parseManifests, REPO_ROOT, render } from './helm.ts';
import { schemaLocation, writeBuiltinSchemas, writeCrdSchemas } from './kubeconform-schemas.ts';

const run = promisify(execFile);

/** Value sets that between them switch on every template. */
const VARIANTS: Record<string, Record<string, unknown>> = {
  defaults: {},
  everything: {
    replicaCount: 2,
    serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    prometheusRule: { enabled: true },
    grafanaDashboard: { enabled: true, namespace: 'monitoring' },
    networkPolicy: {
      enabled: true,
      apiServer: { cidrs: ['10.0.0.1/32'] },
      metrics: { from: [{ namespaceSelector: {} }] },
    },
    image: { digest: `sha256:${'0'.repeat(64)}` },
    extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' }],
    tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
    priorityClassName: 'system-cluster-critical',
  },
  namespaced: { watchNamespaces: ['team-a', 'team-b'], networkPolicy: { enabled: true } },
};

const CRD_DIR = join(REPO_ROOT, 'crds');
const CHART_CRD_DIR = join(CHART_DIR, 'crds');
const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

describe('the pinned tools', () => {
  it('are the versions scripts/setup-helm.sh pins', async () => {
    expect((await helm(['version', '--short'])).stdout).toMatch(/^v4\.3\.1\b/);
    const { stdout } = await run(tool('LOTA_KUBECONFORM'), ['-v']);
    expect(stdout.trim()).toBe('v0.8.0');
  });
});

describe('the chart', () => {
  let schemas: string;
  beforeAll(() => {
    schemas = mkdtempSync(join(tmpdir(), 'lota-kubeconform-'));
  });
  afterAll(() => rmSync(schemas, { recursive: true, force: true }));

  it.each(Object.keys(VARIANTS))('passes helm lint --strict with the %s values', async (variant) => {
    const dir = mkdtempSync(join(tmpdir(), 'lota-values-'));
    try {
      const values = join(dir, 'values.json');
      writeFileSync(values, JSON.stringify(VARIANTS[variant]));
      const r = await helm(['lint', '--strict', CHART_DIR, '-f', values, '--kube-version', tool('LOTA_K8S_VERSION')]);
      expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(Object.keys(VARIANTS))('renders only objects that validate strictly (%s values)', async (variant) => {
    const text = await render(VARIANTS[variant], ['--include-crds']);
    const objects = parseManifests(text);
    const builtin = [
      ...new Map(
        objects
          .filter((o) => !o.apiVersion.includes('lota.dev') && !o.apiVersion.startsWith('monitoring.coreos.com'))
          .map((o) => {
            const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
            return [`${o.apiVersion}/${o.kind}`, { group: group ?? '', version: version ?? '', kind: o.kind }];
          }),
      ).values(),
    ];
    writeBuiltinSchemas(tool('LOTA_K8S_SWAGGER'), builtin, schemas);
    const rendered = join(schemas, `${variant}.yaml`);
    writeFileSync(rendered, text);
    // prometheus-operator's CRDs are not available offline: its two kinds are checked by promtool (alerts.test.ts)
    // and by the assertions below, not by kubeconform.
    const { stdout } = await run(
      tool('LOTA_KUBECONFORM'),
      [
        '-strict',
        '-summary',
        '-output',
        'json',
        '-skip',
        'ServiceMonitor,PrometheusRule',
        '-schema-location',
        schemaLocation(schemas),
        rendered,
      ],
      { maxBuffer: 16 << 20 },
    ).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`kubeconform refused the ${variant} render:\n${err.stdout ?? err.message}`);
    });
    const summary = JSON.parse(stdout) as {
      summary: { valid: number; invalid: number; errors: number; skipped: number };
    };
    const skipped = objects.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PrometheusRule').length;
    expect(summary.summary).toEqual({ valid: objects.length - skipped, invalid: 0, errors: 0, skipped });
  });

  it('validates the examples strictly against the CRD schemas', async () => {
    writeCrdSchemas(
      yamlFiles(CRD_DIR).map((f) => join(CRD_DIR, f)),
      schemas,
    );
    const examples = join(REPO_ROOT, 'examples');
    // demo.yaml is the input of `lota run` on this machine (relative file: URIs, which only the CLI resolves), not
    // a cluster manifest.
    const files = yamlFiles(examples)
      .filter((f) => f !== 'demo.yaml')
      .map((f) => join(examples, f));
    expect(files.length).toBeGreaterThan(0);
    const { stdout } = await run(tool('LOTA_KUBECONFORM'), [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-skip',
      'PersistentVolumeClaim,Namespace,ConfigMap,Pod,Job,Secret,ServiceAccount',
      '-schema-location',
      schemaLocation(schemas),
      ...files,
    ]).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`kubeconform refused an example:\n${err.stdout ?? err.message}`);
    });
    const summary = JSON.parse(stdout) as { summary: { valid: number; invalid: number; errors: number } };
    expect(summary.summary.valid).toBeGreaterThan(0);
    expect({ invalid: summary.summary.invalid, errors: summary.summary.errors }).toEqual({ invalid: 0, errors: 0 });
  });

  it('ships exactly the CRDs of crds/ (run charts/sync-crds.sh after changing the API)', () => {
    const source = yamlFiles(CRD_DIR);
    expect(source.length).toBeGreaterThan(0);
    expect(yamlFiles(CHART_CRD_DIR)).toEqual(source);
    for (const f of source) {
      expect(readFileSync(join(CHART_CRD_DIR, f), 'utf8'), `${f} is stale: run charts/sync-crds.sh`).toBe(
        readFileSync(join(CRD_DIR, f), 'utf8'),
      );
    }
  });
});

describe('values.schema.json', () => {
  it.each([
    [{ replicaCount: -1 }, 'replicaCount'],
    [{ watchNamespaces: ['Not_A_Namespace'] }, 'watchNamespaces'],
    [{ image: { pullPolicy: 'Sometimes' } }, 'pullPolicy'],
    [{ logLevel: 'loud' }, 'logLevel'],
    [{ metrics: { port: 70000 } }, 'port'],
    [{ replicas: 2 }, 'replicas'],
    [{ image: { digest: 'latest' } }, 'digest'],
  ])('refuses %j, naming %s', async (values, field) => {
    const err = await render(values).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(err).toMatch(/values don't meet the specifications of the schema|schema/);
    expect(err).toContain(field);
  });

  it('refuses a missing service account name when the chart must not create one', async () => {
    await expect(render({ serviceAccount: { create: false } })).rejects.toThrow(
      /serviceAccount.name must name an existing/,
    );
  });
});

const env = (deployment: K8sObject) => {
  const container = (
    deployment as unknown as {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    }
  ).spec.template.spec.containers[0];
  return Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
};

describe('what the chart renders', () => {
  it('watches every namespace through one ClusterRole by default, and writes no spec', async () => {
    const objects = parseManifests(await render());
    const role = one(objects, 'ClusterRole', 'lota-lota-operator') as unknown as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    expect(find(objects, 'Role').map((r) => r.metadata.name)).toEqual([]);
    const binding = one(objects, 'ClusterRoleBinding', 'lota-lota-operator') as unknown as { subjects: unknown[] };
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'lota-lota-operator', namespace: 'lota-system' },
    ]);
    // The operator never writes its resources' spec or metadata (GitOps diffs stay clean): no update/patch on them.
    const onCrs = role.rules.filter(
      (r) => r.apiGroups.includes('lota.dev') && r.resources.some((x) => !x.includes('/')),
    );
    expect(onCrs.flatMap((r) => r.verbs).sort()).toEqual(['get', 'list', 'watch']);
    // Nothing cluster-wide beyond the watched kinds: no secrets, no wildcards, no nodes.
    for (const rule of role.rules) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
      expect(rule.resources).not.toContain('secrets');
    }
    expect(env(one(objects, 'Deployment')).LOTA_WATCH_NAMESPACES).toBe('');
  });

  it('grants namespaced Roles only in the listed namespaces when watchNamespaces is set', async () => {
    const objects = parseManifests(await render({ watchNamespaces: ['team-a', 'team-b'] }));
    const operatorClusterRoles = find(objects, 'ClusterRole').filter((r) => !/-(edit|view)$/.test(r.metadata.name));
    expect(operatorClusterRoles).toEqual([]);
    expect(find(objects, 'ClusterRoleBinding')).toEqual([]);
    expect(
      find(objects, 'Role')
        .map((r) => r.metadata.namespace)
        .sort(),
    ).toEqual(['team-a', 'team-b']);
    expect(
      find(objects, 'RoleBinding')
        .map((r) => r.metadata.namespace)
        .sort(),
    ).toEqual(['team-a', 'team-b']);
    expect(env(one(objects, 'Deployment')).LOTA_WATCH_NAMESPACES).toBe('team-a,team-b');
  });

  it('turns leader election on with more than one replica, with a Lease Role scoped to its name', async () => {
    const single = parseManifests(await render());
    expect(env(one(single, 'Deployment')).LOTA_LEADER_ELECT).toBe('false');
    expect((one(single, 'Deployment') as unknown as { spec: { strategy: { type: string } } }).spec.strategy.type).toBe(
      'Recreate',
    );
    expect(find(single, 'PodDisruptionBudget')).toEqual([]);

    const ha = parseManifests(await render({ replicaCount: 3 }));
    const deployment = one(ha, 'Deployment') as unknown as { spec: { replicas: number; strategy: { type: string } } };
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
    expect(env(one(ha, 'Deployment')).LOTA_LEADER_ELECT).toBe('true');
    const args = (
      one(ha, 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } }
    ).spec.template.spec.containers[0]?.args;
    expect(args).toEqual(['--lease-name=lota-lota-operator']);
    const lease = one(ha, 'Role', 'lota-lota-operator-leader-election') as unknown as {
      metadata: { namespace: string };
      rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
    };
    expect(lease.metadata.namespace).toBe('lota-system');
    expect(lease.rules).toEqual([
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['lota-lota-operator'],
        verbs: ['get', 'update'],
      },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    expect(find(ha, 'PodDisruptionBudget')).toHaveLength(1);
  });

  it('runs the operator under the restricted Pod Security Standard', async () => {
    const pod = (
      one(parseManifests(await render()), 'Deployment') as unknown as {
        spec: { template: { spec: Record<string, never> } };
      }
    ).spec.template.spec as unknown as {
      securityContext: Record<string, unknown>;
      containers: {
        securityContext: Record<string, unknown>;
        resources: unknown;
        livenessProbe: unknown;
        readinessProbe: unknown;
      }[];
      volumes?: { hostPath?: unknown }[];
    };
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const c = pod.containers[0];
    expect(c?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c?.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'health' } });
    expect(c?.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'health' } });
    expect(c?.resources).toMatchObject({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    expect((pod.volumes ?? []).filter((v) => v.hostPath)).toEqual([]);
  });

  it('ships the Grafana dashboard as a ConfigMap holding valid dashboard JSON', async () => {
    const cm = one(parseManifests(await render({ grafanaDashboard: { enabled: true } })), 'ConfigMap') as unknown as {
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    };
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(cm.data['lota-operator.json'] ?? '') as {
      title: string;
      panels: { targets?: { expr: string }[] }[];
    };
    expect(dashboard.title).toBe('LoTA operator');
    expect(dashboard.panels.flatMap((p) => p.targets ?? []).length).toBeGreaterThan(5);
  });
});
