/**
 * Turns schema failures into reason codes every interface reports the same way: HTTP problem details, dead letters,
 * Job-mode stderr. A rejection always says which field and why.
 */
import type { z } from 'zod';

export type ReasonCode =
  | 'MALFORMED_JSON'
  | 'MISSING_FIELD'
  | 'INVALID_TYPE'
  | 'INVALID_EMAIL'
  | 'INVALID_UUID'
  | 'INVALID_TIMESTAMP'
  | 'INVALID_VALUE'
  | 'FIELD_EMPTY'
  | 'FIELD_TOO_LONG'
  | 'INVALID_CLOUDEVENT'
  | 'UNSUPPORTED_EVENT_TYPE'
  | 'UNSUPPORTED_EVENT_VERSION'
  | 'UNSUPPORTED_CONTENT_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  // Corporate customers (knapscen CloudEvents, Job mode).
  | 'UNKNOWN_TIER'
  | 'UNKNOWN_ROLE'
  | 'DUPLICATE_EMAIL'
  | 'EMAIL_TAKEN'
  // A registration knapscen's MySQL tables cannot hold while the mirror is on (KNAPSCEN_MYSQL_URL).
  | 'NOT_MIRRORABLE';

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

/** Parses `input` with `schema`, mapping every zod issue to a field violation with a reason code. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, fieldPrefix = ''): Parsed<z.output<S>> {
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
    default:
      return 'INVALID_VALUE';
  }
}

function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return issue.message;
}
