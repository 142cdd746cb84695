/**
 * `POST /api/v1/events`: one event over HTTP, as a plain ACME envelope (`application/json`) or as a CloudEvent
 * (structured `application/cloudevents+json`, or binary with `ce-*` headers). The route only decodes and dispatches;
 * each flow registers the event types it handles.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isBinaryMode, parseBinary, parseStructured, type CloudEvent } from '../cloudevents.js';
import { problemResponse } from './openapi.js';
import { HttpProblem, invalidInput } from './problem.js';
import { parseJsonInput } from '../json.js';
import { logOutcome } from '../outcome-log.js';
import { traceContextFromHeaders, type TraceContext } from '../telemetry/index.js';
import { InvalidInputError } from '../validation.js';

export type { TraceContext };

export interface IntakeResult {
  /** `created` answers 201; the others (`activated`: a state change of an existing aggregate) 200. */
  readonly outcome: 'created' | 'duplicate' | 'activated';
  readonly body: Readonly<Record<string, unknown>>;
}

/** What a flow plugs into the intake: handlers for plain envelopes (by `eventType`) and CloudEvents (by `type`). */
export interface IntakeHandlers {
  readonly envelopes?: Readonly<Record<string, (body: unknown, trace: TraceContext) => Promise<IntakeResult>>>;
  readonly cloudEvents?: Readonly<Record<string, (event: CloudEvent, trace: TraceContext) => Promise<IntakeResult>>>;
  /** For `/openapi.json`: JSON Schemas of the plain envelopes and of CloudEvent `data`, and the 409 codes the flow answers. */
  readonly documentation?: {
    readonly envelopes?: Readonly<Record<string, Record<string, unknown>>>;
    readonly cloudEventData?: Readonly<Record<string, Record<string, unknown>>>;
    readonly conflicts?: Readonly<Record<string, string>>;
    /** The flow's own reason codes of invalid input (400), beside the ones every flow shares. */
    readonly invalidInput?: Readonly<Record<string, string>>;
  };
}

/** Reason codes of invalid input (400), whichever flow validates it. */
const INVALID_INPUT_CODES: Readonly<Record<string, string>> = {
  MALFORMED_JSON: 'the body is not JSON, or is empty',
  MISSING_FIELD: 'a required field is absent',
  INVALID_TYPE: 'a field (or the body) has the wrong JSON type',
  INVALID_EMAIL: 'not an e-mail address',
  INVALID_UUID: 'not a UUID',
  INVALID_TIMESTAMP: 'not an RFC 3339 timestamp, or implausible',
  INVALID_VALUE: 'a value outside what the field accepts',
  FIELD_EMPTY: 'an empty string where text is required',
  FIELD_TOO_LONG: 'a string over its length bound',
  INVALID_CLOUDEVENT: 'a CloudEvent missing or misusing a required attribute',
};
const UNSUPPORTED_VERSION_CODE = { UNSUPPORTED_EVENT_VERSION: 'an eventVersion whose major version is not supported' };

const CLOUDEVENTS_JSON = 'application/cloudevents+json';

