// How the operator's API client should connect, measured on the project's real control plane: N ConfigMap creates
// and N GETs with C in flight, through (a) one HTTP/2 connection, (b) a pool of HTTP/1.1 keep-alive connections,
// (c) a new connection (and TLS handshake) per request, as the client did before it pooled. Printed: wall seconds
// and this process's CPU seconds per mode, and the ratios to (a). Not a test.
//   node bench/kube-client.ts [--n=2000] [--concurrency=8]
import { parseArgs } from 'node:util';
import { startControlPlane } from '../e2e/harness/control-plane.ts';
import { KubeClient } from '../operator/src/kube/client.ts';
import { kubeconfigCredentials } from '../operator/src/kube/credentials.ts';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '8' } },
});
const n = Number(values.n);
const concurrency = Number(values.concurrency);
const cp = await startControlPlane({ node: false, controllerManager: false, scheduler: false });
const creds = kubeconfigCredentials(cp.kubeconfigPath);

type Mode = 'http2' | 'http1-pool' | 'new-connection-each';
async function run(mode: Mode, ns: string) {
  const shared =
    mode === 'new-connection-each' ? undefined : new KubeClient(creds, { qps: 0, http2: mode === 'http2' });
  const call = async <T>(f: (c: KubeClient) => Promise<T>) => {
    if (shared) return f(shared);
    const c = new KubeClient(creds, { qps: 0, http2: false });
    try {
      return await f(c);
    } finally {
      await c.close();
    }
  };
  await call((c) => c.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const worker = async (op: (i: number) => Promise<unknown>) => {
    for (let i = next++; i < n; i = next++) await op(i);
  };
  const phase = async (op: (i: number) => Promise<unknown>) => {
    next = 0;
    await Promise.all(Array.from({ length: concurrency }, () => worker(op)));
  };
  await phase((i) =>
    call((c) =>
      c.create(`/api/v1/namespaces/${ns}/configmaps`, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${i}` },
        data: { i: String(i) },
      }),
    ),
  );
  await phase((i) => call((c) => c.get(`/api/v1/namespaces/${ns}/configmaps/cm-${i}`)));
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await shared?.close();
  return { mode, wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

try {
  const results = [];
  for (const mode of ['http2', 'http1-pool', 'new-connection-each'] as Mode[])
    results.push(await run(mode, `client-${mode}`));
  const ref = results[0] as { wall: number; cpu: number };
  console.log(`${n} creates + ${n} gets, ${concurrency} in flight, one client process:`);
  for (const r of results)
    console.log(
      `  ${r.mode.padEnd(20)} ${r.wall.toFixed(2)} s wall (${(r.wall / ref.wall).toFixed(2)}×), ${r.cpu.toFixed(2)} s CPU (${(r.cpu / ref.cpu).toFixed(2)}×), ${((2 * n) / r.wall).toFixed(0)} requests/s`,
    );
} finally {
  await cp.stop();
}
