/**
 * An in-memory tracing SDK for tests, and an assertion on the shape of a trace. Registering the SDK is process-wide:
 * use it in its own test file (vitest runs each file in its own process here).
 */
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { expect } from 'vitest';
import type { TracingConfig } from '../../src/config.js';
import { startTracing, type Tracing } from '../../src/platform/telemetry/index.js';

export interface TestTracing {
  readonly exporter: InMemorySpanExporter;
  readonly tracing: Tracing;
  /** Finished spans so far. */
  spans(): ReadableSpan[];
}

/** Tracing as the tests configure it: no exporter of its own, W3C propagation, every trace sampled. */
export const TEST_TRACING_CONFIG: TracingConfig = {
  exporter: 'none',
  serviceName: 'customer-service-test',
  otlpTracesUrl: 'http://127.0.0.1:1/v1/traces',
  otlpHeaders: {},
  otlpProtocol: 'http/protobuf',
  propagators: ['tracecontext', 'baggage'],
  resourceAttributes: {},
  sampler: 'parentbased_always_on',
  samplerRatio: 1,
};

export async function startTestTracing(): Promise<TestTracing> {
  const exporter = new InMemorySpanExporter();
  const tracing = await startTracing(TEST_TRACING_CONFIG, { spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracing, spans: () => exporter.getFinishedSpans() };
}

/** A tree of span names: each key's spans are children of its parent key's span. */
export interface SpanTree {
  readonly [name: string]: SpanTree;
}

/** `00-<trace id>-<span id>-<flags>` → its ids. */
export function parseTraceparent(traceparent: string): { traceId: string; spanId: string } {
  const [, traceId = '', spanId = ''] = traceparent.split('-');
  return { traceId, spanId };
}

export function traceparentOf(span: ReadableSpan): string {
  const { traceId, spanId } = span.spanContext();
  return `00-${traceId}-${spanId}-01`;
}

/**
 * Asserts that `spans` hold exactly one span per name of `tree`, all in the trace of `parent`, with the root(s) of
 * `tree` children of `parent.spanId` and every other span a child of the span named by its parent key. Returns the
 * spans by name. Extend the tree as flows add spans (project_read_model, publish_customer_registered…).
 */
export function expectSpanTree(
  spans: readonly ReadableSpan[],
  parent: { traceId: string; spanId: string | undefined },
  tree: SpanTree,
): Record<string, ReadableSpan> {
  const inTrace = spans.filter((span) => span.spanContext().traceId === parent.traceId);
  const byName: Record<string, ReadableSpan> = {};
  const visit = (subtree: SpanTree, parentSpanId: string | undefined) => {
    for (const [name, children] of Object.entries(subtree)) {
      const named = inTrace.filter((span) => span.name === name);
      expect(named.map((span) => span.name), `exactly one ${name} span in trace ${parent.traceId}`).toEqual([name]);
      const span = named[0] as ReadableSpan;
      expect(span.parentSpanContext?.spanId, `parent of ${name}`).toBe(parentSpanId);
      byName[name] = span;
      visit(children, span.spanContext().spanId);
    }
  };
  visit(tree, parent.spanId);
  return byName;
}
