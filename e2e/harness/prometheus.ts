// A real Prometheus (Debian package) scraping targets every second, for the e2e suite: its own config, TSDB and a
// free port; query() uses the HTTP API.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from '../../scripts/toolchain.ts';
import { type Component, startComponent, waitUntil } from './component.ts';
import { freePort } from './ports.ts';

export interface RunningPrometheus {
  url: string;
  component: Component;
  /** Instant query; returns the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  return join(tool('LOTA_PROMETHEUS_BIN'), name);
}

export async function startPrometheus(opts: {
  job: string;
  targets: string[];
  metricsPath?: string;
  logsDir: string;
}): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'lota-prom-'));
  const port = await freePort();
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      { job_name: opts.job, metrics_path: opts.metricsPath ?? '/metrics', static_configs: [{ targets: opts.targets }] },
    ],
  };
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, JSON.stringify(config)); // JSON is YAML
  const component = startComponent(
    'prometheus',
    prometheusBinary('prometheus'),
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { logsDir: opts.logsDir },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('prometheus /-/ready', async () => (await fetch(`${url}/-/ready`)).ok, {
    timeoutMs: 60_000,
    component,
  });
  return {
    url,
    component,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown } };
      if (body.status !== 'success') throw new Error(`prometheus query ${expr} failed: ${body.error}`);
      return body.data?.result as { metric: Record<string, string>; value: [number, string] }[];
    },
    async stop() {
      await component.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
