/**
 * A TCP proxy in front of a real server, to make it unavailable on demand: `cut()` drops every connection and
 * refuses new ones (as a crashed or unreachable database or broker would), `restore()` accepts again on the same port
 * (a Kafka broker advertises it). `loseResponses(ms)` throws the server's answers away for a while, then drops the
 * connections: the server acted, the client never heard (used by the Kafka harness, `kafka-broker.ts`).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** For `ms`, requests reach the server but its responses are dropped; then every connection is. Returns chunks lost. */
  loseResponses(ms: number): Promise<number>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let losing = false;
  let lost = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const created = createServer((client) => {
        const upstream = connect(target.port, target.host);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream);
        upstream.on('data', (chunk: Buffer) => {
          if (losing) lost += 1;
          else client.write(chunk);
        });
      });
      created.once('error', reject);
      created.listen(port, '127.0.0.1', () => {
        const address = created.address();
        if (typeof address === 'object' && address !== null) port = address.port;
        server = created;
        resolve();
      });
    });

  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const current = server;
      server = undefined;
      dropAll();
      if (current === undefined) return resolve();
      current.close(() => resolve());
    });

  await listen();
  return {
    get port() {
      return port;
    },
    cut: stopListening,
    restore: async () => {
      if (server === undefined) await listen();
    },
    loseResponses: async (ms) => {
      losing = true;
      lost = 0;
      await new Promise((resolve) => setTimeout(resolve, ms));
      dropAll();
      losing = false;
      return lost;
    },
    close: stopListening,
  };
}

/** `url` with its host and port replaced by the proxy's, and optional libpq `options` (e.g. `-c lock_timeout=300`). */
export function throughProxy(url: string, proxy: TcpProxy, pgOptions?: string): string {
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  if (pgOptions !== undefined) proxied.searchParams.set('options', pgOptions);
  return proxied.toString();
}
