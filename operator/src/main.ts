#!/usr/bin/env node
// lota-operator: the process. Configuration by flags and env (see config.ts), JSON logs on stdout, graceful
// shutdown on SIGTERM/SIGINT (stop taking work, finish reconciles in flight, release the leader lease), and exit
// when leadership is lost so that the Deployment restarts it as a follower.

import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseConfig, USAGE } from './config.ts';
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
  const kubeConfig = new KubeConfig();
  try {
    if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
    else kubeConfig.loadFromDefault();
    if (!kubeConfig.getCurrentCluster()) throw new Error('it names no current cluster');
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

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`lota-operator: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
