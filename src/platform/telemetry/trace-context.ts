/**
 * W3C trace context (`traceparent`, `tracestate`) in and out of message headers, for every transport: HTTP headers,
 * Kafka headers (Buffers), NATS headers (read them into a record first) and the event metadata.
 *
 * These helpers use their own W3C propagator rather than the global one, so they behave the same whether or not a
 * tracing SDK is registered. Without an SDK, spans are non-recording and carry their parent's context: the
 * `traceparent` that comes in is the one stored and sent on, unchanged. An invalid `traceparent` is ignored (the work
 * starts a new trace), never an error.
 */
import { ROOT_CONTEXT, trace, type Context, type Span, type TextMapGetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** The trace context carried by a message or stored with an event; both fields are W3C header values. */
export interface TraceContext {
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Header values as transports hand them over: HTTP gives strings or arrays, kafkajs gives Buffers. */
export type HeaderValue = string | Buffer | readonly (string | Buffer)[] | undefined;
export type Headers = Readonly<Record<string, HeaderValue>>;

const w3c = new W3CTraceContextPropagator();

const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key] ?? carrier[Object.keys(carrier).find((name) => name.toLowerCase() === key) ?? ''];
    const first = Array.isArray(value) ? (value[0] as string | Buffer | undefined) : (value as string | Buffer | undefined);
    return first === undefined ? undefined : first.toString();
  },
};

/** The context whose parent is the remote span named by `headers`; `base` (by default the root) when there is none. */
export function contextFromHeaders(headers: Headers, base: Context = ROOT_CONTEXT): Context {
  return w3c.extract(base, headers, headerGetter);
}

/** Like `contextFromHeaders`, from a stored or passed-along `TraceContext`. */
export function contextFromTraceContext(traceContext: TraceContext | undefined, base: Context = ROOT_CONTEXT): Context {
  if (traceContext?.traceparent === undefined) return base;
  return contextFromHeaders(
    { traceparent: traceContext.traceparent, ...(traceContext.tracestate === undefined ? {} : { tracestate: traceContext.tracestate }) },
    base,
  );
}

/** The valid trace context in `headers`, normalised; `{}` when `traceparent` is missing or invalid. */
export function traceContextFromHeaders(headers: Headers): TraceContext {
  return traceContextOf(contextFromHeaders(headers));
}

/** The trace context to send on or store for the span active in `ctx` (the span itself, so the next hop is its child). */
export function traceContextOf(ctx: Context): TraceContext {
  const carrier: Record<string, string> = {};
  w3c.inject(ctx, carrier, {
    set: (target: Record<string, string>, key: string, value: string) => {
      target[key] = value;
    },
  });
  return {
    ...(carrier.traceparent === undefined ? {} : { traceparent: carrier.traceparent }),
    ...(carrier.tracestate === undefined ? {} : { tracestate: carrier.tracestate }),
  };
}

/** `traceContextOf` for one span. */
export function traceContextOfSpan(span: Span): TraceContext {
  return traceContextOf(trace.setSpan(ROOT_CONTEXT, span));
}

/** `headers` with `traceparent`/`tracestate` set from `ctx` (replacing any there were), for an outgoing message. */
export function withTraceHeaders(headers: Readonly<Record<string, string>>, ctx: Context): Record<string, string> {
  const rest = Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'traceparent' && name !== 'tracestate'));
  return { ...rest, ...traceContextOf(ctx) };
}
