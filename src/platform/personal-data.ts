/**
 * Masking personal data in what operators see outside the logs (issue 16): dead-letter payloads, headers and error
 * texts shown by the CLI. The logs have their own redaction (`logger.ts`). Masking is by field name at any depth, and
 * by shape for e-mail addresses anywhere in free text; it errs on the side of hiding (a company's `name` is masked
 * too), and the operator can ask for the clear text explicitly.
 */

/** Field names whose values are personal data in the inputs this service takes (ACME and knapscen). */
export const PERSONAL_FIELDS: ReadonlySet<string> = new Set([
  'email',
  'user_email',
  'firstName',
  'lastName',
  'displayName',
  'name',
  'user_name',
  'phone',
  'dateOfBirth',
]);

export const MASK = '[redacted]';
const EMAIL_LIKE = /[^\s@"'<>(),;:[\]\\]+@[^\s@"'<>(),;:[\]\\]+/g;
/** Deeper than any input we accept; past it, the whole subtree is masked rather than walked. */
const MAX_DEPTH = 64;

/** A copy of `value` with every personal field's value masked, at any depth, and e-mail addresses masked in strings. */
export function maskPersonalData(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskEmails(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return MASK;
  if (Array.isArray(value)) return value.map((item) => maskPersonalData(item, depth + 1));
  const result: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    result[key] = PERSONAL_FIELDS.has(key) && field !== null ? MASK : maskPersonalData(field, depth + 1);
  }
  return result;
}

export function maskEmails(text: string): string {
  return text.replace(EMAIL_LIKE, MASK);
}

/** A text payload masked: as JSON when it parses (fields by name), else e-mail addresses by shape. */
export function maskPayloadText(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return maskEmails(text);
  }
  return JSON.stringify(maskPersonalData(parsed));
}
