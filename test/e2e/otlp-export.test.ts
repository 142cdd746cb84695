/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, a real `customer-service serve` exports its spans over OTLP: here to a small
 * collector this test runs (HTTP for http/protobuf and http/json, HTTP/2 for grpc). The spans of a registration arrive
 * in the caller's trace, with the library instrumentations' spans (fastify, pg) among them and the service's resource
 * attributes, and what is buffered is flushed at shutdown.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const TRACE_ID = '5bf92f3577b34da6a3ce929d0e0e4736';

interface OtlpSpan {
  name: string;
  kind?: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}
interface OtlpExport {
  resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
}

let root: string | undefined;
afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

function runCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

const SEED_SPANS = ['consume_user_registered_event', 'create_customer_profile', 'generate_customer_number', 'persist_customer', 'persist_event', 'project_read_model'];

/** Starts `serve` with `env`, registers one user in trace TRACE_ID, waits for its projection, stops it (flushing spans). */
async function registerOneAndStop(env: Record<string, string>, headers: Record<string, string> = { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` }) {
  root ??= await mkdtemp(path.join(tmpdir(), 'customer-service-otlp-'));
  const port = await freePort();
  const service = runCli(['serve'], {
    HOST: '127.0.0.1',
    PORT: String(port),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_DIR: path.join(root, `pg-${port}`),
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
    ...env,
  });
  const deadline = Date.now() + 60_000;
  while (!service.output.stdout.includes('customer-service is listening')) {
    if (Date.now() > deadline || service.child.exitCode !== null) throw new Error(`service did not start:\n${service.output.stdout}${service.output.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(userRegistered()),
  });
  expect(response.status).toBe(201);
  // Projection follows the commit: wait until the document is served, so its span belongs to this run.
  const { customerId } = (await response.json()) as { customerId: string };
  while ((await fetch(`http://127.0.0.1:${port}/api/v1/customers/${customerId}`)).status !== 200) {
    if (Date.now() > deadline) throw new Error('the registration was never projected');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Shutdown flushes the batch processor, so the spans arrive without waiting for its timer.
  service.child.kill('SIGTERM');
  expect(await service.exited).toBe(0);
  return service.output;
}

describe('OTLP export', () => {
  it('exports the spans of a registration as OTLP/HTTP JSON, in the caller’s trace, with the pg and fastify spans', async () => {
    const exports: { path: string; contentType: string; body: OtlpExport }[] = [];
    const collector = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        exports.push({ path: request.url ?? '', contentType: request.headers['content-type'] ?? '', body: JSON.parse(body) as OtlpExport });
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      await registerOneAndStop({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      });

      expect(exports.length).toBeGreaterThan(0);
      expect(exports.every((received) => received.path === '/v1/traces' && received.contentType.startsWith('application/json'))).toBe(true);
      const resources = exports.flatMap((received) => received.body.resourceSpans);
      const scoped = resources.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans.map((span) => ({ scope: scope.scope.name, span }))));
      const inTrace = scoped.filter(({ span }) => span.traceId === TRACE_ID);
      const ours = inTrace.filter(({ scope }) => scope === 'customer-service').map(({ span }) => span);
      expect(ours.map((span) => span.name).sort()).toEqual([...SEED_SPANS].sort());
      expect(ours.find((span) => span.name === 'consume_user_registered_event')?.parentSpanId).toBe('00f067aa0ba902b7');
      // The instrumentations: the request (fastify) and the SQL of the registration (pg), inside the service's spans.
      const scopes = new Set(inTrace.map(({ scope }) => scope));
      expect(scopes).toContain('@fastify/otel');
      expect(scopes).toContain('@opentelemetry/instrumentation-pg');
      const ids = new Set(ours.map((span) => span.spanId));
      const queries = inTrace.filter(({ scope }) => scope === '@opentelemetry/instrumentation-pg').map(({ span }) => span);
      expect(queries.some((query) => ids.has(query.parentSpanId ?? ''))).toBe(true);
      const attributes = Object.fromEntries(resources[0]?.resource.attributes.map((attribute) => [attribute.key, attribute.value.stringValue]) ?? []);
      expect(attributes).toMatchObject({ 'service.name': 'customer-service', 'deployment.environment': 'test' });
      expect(attributes['service.version']).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  }, 90_000);

  it('sends OTLP/HTTP protobuf by default, honours OTEL_PROPAGATORS (b3), and speaks OTLP/gRPC when asked', async () => {
    const traceIdBytes = Buffer.from(TRACE_ID, 'hex');
    const received: { protocol: string; path: string; contentType: string; body: Buffer }[] = [];
    const collector = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ protocol: 'http', path: request.url ?? '', contentType: request.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    // A gRPC server is an HTTP/2 one: answer each unary call with an empty message and grpc-status 0.
    const grpc = http2.createServer();
    grpc.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({ protocol: 'grpc', path: String(headers[':path']), contentType: String(headers['content-type']), body: Buffer.concat(chunks) });
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => grpc.listen(0, '127.0.0.1', resolve));
    try {
      // b3 single header in, and no traceparent: only a b3 propagator puts the request in TRACE_ID.
      await registerOneAndStop(
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`, OTEL_PROPAGATORS: 'b3' },
        { b3: `${TRACE_ID}-00f067aa0ba902b7-1` },
      );
      const protobuf = received.filter((entry) => entry.protocol === 'http');
      expect(protobuf.length).toBeGreaterThan(0);
      expect(protobuf.every((entry) => entry.path === '/v1/traces' && entry.contentType === 'application/x-protobuf')).toBe(true);
      expect(protobuf.some((entry) => entry.body.includes(traceIdBytes))).toBe(true);

      await registerOneAndStop({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(grpc.address() as AddressInfo).port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
      const calls = received.filter((entry) => entry.protocol === 'grpc');
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every((call) => call.path === '/opentelemetry.proto.collector.trace.v1.TraceService/Export' && call.contentType.startsWith('application/grpc'))).toBe(true);
      expect(calls.some((call) => call.body.includes(traceIdBytes))).toBe(true);
    } finally {
      await new Promise((resolve) => collector.close(resolve));
      await new Promise((resolve) => grpc.close(resolve));
    }
  }, 120_000);

  it('exits 2 at start on a bad OTEL setting, naming it', async () => {
    const run = runCli(['serve'], { OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift', OTEL_PROPAGATORS: 'tracecontext,xray' });
    expect(await run.exited).toBe(2);
    for (const name of ['OTEL_TRACES_EXPORTER:', 'OTEL_EXPORTER_OTLP_ENDPOINT:', 'OTEL_EXPORTER_OTLP_PROTOCOL:', 'OTEL_PROPAGATORS:']) expect(run.output.stderr).toContain(name);
  });
});
