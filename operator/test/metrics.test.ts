import { describe, expect, it } from 'vitest';
import { serve } from '../src/http.ts';
import { OperatorMetrics } from '../src/metrics.ts';
import { WorkQueue } from '../src/watch/workqueue.ts';

describe('OperatorMetrics', () => {
  it('exposes controller-runtime names and bounded domain metrics on /metrics, and the probes', async () => {
    const metrics = new OperatorMetrics({
      defaults: false,
      resourceCounts: () => [
        { kind: 'LotaAdaptation', phase: 'Training', count: 2 },
        { kind: 'TicketMerge', phase: 'Succeeded', count: 1 },
      ],
      phaseAges: () => [{ kind: 'LotaAdaptation', phase: 'Training', seconds: 42 }],
    });
    const q = new WorkQueue({ metrics: metrics.queueMetrics('lotaadaptation') });
    metrics.registerQueue('lotaadaptation', q);
    q.add('ns/a');
    await q.get();
    q.done('ns/a');
    metrics.reconcileTotal.inc({ controller: 'lotaadaptation', result: 'success' });
    metrics.reconcileErrors.inc({ controller: 'lotaadaptation' }, 0);
    metrics.reconcileTime.observe({ controller: 'lotaadaptation' }, 0.01);
    q.addRateLimited('ns/a');
    q.shutDown();

    let ready = false;
    const server = await serve(0, { registry: metrics.registry, probes: { healthy: () => true, ready: () => ready } });
    const port = (server.address() as { port: number }).port;
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const name of [
        'controller_runtime_reconcile_total{controller="lotaadaptation",result="success"} 1',
        'controller_runtime_reconcile_errors_total',
        'controller_runtime_reconcile_time_seconds_bucket',
        'workqueue_depth{name="lotaadaptation",controller="lotaadaptation"} 0',
        'workqueue_adds_total{name="lotaadaptation",controller="lotaadaptation"} 1',
        'workqueue_queue_duration_seconds_bucket',
        'workqueue_work_duration_seconds_bucket',
        'workqueue_retries_total{name="lotaadaptation",controller="lotaadaptation"} 1',
        'workqueue_unfinished_work_seconds{name="lotaadaptation",controller="lotaadaptation"} 0',
        'workqueue_longest_running_processor_seconds{name="lotaadaptation",controller="lotaadaptation"} 0',
        'lota_resources{kind="LotaAdaptation",phase="Training"} 2',
        'lota_resources{kind="TicketMerge",phase="Succeeded"} 1',
        'lota_phase_age_seconds{kind="LotaAdaptation",phase="Training"} 42',
        '# TYPE lota_phase_duration_seconds histogram',
        '# TYPE lota_jobs_created_total counter',
        '# TYPE lota_ticket_bytes histogram',
        '# TYPE lota_ticket_density histogram',
      ]) {
        expect(text, name).toContain(name);
      }
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);
    } finally {
      server.close();
    }
  });

  it('keeps the process metrics except the gauges promtool refuses for their _total suffix', async () => {
    const text = await new OperatorMetrics().registry.metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');
    expect(text).not.toMatch(/^# TYPE \S+_total gauge$/m);
  });
});
