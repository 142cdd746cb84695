/**
 * The benchmark's lookup client (`bench/lookups.ts`) against a server whose answers are known: it must count as
 * errors exactly the answers that are not 200 with the customer asked for, however the bytes arrive, and keep one
 * request in flight per connection, so a faster client cannot make a misbehaving or slower service look better.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLookups, type LookupClient, type LookupKey } from '../../bench/lookups.js';

type Kind = 'right' | 'split' | 'wrong' | 'missing' | 'chunked' | 'closed';

const customer = (id: string) => JSON.stringify({ customerId: id, email: { address: `${id}@example.com` } });
/** A whole answer with its Content-Length (`writeHead` then `end` alone would send it chunked). */
const send = (response: http.ServerResponse, status: number, body: string) =>
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
const keyOf = (kind: Kind, n: number): LookupKey => ({ customerId: `${kind}-${String(n)}`, email: `${kind}-${String(n)}@example.com` });

let server: http.Server;
let url: string;
const answered = new Map<Kind, number>();
const inFlight = new Map<Socket, number>();
let mostInFlight = 0;
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = http.createServer((request, response) => {
    const socket = request.socket;
    sockets.add(socket);
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    mostInFlight = Math.max(mostInFlight, inFlight.get(socket) ?? 0);
    response.on('close', () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
    const id = decodeURIComponent((request.url ?? '').split('/').pop() ?? '').replace(/@example\.com$/, '');
    const kind = id.split('-')[0] as Kind;
    answered.set(kind, (answered.get(kind) ?? 0) + 1);
    switch (kind) {
      case 'right':
        send(response, 200, customer(id));
        return;
      case 'split': {
        // Headers and the body's halves in separate writes: the answer is complete only with the last one.
        const body = customer(id);
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        response.flushHeaders();
        setTimeout(() => {
          response.write(body.slice(0, 10));
          setTimeout(() => response.end(body.slice(10)), 5);
        }, 5);
        return;
      }
      case 'wrong':
        send(response, 200, customer('someone-else'));
        return;
      case 'missing':
        // The key is in the body: only the status says it is not the customer.
        send(response, 404, JSON.stringify({ status: 404, detail: `no customer ${id}` }));
        return;
      case 'chunked':
        // No Content-Length: the client cannot frame the answer by it.
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write(customer(id));
        response.end();
        return;
      case 'closed':
        socket.destroy();
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const reset = () => {
  answered.clear();
  mostInFlight = 0;
  sockets.clear();
};

describe('bench lookup client', () => {
  it.each<LookupClient>(['socket', 'http'])('%s: counts every answer that is not 200 with the customer asked for as an error', async (client) => {
    reset();
    const keys = [0, 1, 2, 3].flatMap((n) => (['right', 'split', 'wrong', 'missing', 'closed'] as const).map((kind) => keyOf(kind, n)));
    const figures = await runLookups(url, keys, { by: 'id', clients: 3, seconds: 0.5, client });

    const good = (answered.get('right') ?? 0) + (answered.get('split') ?? 0);
    const bad = (answered.get('wrong') ?? 0) + (answered.get('missing') ?? 0) + (answered.get('closed') ?? 0);
    expect(good).toBeGreaterThan(0);
    expect(bad).toBeGreaterThan(0);
    expect(figures.requests).toBe(good + bad);
    expect(figures.errors).toBe(bad);
    expect(mostInFlight).toBe(1);
  });

  it('socket: counts an answer it cannot frame by its Content-Length (chunked) as an error', async () => {
    reset();
    const figures = await runLookups(url, [keyOf('chunked', 0), keyOf('right', 0)], { by: 'email', clients: 1, seconds: 0.3, client: 'socket' });
    expect(answered.get('chunked')).toBeGreaterThan(0);
    expect(figures.errors).toBe(answered.get('chunked'));
    expect(figures.requests - figures.errors).toBe(answered.get('right'));
  });

  it('socket: keeps its connections open, one per client', async () => {
    reset();
    const figures = await runLookups(url, [keyOf('right', 1), keyOf('split', 1)], { by: 'id', clients: 4, seconds: 0.3, client: 'socket' });
    expect(figures.errors).toBe(0);
    expect(figures.requests).toBeGreaterThan(20);
    expect(sockets.size).toBe(4);
    expect(mostInFlight).toBe(1);
  });
});