export function eventsRoutes(app: FastifyInstance, handlers: readonly IntakeHandlers[]): void {
  // Maps, not objects: an event type is input, and must never select an Object.prototype member ("constructor",
  // "__proto__", "toString"…) as its handler.
  const envelopes = new Map(handlers.flatMap((handler) => Object.entries(handler.envelopes ?? {})));
  const cloudEvents = new Map(handlers.flatMap((handler) => Object.entries(handler.cloudEvents ?? {})));

  // One parser for both JSON media types (the same answer for the same text), refusing poisoned keys.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', CLOUDEVENTS_JSON], { parseAs: 'string' }, (_request, body, done) => {
    const parsed = parseJsonInput(body as string);
    if (parsed.ok) done(null, parsed.value);
    else done(new HttpProblem(invalidInput(parsed.error)), undefined);
  });

  const documentation = handlers.map((handler) => handler.documentation ?? {});
  const merged = (pick: (doc: NonNullable<IntakeHandlers['documentation']>) => Readonly<Record<string, unknown>> | undefined) =>
    Object.assign({}, ...documentation.map((doc) => pick(doc) ?? {})) as Record<string, Record<string, unknown>>;
  const envelopeSchemas = Object.entries(merged((doc) => doc.envelopes)).map(([eventType, schema]) => ({ ...schema, title: eventType }));
  const cloudEventSchemas = Object.entries(merged((doc) => doc.cloudEventData)).map(([type, data]) => ({
    title: `CloudEvent ${type}`,
    type: 'object',
    required: ['specversion', 'id', 'source', 'type', 'data'],
    properties: {
      specversion: { type: 'string', enum: ['1.0'] },
      id: { type: 'string', minLength: 1 },
      source: { type: 'string', minLength: 1 },
      type: { type: 'string', enum: [type] },
      subject: { type: 'string' },
      time: { type: 'string', format: 'date-time' },
      datacontenttype: { type: 'string' },
      data,
    },
    additionalProperties: true,
  }));
  const conflicts = merged((doc) => doc.conflicts) as unknown as Record<string, string>;
  const outcomeSchema = {
    type: 'object',
    properties: { customerId: { type: 'string' }, customerNumber: { type: 'string' }, outcome: { type: 'string', enum: ['created', 'duplicate', 'activated'] } },
    additionalProperties: true,
  };
  const schema = {
    tags: ['events'],
    summary: 'Ingest one event',
    description:
      `A plain envelope of type ${[...envelopes.keys()].join(', ')} (application/json), or a CloudEvent (structured ` +
      `application/cloudevents+json, or binary with ce-* headers) of type ${[...cloudEvents.keys()].join(', ')}. 201 when it ` +
      'created, 200 when it activated or was a duplicate, 409 when it conflicts with what is stored (e.g. the customer it refers to does not exist).',
    body: {
      content: {
        'application/json': { schema: { oneOf: envelopeSchemas } },
        [CLOUDEVENTS_JSON]: { schema: { oneOf: cloudEventSchemas } },
      },
    },
    response: {
      200: { ...outcomeSchema, description: 'Activated, or a duplicate (nothing new was written)' },
      201: { ...outcomeSchema, description: 'The customer was created' },
      400: problemResponse('Invalid input', { ...INVALID_INPUT_CODES, ...merged((doc) => doc.invalidInput), ...UNSUPPORTED_VERSION_CODE }),
      ...(Object.keys(conflicts).length === 0 ? {} : { 409: problemResponse('Conflicts with what is stored', conflicts) }),
      413: problemResponse('Too large', { PAYLOAD_TOO_LARGE: 'the body exceeds HTTP_BODY_LIMIT_BYTES' }),
      415: problemResponse('Unsupported content or event type', {
        UNSUPPORTED_CONTENT_TYPE: 'neither application/json nor a CloudEvent',
        UNSUPPORTED_EVENT_TYPE: 'an eventType or CloudEvent type no flow handles',
      }),
    },
  };

  app.post('/api/v1/events', { schema }, async (request, reply) => {
    // W3C trace context of the HTTP hop; an invalid traceparent is ignored (a new trace starts), never an error.
    const trace = traceContextFromHeaders(request.headers);
    let result: IntakeResult;
    try {
      result = await dispatch(request, trace);
    } catch (error) {
      logRejected(request, error);
      throw error;
    }
    reply.status(result.outcome === 'created' ? 201 : 200);
    return { ...result.body, outcome: result.outcome };
  });

  async function dispatch(request: FastifyRequest, trace: TraceContext): Promise<IntakeResult> {
    const headers = request.headers as Record<string, string | undefined>;
    const mediaType = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (mediaType === CLOUDEVENTS_JSON) return dispatchCloudEvent(parseStructured(request.body), trace);
    if (isBinaryMode(headers)) return dispatchCloudEvent(parseBinary(headers, request.body), trace);
    if (mediaType !== 'application/json') {
      throw new HttpProblem({
        status: 415,
        code: 'UNSUPPORTED_CONTENT_TYPE',
        detail: `content type "${mediaType ?? ''}" is not accepted: send application/json or a CloudEvent`,
      });
    }
    const eventType = (request.body as { eventType?: unknown } | null)?.eventType;
    if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) {
      throw new HttpProblem(invalidInput(InvalidInputError.of('INVALID_TYPE', '(root)', 'the body must be a JSON object')));
    }
    if (typeof eventType !== 'string') {
      throw new HttpProblem(invalidInput(InvalidInputError.of('MISSING_FIELD', 'eventType', 'is required')));
    }
    const handler = envelopes.get(eventType);
    if (handler === undefined) throw unsupportedType(eventType, [...envelopes.keys()]);
    return handler(request.body, trace);
  }

  async function dispatchCloudEvent(
    parsed: ReturnType<typeof parseStructured>,
    trace: TraceContext,
  ): Promise<IntakeResult> {
    if (!parsed.ok) throw new HttpProblem(invalidInput(parsed.error));
    const handler = cloudEvents.get(parsed.value.type);
    if (handler === undefined) throw unsupportedType(parsed.value.type, [...cloudEvents.keys()]);
    // A valid trace context carried by the event itself (the CloudEvents distributed-tracing extension) wins over the HTTP hop's.
    const carried = traceContextFromHeaders(parsed.value.extensions);
    return handler(parsed.value, carried.traceparent === undefined ? trace : carried);
  }
}

/**
 * Invalid input answered 400 or 415 gets its outcome line here, with the reason code and whatever ids the body
 * carries (never its personal data). 409 comes from the use case, which logs it itself.
 */
function logRejected(request: FastifyRequest, error: unknown): void {
  if (!(error instanceof HttpProblem) || error.outcomeLogged || (error.problem.status !== 400 && error.problem.status !== 415)) return;
  const body = typeof request.body === 'object' && request.body !== null ? (request.body as Record<string, unknown>) : {};
  const id = (value: unknown) => (typeof value === 'string' && value.length <= 100 ? value : undefined);
  logOutcome(request.log, 'rejected', {
    transport: 'http',
    reason: error.problem.code,
    eventId: id(body.eventId) ?? id(body.id),
    correlationId: id(body.correlationId),
    eventType: id(body.eventType) ?? id(body.type),
  }, 'event rejected');
}

function unsupportedType(type: string, known: readonly string[]): HttpProblem {
  return new HttpProblem({
    status: 415,
    code: 'UNSUPPORTED_EVENT_TYPE',
    detail: `event type "${type}" is not handled here (handled: ${known.join(', ') || 'none'})`,
  });
}
