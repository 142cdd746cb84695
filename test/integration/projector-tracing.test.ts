import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerProjection } from '../../src/individual-customers/customer-read-model.js';
import { createPostgresCustomerReadModel } from '../../src/individual-customers/customer-read-model.postgres.js';
import { createProjector } from '../../src/platform/postgres/projector.js';
import { createWakeSignal } from '../../src/platform/wake-signal.js';
import { appendCustomers } from '../support/customer-events.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

const exporter = new InMemorySpanExporter();
let db: TestDatabase;

beforeAll(async () => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  db = await createTestDatabase();
});
afterAll(async () => {
  trace.disable();
  await db.drop();
});

describe('projector tracing', () => {
  it('records one project_read_model span per applied event, none for empty polls', async () => {
    const readModel = createPostgresCustomerReadModel(db.pool);
    const projector = createProjector({ pool: db.pool, projection: customerProjection(readModel), wake: createWakeSignal(), logger: testLogger() });
    await projector.runBatch();
    expect(exporter.getFinishedSpans()).toEqual([]);
    await appendCustomers(db.pool, 4);
    await eventually(async () => ((await projector.runBatch())?.read === 4 ? true : undefined));
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).toEqual(Array(4).fill('project_read_model'));
    expect(spans[0]?.attributes).toMatchObject({ 'projection.name': 'customers', 'projection.batch_events': 4 });
  });
});
