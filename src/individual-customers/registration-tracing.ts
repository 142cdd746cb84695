/**
 * Spans of the registration use case (SPEC §6): one `create_customer_profile` per command, a child of the span that
 * consumed it, and the batch's writes (`generate_customer_number`, `persist_customer`, `persist_event`, and
 * `project_read_model` when the documents are written in the same transaction) as its children. A batch writes
 * everything with one statement, which each of those spans covers; they are children of the
 * first command's span and link to the others'. The trace context stored with each event (and sent on by the outbox) is its
 * `create_customer_profile` span, so projection and publication continue the same trace.
 */
import { context, trace, type Context, type Span } from '@opentelemetry/api';
import {
  contextFromTraceContext,
  markFailed,
  traceContextOfSpan,
  tracer,
  type TraceContext,
} from '../platform/telemetry/index.js';
import type { RegisterCustomer, RegistrationResult } from './registration.js';

const WRITE_STEPS = ['generate_customer_number', 'persist_customer', 'persist_event'] as const;

export interface RegistrationSpans {
  /** Runs the batch's write (numbers, customers, events in one statement) in the spans of its steps. */
  writing(write: () => Promise<void>): Promise<void>;
  /** The trace context to store with the event of command `index`. */
  traceOf(index: number): TraceContext;
  end(outcome: { readonly results: readonly RegistrationResult[] } | { readonly error: unknown }): void;
}

export function startRegistrationSpans(commands: readonly RegisterCustomer[], options: { readonly projecting: boolean }): RegistrationSpans {
  const writeSteps = options.projecting ? [...WRITE_STEPS, 'project_read_model'] : WRITE_STEPS;
  const spans: Span[] = commands.map((command) =>
    tracer().startSpan(
      'create_customer_profile',
      { attributes: { 'messaging.message.id': command.event.eventId, 'customer_service.event_type': command.event.eventType } },
      parentOf(command),
    ),
  );
  const first = spans[0];
  const batchParent = first === undefined ? context.active() : trace.setSpan(context.active(), first);
  const links = spans.length > 1 ? spans.map((span) => ({ context: span.spanContext() })) : undefined;
  return {
    writing: async (write) => {
      const steps = writeSteps.map((name) => tracer().startSpan(name, links === undefined ? {} : { links }, batchParent));
      try {
        await write();
      } catch (error) {
        for (const step of steps) markFailed(step, error);
        throw error;
      } finally {
        for (const step of steps) step.end();
      }
    },
    traceOf: (index) => {
      const span = spans[index];
      return span === undefined ? {} : traceContextOfSpan(span);
    },
    end: (outcome) => {
      spans.forEach((span, index) => {
        if ('error' in outcome) {
          markFailed(span, outcome.error);
        } else {
          const result = outcome.results[index];
          if (result !== undefined) span.setAttribute('customer_service.outcome', result.outcome);
          if (result !== undefined && 'customer' in result) span.setAttribute('customer.id', result.customer.customerId);
        }
        span.end();
      });
    },
  };
}

/**
 * The consumer passes the trace context of its consume span in `command.trace`. A consumer that instead runs the use
 * case inside its active consume span and passes the raw incoming header still gets a child of that span: the active
 * span wins when it belongs to the same trace.
 */
function parentOf(command: RegisterCustomer): Context {
  const active = context.active();
  const given = contextFromTraceContext(command.trace);
  const givenTraceId = trace.getSpanContext(given)?.traceId;
  if (givenTraceId === undefined) return active;
  return trace.getSpanContext(active)?.traceId === givenTraceId ? active : given;
}
