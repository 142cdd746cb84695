/**
 * A CloudEvent from a NATS message: structured mode (the whole event as JSON in the body, as knapscen and Sveltos
 * send it) or binary mode (attributes in `ce-*` headers, `data` in the body).
 */
import { isBinaryMode, parseBinary, parseStructured, type CloudEvent } from '../cloudevents.js';
import { parseJsonOrThrow } from '../json.js';
import { InvalidInputError, type Parsed } from '../validation.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeCloudEvent(headers: Readonly<Record<string, string>>, body: Uint8Array): Parsed<CloudEvent> {
  if (isBinaryMode(headers)) {
    const contentType = (headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
    if (contentType !== 'application/json' && !contentType.endsWith('+json')) {
      return {
        ok: false,
        error: InvalidInputError.of('UNSUPPORTED_CONTENT_TYPE', 'content-type', `binary-mode data of type "${contentType}" is not accepted`),
      };
    }
    const data = parseJson(body);
    return data.ok ? parseBinary(headers, data.value) : data;
  }
  const event = parseJson(body);
  return event.ok ? parseStructured(event.value) : event;
}

function parseJson(body: Uint8Array): Parsed<unknown> {
  try {
    const text = utf8.decode(body);
    if (text.trim() === '') return { ok: false, error: InvalidInputError.of('MALFORMED_JSON', '(root)', 'the message body is empty') };
    return { ok: true, value: parseJsonOrThrow(text) };
  } catch (error) {
    return {
      ok: false,
      error: InvalidInputError.of('MALFORMED_JSON', '(root)', `the message body is not JSON: ${error instanceof Error ? error.message : String(error)}`),
    };
  }
}
