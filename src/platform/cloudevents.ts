/**
 * CloudEvents 1.0 decoding, transport-neutral: structured mode (the whole event as JSON) and binary mode (`ce-*`
 * attributes in headers, `data` in the body). Used by HTTP and NATS.
 */
import { z } from 'zod';
import { InvalidInputError, type FieldViolation, type Parsed, parseWith, plausibleInstant } from './validation.js';

export interface CloudEvent {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject?: string;
  readonly time?: string;
  readonly datacontenttype?: string;
  readonly data?: unknown;
  /** Extension attributes, e.g. `traceparent`. */
  readonly extensions: Readonly<Record<string, string>>;
}

/**
 * Bounds of the identifying attributes: (`source`, `id`, `subject`) is the identity of an input and is indexed, and a
 * btree index row holds at most 2,704 bytes; 200 characters each (at most 2,400 bytes of UTF-8) always fit.
 */
export const CLOUDEVENT_ID_MAX_LENGTH = 200;

const attributesSchema = z.looseObject({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(CLOUDEVENT_ID_MAX_LENGTH),
  source: z.string().min(1).max(CLOUDEVENT_ID_MAX_LENGTH),
  type: z.string().min(1).max(CLOUDEVENT_ID_MAX_LENGTH),
  subject: z.string().min(1).max(CLOUDEVENT_ID_MAX_LENGTH).optional(),
  time: plausibleInstant().optional(),
  datacontenttype: z.string().max(CLOUDEVENT_ID_MAX_LENGTH).optional(),
});

const KNOWN = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'data', 'data_base64']);

/** A decoded structured-mode event (the parsed JSON body). */
export function parseStructured(body: unknown): Parsed<CloudEvent> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, error: InvalidInputError.of('INVALID_CLOUDEVENT', '(root)', 'a CloudEvent must be a JSON object') };
  }
  const parsed = parseWith(attributesSchema, body);
  if (!parsed.ok) return { ok: false, error: asCloudEventError(parsed.error) };
  const record = body as Record<string, unknown>;
  // Object.fromEntries defines own properties: no attribute name can reach a prototype.
  const extensions: Record<string, string> = Object.fromEntries(
    Object.entries(record).flatMap(([name, value]) =>
      !KNOWN.has(name) && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') ? [[name, String(value)]] : [],
    ),
  );
  return { ok: true, value: { ...pickAttributes(parsed.value), data: record.data, extensions } };
}

/** True when the headers carry a binary-mode CloudEvent. */
export function isBinaryMode(headers: Readonly<Record<string, string | undefined>>): boolean {
  return headers['ce-specversion'] !== undefined;
}

/** A binary-mode event: attributes from `ce-*` headers (lower-case names), `data` already decoded from the body. */
export function parseBinary(headers: Readonly<Record<string, string | undefined>>, data: unknown): Parsed<CloudEvent> {
  const attributes: Record<string, string> = Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) => (name.startsWith('ce-') && value !== undefined ? [[name.slice(3), value]] : [])),
  );
  const contentType = headers['content-type'];
  if (contentType !== undefined) attributes.datacontenttype = contentType;
  const parsed = parseWith(attributesSchema, attributes);
  if (!parsed.ok) return { ok: false, error: asCloudEventError(parsed.error) };
  const extensions = Object.fromEntries(Object.entries(attributes).filter(([name]) => !KNOWN.has(name)));
  return { ok: true, value: { ...pickAttributes(parsed.value), data, extensions } };
}

function pickAttributes(value: z.output<typeof attributesSchema>): Omit<CloudEvent, 'data' | 'extensions'> {
  const { specversion, id, source, type, subject, time, datacontenttype } = value;
  return {
    specversion,
    id,
    source,
    type,
    ...(subject === undefined ? {} : { subject }),
    ...(time === undefined ? {} : { time }),
    ...(datacontenttype === undefined ? {} : { datacontenttype }),
  };
}

/** Codes that say more than "not a CloudEvent", and are kept as they are (SPEC §3: the same codes on every field). */
const SPECIFIC_CODES: ReadonlySet<string> = new Set(['FIELD_TOO_LONG', 'INVALID_CHARACTERS', 'INVALID_TIMESTAMP']);

function asCloudEventError(error: InvalidInputError): InvalidInputError {
  const [first, ...rest] = error.violations;
  const code = (violation: FieldViolation) => (SPECIFIC_CODES.has(violation.code) ? violation.code : 'INVALID_CLOUDEVENT');
  return new InvalidInputError([
    { ...first, code: code(first), message: `${first.message} (CloudEvent attribute ${first.field})` },
    ...rest.map((violation) => ({ ...violation, code: code(violation) })),
  ]);
}
