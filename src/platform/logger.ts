/**
 * pino JSON logs. Personal data (e-mails, names) is redacted unless LOG_PERSONAL_DATA is set, at any depth: a key-path
 * list (`*.email`, `*.*.email`) misses what sits one level deeper, in an array, or in an error's data context.
 *
 * Whatever the setting, every logged object passes through `sanitize` first:
 * - errors become plain objects with their name, message, code and stack (and their cause, sanitized alike), but
 *   never a PostgreSQL error's `detail`, `where`, `hint` or query text: those hold the offending row or payload;
 * - no URL keeps its userinfo (`postgres://user:password@host` logs as `postgres://[redacted]@host`);
 * - unless LOG_PERSONAL_DATA is set, e-mail addresses are masked by their shape in every string, the message included:
 *   no field name gives them away in a driver's error message (MySQL `Duplicate entry 'jane@…'`, MongoDB `E11000 … dup
 *   key: { email: "jane@…" }`) or in a text someone writes later.
 */
import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `personalData`: whether e-mail addresses and names may appear in clear (LOG_PERSONAL_DATA). */
export interface LoggerOptions {
  readonly level: LogLevel;
  readonly personalData: boolean;
}

export type { Logger };

const PERSONAL_FIELDS: ReadonlySet<string> = new Set([
  'email',
  'firstName',
  'lastName',
  'displayName',
  'name',
  'user_email',
  'user_name',
  'customer_name',
]);
const CENSOR = '[redacted]';
/** Error properties worth keeping: identity and classification, never data. */
const ERROR_FIELDS = ['code', 'severity', 'routine', 'constraint', 'table', 'column', 'errno', 'syscall', 'address', 'port'] as const;
const MAX_DEPTH = 12;
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@]*@/gi;
// An address with a dotted domain. Narrower than the dead-letter masking's shape on purpose: a stack trace's
// `node_modules/@fastify/…` or a `[redacted]@host` URL stays readable.
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;

export function createLogger(options: LoggerOptions, destination?: pino.DestinationStream): Logger {
  const redactPersonal = !options.personalData;
  return pino(
    {
      level: options.level,
      base: { service: 'customer-service' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => sanitize(object, redactPersonal, 0, new WeakSet()) as Record<string, unknown>,
      },
      // `sanitize` has already turned errors into plain objects; pino's error serializer would copy every property.
      serializers: { err: (value: unknown) => value },
      hooks: {
        // The message string too: an error message or a log text may carry a URL with credentials.
        logMethod(args, method) {
          const [first, ...rest] = args as unknown[];
          // logger.error(error): pino would take the raw message as the line's msg.
          const normalized = first instanceof Error && rest.length === 0 ? [{ err: first }, first.message] : args;
          const texts = normalized.map((arg: unknown) => (typeof arg === 'string' ? text(arg, redactPersonal) : arg)) as Parameters<typeof method>;
          method.apply(this, texts);
        },
      },
    },
    destination,
  );
}

/** `text` with the userinfo of every URL in it replaced. */
export function withoutUserinfo(text: string): string {
  return text.includes('@') ? text.replace(USERINFO, `$1${CENSOR}@`) : text;
}

/** A logged string: never a URL's userinfo; e-mail addresses masked unless personal data is logged. */
function text(value: string, redactPersonal: boolean): string {
  const safe = withoutUserinfo(value);
  return redactPersonal && safe.includes('@') ? safe.replace(EMAIL, CENSOR) : safe;
}

function sanitize(value: unknown, redactPersonal: boolean, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return text(value, redactPersonal);
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value) || depth > MAX_DEPTH) return '[…]';
  seen.add(value);
  if (value instanceof Error) return sanitizeError(value, redactPersonal, depth, seen);
  if (Array.isArray(value)) return value.map((item) => sanitize(item, redactPersonal, depth + 1, seen));
  if (Buffer.isBuffer(value) || value instanceof Date) return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    result[key] = redactPersonal && PERSONAL_FIELDS.has(key) ? CENSOR : sanitize(item, redactPersonal, depth + 1, seen);
  }
  return result;
}

function sanitizeError(error: Error, redactPersonal: boolean, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const result: Record<string, unknown> = { type: error.name, message: text(error.message, redactPersonal) };
  const record = error as unknown as Record<string, unknown>;
  for (const field of ERROR_FIELDS) {
    const item = record[field];
    if (typeof item === 'string' || typeof item === 'number') result[field] = item;
  }
  if (error.stack !== undefined) result.stack = text(error.stack, redactPersonal);
  if (error.cause !== undefined) result.cause = sanitize(error.cause, redactPersonal, depth + 1, seen);
  if (error instanceof AggregateError) result.errors = sanitize(error.errors, redactPersonal, depth + 1, seen);
  return result;
}
