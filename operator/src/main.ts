#!/usr/bin/env node
// lota-operator: the process. Configuration by flags and env (see config.ts), JSON logs on stdout, graceful
// shutdown on SIGTERM/SIGINT (stop taking work, finish reconciles in flight, release the leader lease), and exit
// when leadership is lost so that the Deployment restarts it as a follower.

import { pino } from 'pino';
import { parseConfig, USAGE } from './config.ts';
import type { KubeSource } from './kube/client.ts';
import { loadCredentials, UnsupportedKubeconfig } from './kube/credentials.ts';
import { startOperator } from './operator.ts';

async function main(): Promise<number> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const log = pino({ level: config.logLevel, base: { component: 'lota-operator' } });
  let kubeConfig: KubeSource;
  try {
    kubeConfig = await loadKubeSource(config.kubeconfig);
  } catch (error) {
    process.stderr.write(
      `lota-operator: cannot load kubeconfig ${config.kubeconfig ?? '(default)'}: ${(error as Error).message}\n`,
    );
    return 2;
  }

  const operator = await startOperator(config, kubeConfig, log);
  log.info(
    { identity: config.identity, leaderElect: config.leaderElect, trainerImage: config.trainerImage },
    'started',
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await operator.stop();
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  const outcome = await operator.done;
  if (outcome === 'lost') {
    log.error('leadership lost; exiting');
    return 1;
  }
  return 0;
}

/** The light loader first; client-node's KubeConfig (a large import) only for what it alone reads. */
async function loadKubeSource(path: string | undefined): Promise<KubeSource> {
  try {
    return loadCredentials(path);
  } catch (error) {
    if (!(error instanceof UnsupportedKubeconfig)) throw error;
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    if (!kc.getCurrentCluster()) throw new Error('it names no current cluster');
    return kc;
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`lota-operator: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
