// The operator's HTTP endpoints: /metrics (Prometheus text format) and the kubelet probes /healthz and /readyz.

import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface Probes {
  /** Liveness: the process works (its loops run). */
  healthy: () => boolean;
  /** Readiness: caches have synced (and, for the leader, reconcilers run). */
  ready: () => boolean;
}

export function serve(port: number, routes: { registry?: Registry; probes?: Probes }): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/metrics' && routes.registry) {
        const body = await routes.registry.metrics();
        res.writeHead(200, { 'content-type': routes.registry.contentType }).end(body);
      } else if ((path === '/healthz' || path === '/readyz') && routes.probes) {
        const ok = path === '/healthz' ? routes.probes.healthy() : routes.probes.ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}
