/**
 * Turns schema failures into reason codes every interface reports the same way: HTTP problem details, dead letters,
 * Job-mode stderr. A rejection always says which field and why.
 */
import { z } from 'zod';

/** Reason codes of the checks every flow shares; a flow declares its own ones in `FlowReasonCodes`. */
export type PlatformReasonCode =
  | 'MALFORMED_JSON'
  | 'MISSING_FIELD'
  | 'INVALID_TYPE'
  | 'INVALID_EMAIL'
  | 'INVALID_UUID'
  | 'INVALID_TIMESTAMP'
  | 'INVALID_CHARACTERS'
  | 'INVALID_VALUE'
  | 'FIELD_EMPTY'
  | 'FIELD_TOO_LONG'
  | 'INVALID_CLOUDEVENT'
  | 'UNSUPPORTED_EVENT_TYPE'
  | 'UNSUPPORTED_EVENT_VERSION'
  | 'UNSUPPORTED_CONTENT_TYPE'
  | 'PAYLOAD_TOO_LARGE';

/**
 * The reason codes flows add (their keys), declared by each flow with declaration merging, e.g.
 * `declare module '../platform/validation.js' { interface FlowReasonCodes { SOME_FLOW_CODE: true } }`: the platform names
 * no flow's code, and a code no one declared is still a type error.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by the flows through declaration merging
export interface FlowReasonCodes {}

export type ReasonCode = PlatformReasonCode | keyof FlowReasonCodes;

export interface FieldViolation {
  readonly field: string;
  readonly code: ReasonCode;
  readonly message: string;
}

/** Expected rejection of an input; `code` is the first violation's, `violations` lists them all. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  readonly code: ReasonCode;
  constructor(readonly violations: readonly [FieldViolation, ...FieldViolation[]]) {
    const [first] = violations;
    super(violations.map((violation) => `${violation.field}: ${violation.message}`).join('; '));
    this.code = first.code;
  }

  static of(code: ReasonCode, field: string, message: string): InvalidInputError {
    return new InvalidInputError([{ code, field, message }]);
  }
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: InvalidInputError };

/**
 * Parses `input` with `schema`, mapping every zod issue to a field violation with a reason code. Any string in
 * `input`, even in a field the schema ignores, holding NUL or an unpaired surrogate is refused first
 * (INVALID_CHARACTERS): PostgreSQL cannot store either in text or jsonb.
 */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, fieldPrefix = ''): Parsed<z.output<S>> {
  const unstorable = findUnstorableString(input);
  if (unstorable !== undefined) {
    const field = [fieldPrefix, unstorable].filter((part) => part !== '').join('.') || '(root)';
    return { ok: false, error: InvalidInputError.of('INVALID_CHARACTERS', field, 'holds a NUL character or an unpaired UTF-16 surrogate') };
  }
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  const violations = result.error.issues.map((issue) => toViolation(issue, fieldPrefix));
  return { ok: false, error: new InvalidInputError(violations as [FieldViolation, ...FieldViolation[]]) };
}

function toViolation(issue: z.core.$ZodIssue, fieldPrefix: string): FieldViolation {
  const path = issue.path.map(String).join('.');
  const field = [fieldPrefix, path].filter((part) => part !== '').join('.') || '(root)';
  return { field, code: reasonOf(issue), message: messageOf(issue) };
}

function reasonOf(issue: z.core.$ZodIssue): ReasonCode {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'MISSING_FIELD' : 'INVALID_TYPE';
    case 'invalid_format':
      if (issue.format === 'email') return 'INVALID_EMAIL';
      if (issue.format === 'guid' || issue.format === 'uuid') return 'INVALID_UUID';
      if (issue.format === 'datetime') return 'INVALID_TIMESTAMP';
      return 'INVALID_VALUE';
    case 'too_big':
      return 'FIELD_TOO_LONG';
    case 'too_small':
      return issue.origin === 'string' && issue.minimum === 1 ? 'FIELD_EMPTY' : 'INVALID_VALUE';
    case 'custom': {
      // A refinement names its own code: `params: { reason: 'INVALID_TIMESTAMP' }`.
      const reason = (issue.params as { reason?: ReasonCode } | undefined)?.reason;
      return reason ?? 'INVALID_VALUE';
    }
    default:
      return 'INVALID_VALUE';
  }
}

function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return issue.message;
}

// NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one.
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The path (`a.b.0`) of the first string, or object key, that PostgreSQL cannot store; undefined when there is none. */
export function findUnstorableString(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, index) => [String(index), item]) : Object.entries(value);
  for (const [key, item] of entries) {
    const at = path === '' ? key : `${path}.${key}`;
    if (UNSTORABLE.test(key)) return at;
    const found = findUnstorableString(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** First and last UTC year a registration timestamp may have (SPEC §3): earlier or later ones are typos or attacks. */
export const PLAUSIBLE_YEARS = { first: 2000, last: 9999 } as const;

export function isPlausibleYear(year: number): boolean {
  return year >= PLAUSIBLE_YEARS.first && year <= PLAUSIBLE_YEARS.last;
}

/** An RFC 3339 instant with an offset whose UTC year is plausible; INVALID_TIMESTAMP otherwise. */
export function plausibleInstant() {
  return z.iso.datetime({ offset: true }).refine(
    (value) => {
      // A value that is no instant at all has its INVALID_TIMESTAMP from the format check already.
      if (Number.isNaN(Date.parse(value))) return true;
      return isPlausibleYear(new Date(value).getUTCFullYear());
    },
    { message: `must lie in the UTC years ${PLAUSIBLE_YEARS.first} to ${PLAUSIBLE_YEARS.last}`, params: { reason: 'INVALID_TIMESTAMP' } },
  );
}
