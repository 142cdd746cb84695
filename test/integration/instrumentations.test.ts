/**
 * The library instrumentations, enabled before the libraries load as `src/main.ts` does: pino writes the trace and span
 * ids into every line logged inside a span, and pg and mongodb (on the suite's FerretDB) add their spans under the
 * service's own. The spawned service's pg and fastify spans are checked in test/e2e/otlp-export.test.ts.
 */
import { context, trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { inSpan, instrumentLibraries } from '../../src/platform/telemetry/index.js';
import { runCli } from '../support/cli.js';
import type { TestDatabase } from '../support/postgres.js';
import { startTestTracing, type TestTracing } from '../support/tracing.js';

let tracing: TestTracing;
let db: TestDatabase;

beforeAll(async () => {
  // Before pino, pg and mongodb are imported by anything in this file (the imports below are dynamic).
  await instrumentLibraries();
  tracing = await startTestTracing();
  const { createTestDatabase } = await import('../support/postgres.js');
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
  await tracing?.tracing.shutdown();
});

describe('library instrumentations', () => {
  it('pino: every line logged inside a span carries its trace and span ids; lines outside carry none', async () => {
    // In a process of its own started as the service starts (test/support/log-in-span.ts).
    const { stdout, stderr, code } = await runCli([], {}, { main: 'test/support/log-in-span.ts' });
    expect(code, stderr).toBe(0);
    const lines = stdout
      .split('\n')
      .filter((line) => line.startsWith('{"level"'))
      .map((line) => JSON.parse(line) as Record<string, string | undefined>);
    const inside = lines.find((line) => line.msg === 'inside');
    expect(inside?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(lines.map((line) => [line.msg, line.trace_id, line.span_id])).toEqual([
      ['before', undefined, undefined],
      ['inside', inside?.traceId, inside?.spanId],
      ['inside, from a child logger', inside?.traceId, inside?.spanId],
      ['after', undefined, undefined],
    ]);
  });

  it('pg: a query inside a span is a child span; the pool’s queries outside any span start no trace', async () => {
    tracing.exporter.reset();
    const parent = await inSpan('persist_customer', {}, async (span) => {
      await db.pool.query('SELECT 1');
      return span.spanContext();
    });
    await db.pool.query('SELECT 2');
    const queries = tracing.spans().filter((span) => span.instrumentationScope.name === '@opentelemetry/instrumentation-pg' && span.name.startsWith('pg.query'));
    expect(queries.map((span) => [span.spanContext().traceId, span.parentSpanContext?.spanId])).toEqual([[parent.traceId, parent.spanId]]);
  });

  it('mongodb: a command inside a span is a child span (on FerretDB)', async () => {
    const url = inject('mongodbUrl');
    expect(url, 'the suite starts FerretDB or is given MONGODB_URL').not.toBe('');
    const { MongoClient } = await import('mongodb');
    const client = await MongoClient.connect(url);
    try {
      tracing.exporter.reset();
      const parent = await inSpan('project_read_model', {}, async (span) => {
        await client.db('instrumentations').collection('probe').findOne({ _id: 'x' as never });
        return span.spanContext();
      });
      const commands = tracing.spans().filter((span) => span.instrumentationScope.name === '@opentelemetry/instrumentation-mongodb');
      expect(commands.map((span) => [span.name, span.parentSpanContext?.spanId])).toContainEqual(['find probe', parent.spanId]);
    } finally {
      await client.close();
    }
    expect(trace.getSpan(context.active())).toBeUndefined();
  });
});
