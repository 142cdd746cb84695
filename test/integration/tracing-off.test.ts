/** Without a tracing SDK (no OTEL exporter configured) the API is a no-op, and trace context still flows through unchanged. */
import { trace } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startTracing } from '../../src/platform/telemetry/index.js';
import { buildTestApp } from '../support/app.js';
import { userRegistered } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  db = await createTestDatabase();
  ({ app } = buildTestApp(db));
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

async function register(headers: Record<string, string>) {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/events',
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(userRegistered()),
  });
  expect(response.statusCode).toBe(201);
  const [row] = await db.rows<{ metadata: Record<string, unknown>; headers: Record<string, unknown> }>(
    `SELECT e.metadata, o.headers FROM event_store e JOIN outbox o ON o.event_id = e.event_id WHERE e.stream_id = $1`,
    [response.json<{ customerId: string }>().customerId],
  );
  return row;
}

describe('tracing when no exporter is configured', () => {
  it('registers no SDK: spans are non-recording no-ops', async () => {
    const tracing = await startTracing(loadConfig({}).tracing);
    expect(tracing.enabled).toBe(false);
    expect(trace.getTracer('customer-service').startSpan('probe').isRecording()).toBe(false);
  });

  it('stores and forwards the incoming traceparent and tracestate unchanged', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const row = await register({ traceparent, tracestate: 'vendor=abc' });
    expect(row?.metadata).toMatchObject({ traceparent, tracestate: 'vendor=abc' });
    expect(row?.headers.traceparent).toBe(traceparent);
  });

  it('stores no trace context when none (or an invalid one) came in', async () => {
    for (const headers of [{}, { traceparent: '00-zz-00f067aa0ba902b7-01' }] as Record<string, string>[]) {
      const row = await register(headers);
      expect(row?.metadata).not.toHaveProperty('traceparent');
      expect(row?.headers).not.toHaveProperty('traceparent');
    }
  });
});
