import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { contextFromTraceContext, traceContextFromHeaders, traceContextOf, withTraceHeaders } from './trace-context.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('W3C trace context from message headers', () => {
  it.each([
    ['an HTTP header string', { traceparent: TRACEPARENT }],
    ['a Kafka header Buffer', { traceparent: Buffer.from(TRACEPARENT) }],
    ['a repeated header', { traceparent: [TRACEPARENT, 'ignored'] }],
    ['a header name in another case', { TraceParent: TRACEPARENT }],
  ])('reads %s', (_label, headers) => {
    expect(traceContextFromHeaders(headers)).toEqual({ traceparent: TRACEPARENT });
  });

  it('keeps tracestate with a valid traceparent', () => {
    expect(traceContextFromHeaders({ traceparent: TRACEPARENT, tracestate: 'a=1,b=2' })).toEqual({ traceparent: TRACEPARENT, tracestate: 'a=1,b=2' });
  });

  it.each([
    ['missing', {}],
    ['garbage', { traceparent: 'hello' }],
    ['an all-zero span id', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' }],
    ['upper-case hex', { traceparent: TRACEPARENT.toUpperCase() }],
    ['version ff', { traceparent: `ff${TRACEPARENT.slice(2)}` }],
  ])('ignores a traceparent that is %s', (_label, headers) => {
    expect(traceContextFromHeaders(headers)).toEqual({});
  });

  it('turns a stored trace context into a parent context, and back', () => {
    const ctx = contextFromTraceContext({ traceparent: TRACEPARENT });
    expect(trace.getSpanContext(ctx)).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', isRemote: true });
    expect(traceContextOf(ctx)).toEqual({ traceparent: TRACEPARENT });
    expect(traceContextOf(ROOT_CONTEXT)).toEqual({});
  });

  it('replaces the trace headers of an outgoing message, keeping the others', () => {
    const ctx = contextFromTraceContext({ traceparent: TRACEPARENT });
    expect(withTraceHeaders({ eventId: 'e1', traceparent: 'old', tracestate: 'old=1' }, ctx)).toEqual({ eventId: 'e1', traceparent: TRACEPARENT });
    expect(withTraceHeaders({ eventId: 'e1', traceparent: 'old' }, ROOT_CONTEXT)).toEqual({ eventId: 'e1' });
  });
});
