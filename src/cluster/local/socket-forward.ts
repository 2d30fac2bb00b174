import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';

/** A TCP port on 127.0.0.1, or a Unix socket file. */
export type Endpoint = { port: number } | { socket: string };

function describe(endpoint: Endpoint): string {
  return 'port' in endpoint ? `127.0.0.1:${endpoint.port}` : endpoint.socket;
}

/**
 * Accepts connections on `from` and pipes each, byte for byte, to a new connection to `to`.
 * Unix socket files are the one channel between the host and Flagger's network namespace: a
 * network namespace has its own loopback, but socket files live in the file system both see.
 * A socket file is made owner-only (inside the owner-only state folder as well).
 */
export interface Forward {
  /** Stops accepting and cuts the connections it carries (Flagger's watches never end by themselves). */
  close(): Promise<void>;
}

export async function forward(from: Endpoint, to: Endpoint): Promise<Forward> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = 'port' in to ? net.connect(to.port, '127.0.0.1') : net.connect(to.socket);
    sockets.add(inbound).add(outbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
    inbound.pipe(outbound).pipe(inbound);
  });
  if ('socket' in from) rmSync(from.socket, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`cannot listen on ${describe(from)} to forward to ${describe(to)}: ${err.message}`)),
    );
    if ('port' in from) server.listen(from.port, '127.0.0.1', resolve);
    else server.listen(from.socket, resolve);
  });
  if ('socket' in from) chmodSync(from.socket, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
