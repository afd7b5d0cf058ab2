// The progress endpoint of docs/trainer-contract.md: GET /progress (the Progress JSON) and GET /metrics (Prometheus
// exposition: lota_trainer_step, lota_trainer_loss, lota_trainer_tokens_per_second and the process metrics).
import { createServer, type Server } from 'node:http';
import type { Progress } from '@lota/api';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { ProgressTracker } from './sink.ts';

export class TrainerMetrics {
  readonly registry = new Registry();
  private readonly stepGauge: Gauge;
  private readonly lossGauge: Gauge;
  private readonly tpsGauge: Gauge;
  private readonly totalGauge: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const labelNames = ['phase'] as const;
    const make = (name: string, help: string) => new Gauge({ name, help, labelNames, registers: [this.registry] });
    this.stepGauge = make('lota_trainer_step', 'Optimizer steps done in the running phase.');
    this.totalGauge = make('lota_trainer_total_steps', 'Optimizer steps the running phase will take.');
    this.lossGauge = make('lota_trainer_loss', 'Training loss of the latest step.');
    this.tpsGauge = make('lota_trainer_tokens_per_second', 'Recent training throughput in tokens per second.');
  }

  observe(p: Progress): void {
    const labels = { phase: p.phase };
    this.stepGauge.set(labels, p.step);
    this.totalGauge.set(labels, p.totalSteps);
    if (p.loss !== undefined) this.lossGauge.set(labels, p.loss);
    if (p.tokensPerSecond !== undefined) this.tpsGauge.set(labels, p.tokensPerSecond);
  }
}

/** Starts the endpoint; resolves once it listens. `host` undefined listens on all interfaces. */
export async function serveProgress(
  tracker: ProgressTracker,
  metrics: TrainerMetrics,
  port: number,
  host?: string,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/progress') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(tracker.progress));
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /progress or /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/**
 * Stops the endpoint when the phase ends. close() alone waits for connections that are not idle, and a poller that
 * reads more often than the keep-alive timeout may keep one busy; the phase is over, so they are all ended.
 */
export function stopProgress(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
