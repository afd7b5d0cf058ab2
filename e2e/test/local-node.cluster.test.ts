// The local node runs what the real scheduler binds to it: Jobs' pods as host processes, with the env, volumes,
// exit codes, termination messages and deletion semantics a kubelet gives them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { createLocalClaim } from '../harness/volumes.ts';
import { waitFor } from '../harness/wait.ts';

const { kubectl, pvcRoot, nodeName } = cluster();
let ns = '';
let claimDir = '';

beforeAll(async () => {
  ns = await createNamespace(kubectl, 'node');
  claimDir = await createLocalClaim(kubectl, { namespace: ns, claim: 'work', pvcRoot });
});
afterAll(async () => {
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await kubectl(['delete', 'pv', `${ns}-work`, '--wait=false']);
});

interface PodLike {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string };
  status: {
    phase?: string;
    podIP?: string;
    containerStatuses?: { restartCount: number; state: { terminated?: { exitCode: number; message?: string } } }[];
  };
}

async function job(name: string, script: string, extra: { spec?: object; pod?: object; container?: object } = {}) {
  const manifest = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns },
    spec: {
      backoffLimit: 0,
      ...extra.spec,
      template: {
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 5,
          volumes: [
            { name: 'work', persistentVolumeClaim: { claimName: 'work' } },
            { name: 'scratch', emptyDir: {} },
          ],
          ...extra.pod,
          containers: [
            {
              name: 'main',
              image: 'busybox:1.36',
              command: ['sh', '-c', script],
              env: [
                { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'TERMINATION', value: '/dev/termination-log' },
                { name: 'GREETING', value: 'hello from $(POD_NAME)' },
              ],
              volumeMounts: [
                { name: 'work', mountPath: '/work' },
                { name: 'scratch', mountPath: '/scratch' },
              ],
              ...extra.container,
            },
          ],
        },
      },
    },
  };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
}

async function podOf(jobName: string): Promise<PodLike | undefined> {
  const out = await kubectl(['get', 'pods', '-n', ns, '-l', `job-name=${jobName}`, '-o', 'json']);
  return (JSON.parse(out).items as PodLike[])[0];
}

async function jobCondition(name: string): Promise<string | undefined> {
  const out = await kubectl(['get', 'job', name, '-n', ns, '-o', 'json']);
  const conditions = (JSON.parse(out).status?.conditions ?? []) as { type: string; status: string; reason?: string }[];
  const done = conditions.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  return done ? `${done.type}/${done.reason ?? ''}` : undefined;
}

describe('the local node', () => {
  it('advertises cpu, memory and nvidia.com/gpu and is Ready', async () => {
    const node = JSON.parse(await kubectl(['get', 'node', nodeName, '-o', 'json']));
    expect(Object.keys(node.status.allocatable)).toEqual(expect.arrayContaining(['cpu', 'memory', 'nvidia.com/gpu']));
    expect(node.status.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('True');
  });

  it('runs a Job to Complete with env, downward API, volumes and the termination message', async () => {
    await job(
      'ok',
      'echo "$GREETING at $POD_IP" > /work/out.txt && touch /scratch/tmp && echo "done $POD_IP" > $TERMINATION',
      { container: { resources: { limits: { 'nvidia.com/gpu': '1' } } } },
    );
    expect(await waitFor('job ok finished', () => jobCondition('ok'), { timeoutMs: 90_000 })).toBe(
      'Complete/CompletionsReached',
    );
    const pod = await podOf('ok');
    expect(pod?.spec.nodeName).toBe(nodeName);
    expect(pod?.status.phase).toBe('Succeeded');
    expect(pod?.status.podIP).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(pod?.status.containerStatuses?.[0]?.state.terminated).toMatchObject({
      exitCode: 0,
      message: `done ${pod?.status.podIP}\n`,
    });
    expect(readFileSync(join(claimDir, 'out.txt'), 'utf8')).toBe(
      `hello from ${pod?.metadata.name} at ${pod?.status.podIP}\n`,
    );
  });

  it('reports a non-zero exit code and fails the Job, with the log tail as message on FallbackToLogsOnError', async () => {
    await job('fails', 'echo "boom: no such dataset"; exit 3', {
      container: { terminationMessagePolicy: 'FallbackToLogsOnError' },
    });
    expect(await waitFor('job fails finished', () => jobCondition('fails'), { timeoutMs: 90_000 })).toBe(
      'Failed/BackoffLimitExceeded',
    );
    const pod = await podOf('fails');
    expect(pod?.status.phase).toBe('Failed');
    expect(pod?.status.containerStatuses?.[0]?.state.terminated).toMatchObject({
      exitCode: 3,
      message: 'boom: no such dataset\n',
    });
  });

  it('lets the real Job controller apply a podFailurePolicy to the exit code', async () => {
    await job('permanent', 'exit 10', {
      spec: {
        backoffLimit: 5,
        podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [10, 11, 12] } }] },
      },
    });
    expect(await waitFor('job permanent finished', () => jobCondition('permanent'), { timeoutMs: 90_000 })).toBe(
      'Failed/PodFailurePolicy',
    );
  });

  it('stops a deleted pod with SIGTERM and removes it', async () => {
    await job(
      'long',
      'trap "echo TERM > /work/term.txt; exit 143" TERM; echo started > /work/started.txt; while true; do sleep 0.2; done',
    );
    const pod = await waitFor('pod of job long running', async () => {
      const p = await podOf('long');
      return p?.status.phase === 'Running' && existsSync(join(claimDir, 'started.txt')) ? p : undefined;
    });
    await kubectl(['delete', 'pod', pod.metadata.name, '-n', ns, '--wait=true', '--timeout=60s']);
    expect(readFileSync(join(claimDir, 'term.txt'), 'utf8')).toBe('TERM\n');
  });
});
