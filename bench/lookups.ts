/**
 * HTTP lookups from the read model: `clients` concurrent keep-alive connections, each sending its next request as soon
 * as the previous answer is read, for `seconds`, by customer id or by e-mail, over keys of customers the run has
 * registered. Every answer must be 200 with the customer asked for (a wrong or missing one counts as an error).
 *
 * The client shares the machine's two cores with the service and PostgreSQL, so its own cost per request is taken
 * from what the service can get. The default client (`socket`) does what load generators such as wrk do: one TCP
 * connection per client, the request's bytes written at once (the same request line and headers Node's client sends),
 * the answer framed by its Content-Length and checked; one request in flight per connection, as before. It costs
 * about a third of the CPU of the `node:http` client loop (`http`, kept to compare): 26–33 against 63–108 µs per
 * request in runs next to each other (issue 17, docs/performance.md), CPU the service and PostgreSQL now get.
 */
import http from 'node:http';
import net from 'node:net';
import type { Distribution } from './measure.js';
import { distribution } from './measure.js';

export interface LookupFigures {
  readonly by: 'id' | 'email';
  readonly client: LookupClient;
  readonly clients: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly errors: number;
  readonly latency: Distribution;
}

export interface LookupKey {
  readonly customerId: string;
  readonly email: string;
}

export type LookupClient = 'socket' | 'http';

/** Sends one GET and resolves true when the answer is 200 and its body holds `expect`. */
type Send = (path: string, expect: string) => Promise<boolean>;

export async function runLookups(
  baseUrl: string,
  keys: readonly LookupKey[],
  options: { by: 'id' | 'email'; clients: number; seconds: number; client?: LookupClient },
): Promise<LookupFigures> {
  const url = new URL(baseUrl);
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const path = (key: LookupKey) =>
    options.by === 'id' ? `/api/v1/customers/${key.customerId}` : `/api/v1/customers/by-email/${encodeURIComponent(key.email)}`;

  const connect = options.client === 'http' ? httpClient(url, options.clients) : socketClient(url);
  const started = performance.now();
  const until = started + options.seconds * 1000;
  const client = async () => {
    const connection = connect();
    try {
      while (performance.now() < until) {
        const key = keys[next % keys.length] as LookupKey;
        next += 1;
        const at = performance.now();
        // The customer asked for, not just any 200.
        const ok = await connection.send(path(key), key.customerId);
        latencies.push(performance.now() - at);
        if (!ok) errors += 1;
      }
    } finally {
      connection.close();
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  const seconds = (performance.now() - started) / 1000;
  return {
    by: options.by,
    client: options.client ?? 'socket',
    clients: options.clients,
    seconds,
    requests: latencies.length,
    requestsPerSecond: latencies.length / seconds,
    errors,
    latency: distribution(latencies),
  };
}

/** The `node:http` client loop: one agent, one keep-alive socket per client. */
function httpClient(url: URL, clients: number): () => { send: Send; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  let open = 0;
  return () => {
    open += 1;
    const send: Send = (path, expect) =>
      new Promise<boolean>((resolve) => {
        const request = http.request(
          { host: url.hostname, port: url.port, path, method: 'GET', agent, headers: { accept: 'application/json' } },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => {
              if (response.statusCode !== 200) return resolve(false);
              resolve(Buffer.concat(chunks).includes(expect));
            });
            response.on('error', () => resolve(false));
          },
        );
        request.on('error', () => resolve(false));
        request.end();
      });
    return {
      send,
      close: () => {
        open -= 1;
        if (open === 0) agent.destroy();
      },
    };
  };
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding: *chunked/i;

/**
 * One keep-alive TCP connection with one request in flight: the request Node's client sends (request line, Host,
 * Accept, Connection), the answer read until its headers and Content-Length bytes of body have arrived. An answer the
 * client cannot frame (chunked, no length, the connection closed or reset) counts as an error and the connection is
 * opened again, so a misbehaving server shows in the errors, never as a faster run.
 */
function socketClient(url: URL): () => { send: Send; close(): void } {
  const host = `Host: ${url.hostname}:${url.port}\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n`;
  return () => {
    let socket: net.Socket | undefined;
    let buffered: Buffer = Buffer.alloc(0);
    let waiting: { readonly expect: string; readonly resolve: (ok: boolean) => void } | undefined;

    const settle = (ok: boolean) => {
      const current = waiting;
      waiting = undefined;
      current?.resolve(ok);
    };
    const fail = () => {
      socket?.destroy();
      socket = undefined;
      buffered = Buffer.alloc(0);
      settle(false);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(HEADER_END);
      if (end === -1) return;
      const head = buffered.toString('latin1', 0, end);
      const length = CONTENT_LENGTH.exec(head)?.[1];
      if (length === undefined || CHUNKED.test(head)) return fail();
      const total = end + HEADER_END.length + Number(length);
      if (buffered.length < total) return;
      // One request in flight: anything past this answer is a protocol error.
      if (buffered.length > total || waiting === undefined) return fail();
      const ok = head.startsWith('HTTP/1.1 200 ') && buffered.subarray(end + HEADER_END.length).includes(waiting.expect);
      buffered = Buffer.alloc(0);
      settle(ok);
    };
    const open = () => {
      const opened = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
      opened.on('data', onData);
      opened.on('error', () => undefined);
      opened.on('close', () => {
        if (socket === opened) fail();
      });
      return opened;
    };

    return {
      send: (path, expect) =>
        new Promise<boolean>((resolve) => {
          waiting = { expect, resolve };
          socket ??= open();
          socket.write(`GET ${path} HTTP/1.1\r\n${host}`);
        }),
      close: () => {
        const closing = socket;
        socket = undefined;
        closing?.destroy();
      },
    };
  };
}
