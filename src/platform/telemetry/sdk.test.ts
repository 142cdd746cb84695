import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_TRACING_CONFIG } from '../../../test/support/tracing.js';
import type { TracingConfig } from './options.js';
import { startTracing, type Tracing } from './sdk.js';

// The SDK registers itself process-wide (vitest runs each test file in its own process); each test starts its own and
// the OpenTelemetry API is reset after it, so the next one can register again.
const base: TracingConfig = { ...TEST_TRACING_CONFIG, serviceName: 'sdk-test' };

let running: Tracing | undefined;
afterEach(async () => {
  await running?.shutdown();
  running = undefined;
  trace.disable();
  context.disable();
  propagation.disable();
});

async function inMemory(config: Partial<TracingConfig>): Promise<InMemorySpanExporter> {
  const exporter = new InMemorySpanExporter();
  running = await startTracing({ ...base, ...config }, { spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return exporter;
}

/** A sampled parent from another service, as an incoming traceparent would give it. */
const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
});

describe('OTEL_TRACES_SAMPLER', () => {
  it.each([
    ['always_on', 0, true, true],
    ['always_off', 1, false, false],
    ['traceidratio', 0, false, false],
    ['traceidratio', 1, true, true],
    ['parentbased_always_on', 0, true, true],
    ['parentbased_always_off', 1, false, true],
    ['parentbased_traceidratio', 0, false, true],
  ] as const)('%s (ratio %d): root recorded %s, child of a sampled remote parent recorded %s', async (sampler, samplerRatio, root, child) => {
    const exporter = await inMemory({ sampler, samplerRatio });
    const tracer = trace.getTracer('sdk-test');
    tracer.startSpan('root').end();
    tracer.startSpan('child', {}, remoteParent).end();
    const names = exporter.getFinishedSpans().map((span) => span.name);
    expect(names.includes('root')).toBe(root);
    expect(names.includes('child')).toBe(child);
  });
});

describe('OTEL_PROPAGATORS', () => {
  it.each([
    [['tracecontext'], ['traceparent']],
    [['b3'], ['b3']],
    [['b3multi'], ['x-b3-sampled', 'x-b3-spanid', 'x-b3-traceid']],
    [['jaeger'], ['uber-trace-id']],
    [['tracecontext', 'jaeger'], ['traceparent', 'uber-trace-id']],
    [['none'], []],
  ] as const)('%j writes exactly the headers %j, carrying the trace id', async (propagators, headers) => {
    await inMemory({ propagators });
    const carrier: Record<string, string> = {};
    propagation.inject(remoteParent, carrier);
    expect(Object.keys(carrier).sort()).toEqual([...headers].sort());
    if (headers.length > 0) expect(Object.values(carrier).some((value) => value.includes('4bf92f3577b34da6a3ce929d0e0e4736'))).toBe(true);
  });

  it('reads a parent from the configured format only', async () => {
    await inMemory({ propagators: ['b3multi'] });
    const b3 = { 'x-b3-traceid': '4bf92f3577b34da6a3ce929d0e0e4736', 'x-b3-spanid': '00f067aa0ba902b7', 'x-b3-sampled': '1' };
    expect(trace.getSpanContext(propagation.extract(ROOT_CONTEXT, b3))?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const w3c = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    expect(trace.getSpanContext(propagation.extract(ROOT_CONTEXT, w3c))).toBeUndefined();
  });
});

describe('exporters', () => {
  it('registers nothing when the exporter is none and no processor is given', async () => {
    running = await startTracing(base);
    expect(running.enabled).toBe(false);
    const span = trace.getTracer('sdk-test').startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    span.end();
  });

  describe('an OTLP collector that accepts requests and never answers', () => {
    let collector: Server;
    const received: IncomingMessage[] = [];
    afterEach(async () => {
      collector.closeAllConnections();
      await new Promise((resolve) => collector.close(resolve));
    });

    it('shutdown still returns by its deadline, the spans having been sent with the configured headers', async () => {
      collector = createServer((request) => received.push(request)); // never answers
      await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
      const tracing = await startTracing(
        { ...base, exporter: 'otlp', otlpProtocol: 'http/json', otlpTracesUrl: url, otlpHeaders: { 'x-collector-token': 't0ken' } },
        { shutdownTimeoutMs: 500 },
      );
      expect(tracing.enabled).toBe(true);
      trace.getTracer('sdk-test').startSpan('held').end();
      const started = Date.now();
      await tracing.shutdown();
      expect(Date.now() - started).toBeLessThan(2_000);
      for (let waited = 0; received.length === 0 && waited < 5_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(received.map((request) => [request.method, request.url, request.headers['content-type'], request.headers['x-collector-token']])).toEqual([
        ['POST', '/v1/traces', 'application/json', 't0ken'],
      ]);
    });
  });
});
