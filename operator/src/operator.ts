// Assembles the operator: informers → work queues → reconcilers, metrics and probes, leader election.
// `main.ts` runs it as a process; integration tests run it in-process against a real API server.

import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { OperatorConfig } from './config.ts';
import { Reconciler } from './controller.ts';
import { EventRecorder } from './events.ts';
import { serve } from './http.ts';
import { Informers } from './informers.ts';
import { KubeClient, type KubeSource } from './kube/client.ts';
import { LeaderElector } from './leader.ts';
import { Manager } from './manager.ts';
import { OperatorMetrics } from './metrics.ts';
import { ProgressPoller } from './progress.ts';

export interface RunningOperator {
  metrics: OperatorMetrics;
  informers: Informers;
  manager: Manager;
  /** Resolves when leadership is lost (the process should exit) or after stop(). */
  done: Promise<'lost' | 'stopped'>;
  stop(): Promise<void>;
}

export async function startOperator(
  config: OperatorConfig,
  kubeConfig: KubeSource,
  log: Logger,
  opts: { resyncMs?: number; defaultMetrics?: boolean } = {},
): Promise<RunningOperator> {
  let reconciler: Reconciler | undefined;
  const metrics = new OperatorMetrics({
    resourceCounts: () => reconciler?.resourceCounts() ?? [],
    ...(opts.defaultMetrics !== undefined && { defaults: opts.defaultMetrics }),
  });
  let elector: LeaderElector | undefined;
  // client-go's metric of the same name, with the resource instead of the host (one API server).
  const requests = new Counter({
    name: 'rest_client_requests_total',
    help: 'Requests to the API server by verb, resource and HTTP status code',
    labelNames: ['method', 'resource', 'code'],
    registers: [metrics.registry],
  });
  const client = new KubeClient(kubeConfig, {
    qps: config.kubeApiQps,
    burst: config.kubeApiBurst,
    timeoutMs: config.kubeApiTimeoutMs,
    http2: config.kubeApiHttp2,
    onRequest: (method, resource, code) => requests.inc({ method, resource, code }),
  });
  let manager: Manager | undefined;
  const informers = new Informers({
    client,
    namespaces: config.namespaces,
    log,
    onChange: (kind, change) => manager?.onChange(kind, change),
    onRecovery: (kind, cause) => metrics.watchRestarts.inc({ resource: kind, cause }),
  });
  const progress = new ProgressPoller({
    intervalMs: config.progressIntervalSeconds * 1000,
    onUpdate: (key) => manager?.enqueue(key),
    onOutcome: (outcome) => metrics.progressPolls.inc({ outcome }),
  });
  const events = new EventRecorder(client, config.identity, log);
  reconciler = new Reconciler({
    client,
    informers,
    events,
    metrics,
    progress,
    log,
    defaultImage: config.trainerImage,
    // A replica writes only while its lease is valid (see leader.ts), so two never act at once.
    fence: () => !elector || elector.isLeader(),
    storageDefaults: config.storage,
    ...(opts.resyncMs !== undefined && { resyncMs: opts.resyncMs }),
  });
  manager = new Manager({
    informers,
    reconciler,
    metrics,
    log,
    workers: config.workers,
    onPodGone: (uid) => progress.forget(uid),
  });
  const running = manager;

  const servers: Server[] = [];
  let workersStarted = false;
  // Ready once the caches of some watched namespace have synced (it reconciles there); namespaces the operator cannot
  // list (a missing RoleBinding) are logged by their reflectors and retried, and do not hold back the others.
  const probes = {
    healthy: () => true,
    ready: () => informers.unsyncedNamespaces().length < (config.namespaces.length || 1),
  };
  if (config.metricsPort > 0) servers.push(await serve(config.metricsPort, { registry: metrics.registry }));
  if (config.healthPort > 0) servers.push(await serve(config.healthPort, { probes }));

  informers.start();
  const startWorkers = async () => {
    // Workers start at once: each reconcile waits for its own namespace's caches (a reconcile on a partial cache
    // could create a Job a full cache would show exists), and no namespace waits for another.
    if (workersStarted) return;
    workersStarted = true;
    // Everything cached so far was enqueued before the workers started; they drain it now.
    running.start();
    log.info({ namespaces: config.namespaces.length > 0 ? config.namespaces : 'all' }, 'reconcilers started');
  };

  // Renewals must not wait behind a backlog of reconcile requests in the rate limiter: their own, unlimited client.
  const leaderClient = client.unlimited();
  let done: Promise<'lost' | 'stopped'>;
  let stopDone: (v: 'stopped') => void = () => {};
  if (config.leaderElect) {
    elector = new LeaderElector({
      client: leaderClient,
      namespace: config.leaseNamespace,
      name: config.leaseName,
      identity: config.identity,
      log,
    });
    done = elector.run(
      () => {
        metrics.isLeader.set(1);
        void startWorkers();
      },
      () => metrics.isLeader.set(0),
    );
  } else {
    metrics.isLeader.set(1);
    void startWorkers();
    done = new Promise((resolve) => {
      stopDone = resolve;
    });
  }

  return {
    metrics,
    informers,
    manager: running,
    done,
    async stop() {
      await running.stop();
      await events.flush();
      elector?.stop();
      stopDone('stopped');
      await done;
      await informers.stop();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      await Promise.all([client.close(), leaderClient.close()]);
    },
  };
}
