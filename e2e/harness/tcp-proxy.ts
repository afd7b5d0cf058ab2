// A TCP proxy a test controls: forwards 127.0.0.1:<port> to a target, and can stall every connection (no byte moves
// either way, connections stay open: a hung network path, as a half-dead load balancer or a partition leaves it).
// TLS passes through untouched, so a kubeconfig only needs its server address changed.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Stops forwarding on all connections, present and future, without closing them. */
  stall(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  let stalled = false;
  // Forwards by hand rather than with pipe(): a piped stream resumes itself when its destination drains.
  const forward = (from: Socket, to: Socket) =>
    from.on('data', (chunk) => {
      if (stalled) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) sockets.add(s);
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      for (const s of [client, upstream]) {
        sockets.delete(s);
        s.destroy();
      }
    };
    for (const s of [client, upstream]) s.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('proxy has no port');
  return {
    port: address.port,
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      for (const write of held.splice(0)) write();
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
