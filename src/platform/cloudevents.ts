/**
 * CloudEvents 1.0 decoding, transport-neutral: structured mode (the whole event as JSON) and binary mode (`ce-*`
 * attributes in headers, `data` in the body). Used by HTTP and NATS.
 */
import { z } from 'zod';
import { InvalidInputError, type Parsed, parseWith } from './validation.js';

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

const attributesSchema = z.looseObject({
  specversion: z.literal('1.0'),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  subject: z.string().min(1).optional(),
  time: z.iso.datetime({ offset: true }).optional(),
  datacontenttype: z.string().optional(),
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
  const extensions: Record<string, string> = {};
  for (const [name, value] of Object.entries(record)) {
    if (!KNOWN.has(name) && (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')) {
      extensions[name] = String(value);
    }
  }
  return { ok: true, value: { ...pickAttributes(parsed.value), data: record.data, extensions } };
}

/** True when the headers carry a binary-mode CloudEvent. */
export function isBinaryMode(headers: Readonly<Record<string, string | undefined>>): boolean {
  return headers['ce-specversion'] !== undefined;
}

/** A binary-mode event: attributes from `ce-*` headers (lower-case names), `data` already decoded from the body. */
export function parseBinary(headers: Readonly<Record<string, string | undefined>>, data: unknown): Parsed<CloudEvent> {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('ce-') && value !== undefined) attributes[name.slice(3)] = value;
  }
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

function asCloudEventError(error: InvalidInputError): InvalidInputError {
  const [first, ...rest] = error.violations;
  return new InvalidInputError([
    { ...first, code: 'INVALID_CLOUDEVENT', message: `${first.message} (CloudEvent attribute ${first.field})` },
    ...rest.map((violation) => ({ ...violation, code: 'INVALID_CLOUDEVENT' as const })),
  ]);
}
