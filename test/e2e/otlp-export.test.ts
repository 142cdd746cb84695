/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT set, a real `customer-service serve` exports its spans over OTLP/HTTP: here to a
 * small collector this test runs. The spans of a registration arrive in the caller's trace, with the service's
 * resource attributes, and what is buffered is flushed at shutdown.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
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
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}
interface OtlpExport {
  resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
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

describe('OTLP export', () => {
  it('exports the spans of a registration to the configured collector, in the caller’s trace', async () => {
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
      root = await mkdtemp(path.join(tmpdir(), 'customer-service-otlp-'));
      const port = await freePort();
      const service = runCli(['serve'], {
        HOST: '127.0.0.1',
        PORT: String(port),
        EMBEDDED_POSTGRES_PORT: String(await freePort()),
        EMBEDDED_POSTGRES_DIR: path.join(root, 'pg'),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
      });
      const deadline = Date.now() + 60_000;
      while (!service.output.stdout.includes('customer-service is listening')) {
        if (Date.now() > deadline || service.child.exitCode !== null) throw new Error(`service did not start:\n${service.output.stdout}${service.output.stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
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

      expect(exports.length).toBeGreaterThan(0);
      expect(exports.every((received) => received.path === '/v1/traces' && received.contentType.startsWith('application/json'))).toBe(true);
      const resources = exports.flatMap((received) => received.body.resourceSpans);
      const spans = resources.flatMap((resource) => resource.scopeSpans.flatMap((scope) => scope.spans)).filter((span) => span.traceId === TRACE_ID);
      expect(spans.map((span) => span.name).sort()).toEqual(
        ['consume_user_registered_event', 'create_customer_profile', 'generate_customer_number', 'persist_customer', 'persist_event', 'project_read_model'].sort(),
      );
      expect(spans.find((span) => span.name === 'consume_user_registered_event')?.parentSpanId).toBe('00f067aa0ba902b7');
      const attributes = Object.fromEntries(resources[0]?.resource.attributes.map((attribute) => [attribute.key, attribute.value.stringValue]) ?? []);
      expect(attributes).toMatchObject({ 'service.name': 'customer-service', 'deployment.environment': 'test' });
      expect(attributes['service.version']).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  }, 90_000);

  it('exits 2 at start on a bad OTEL setting, naming it', async () => {
    const run = runCli(['serve'], { OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    expect(await run.exited).toBe(2);
    expect(run.output.stderr).toContain('OTEL_TRACES_EXPORTER:');
    expect(run.output.stderr).toContain('OTEL_EXPORTER_OTLP_ENDPOINT:');
  });
});
