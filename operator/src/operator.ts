// Assembles the operator: informers → work queues → reconcilers, metrics and probes, leader election.
// `main.ts` runs it as a process; integration tests run it in-process against a real API server.

import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorConfig } from './config.ts';
import { Reconciler } from './controller.ts';
import { EventRecorder } from './events.ts';
import { serve } from './http.ts';
import { Informers } from './informers.ts';
import { KubeClient } from './kube/client.ts';
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
  kubeConfig: KubeConfig,
  log: Logger,
  opts: { resyncMs?: number; defaultMetrics?: boolean } = {},
): Promise<RunningOperator> {
  const client = new KubeClient(kubeConfig);
  let reconciler: Reconciler | undefined;
  const metrics = new OperatorMetrics({
    resourceCounts: () => reconciler?.resourceCounts() ?? [],
    phaseAges: () => reconciler?.phaseAges() ?? [],
    ...(opts.defaultMetrics !== undefined && { defaults: opts.defaultMetrics }),
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
  reconciler = new Reconciler({
    client,
    informers,
    events: new EventRecorder(client, config.identity, log),
    metrics,
    progress,
    log,
    defaultImage: config.trainerImage,
    storageDefaults: config.storage,
    ...(opts.resyncMs !== undefined && { resyncMs: opts.resyncMs }),
  });
  manager = new Manager({ informers, reconciler, metrics, log, workers: config.workers });
  const running = manager;

  const servers: Server[] = [];
  let workersStarted = false;
  const probes = {
    healthy: () => true,
    ready: () => informers.hasSynced(),
  };
  if (config.metricsPort > 0) servers.push(await serve(config.metricsPort, { registry: metrics.registry }));
  if (config.healthPort > 0) servers.push(await serve(config.healthPort, { probes }));

  informers.start();
  const startWorkers = async () => {
    // Reconciling on a partial cache could create a Job a full cache would show exists.
    while (!informers.hasSynced()) await new Promise((r) => setTimeout(r, 50));
    if (workersStarted) return;
    workersStarted = true;
    // Everything cached so far was enqueued before the workers started; they drain it now.
    running.start();
    log.info({ namespaces: config.namespaces.length > 0 ? config.namespaces : 'all' }, 'reconcilers started');
  };

  let elector: LeaderElector | undefined;
  let done: Promise<'lost' | 'stopped'>;
  let stopDone: (v: 'stopped') => void = () => {};
  if (config.leaderElect) {
    elector = new LeaderElector({
      client,
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
      elector?.stop();
      stopDone('stopped');
      await done;
      await informers.stop();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
