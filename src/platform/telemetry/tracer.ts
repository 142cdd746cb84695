/**
 * The tracer every flow uses (`trace.getTracer('customer-service')`) and a helper that runs work in a span.
 * Before an SDK is registered, and when none is, the API hands out no-op spans: this costs nothing.
 */
import { SpanStatusCode, context, trace, type Context, type Link, type Span, type SpanKind, type Attributes } from '@opentelemetry/api';

export const TRACER_NAME = 'customer-service';

export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

export interface SpanOptions {
  readonly parent?: Context;
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  readonly links?: Link[];
}

/**
 * Runs `work` inside a new span named `name` (a child of `options.parent`, or of the active span), active for the
 * duration of `work`. A thrown error is recorded on the span and rethrown; the span always ends.
 */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    {
      ...(options.kind === undefined ? {} : { kind: options.kind }),
      ...(options.attributes === undefined ? {} : { attributes: options.attributes }),
      ...(options.links === undefined ? {} : { links: options.links }),
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    markFailed(span, error);
    throw error;
  } finally {
    span.end();
  }
}

export function markFailed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
