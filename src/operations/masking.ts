/**
 * Masks personal data for the operator console: e-mail addresses, names, phone numbers and birth dates are shown as a
 * first character and stars unless the operator may see personal data. No business rules; pure.
 */

const PERSONAL_KEYS = new Set([
  'email', 'address', 'firstName', 'lastName', 'displayName', 'name', 'phone', 'dateOfBirth',
  'user_email', 'user_name', 'customer_name',
]);
const EMAIL = /[^\s@"'<>]+@[^\s@"'<>]+\.[^\s@"'<>]+/g;

/** `jane.doe@example.com` → `j***@e***.com`; any other text → its first character and three stars. */
export function maskText(value: string): string {
  if (value.includes('@')) return value.replace(EMAIL, maskEmail);
  return value.length === 0 ? value : `${value[0] ?? ''}***`;
}

function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  const dot = domain.lastIndexOf('.');
  const tld = dot === -1 ? '' : domain.slice(dot);
  return `${local[0] ?? ''}***@${domain[0] ?? ''}***${tld}`;
}

/** A copy of `value` with every personal field (at any depth) masked, and e-mail addresses masked wherever they are. */
export function maskPersonalData(value: unknown, key?: string): unknown {
  if (typeof value === 'string') {
    if (key !== undefined && PERSONAL_KEYS.has(key)) return maskText(value);
    return value.replace(EMAIL, maskEmail);
  }
  if (Array.isArray(value)) return value.map((item) => maskPersonalData(item));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([name, item]) => [name, maskPersonalData(item, PERSONAL_KEYS.has(name) && typeof item !== 'object' ? name : undefined)]),
    );
  }
  return value;
}

/** A message payload for display: parsed and masked when it is JSON, else its text with e-mail addresses masked. */
export function maskedPayload(payload: Buffer, reveal: boolean, maxChars = 4_000): unknown {
  const text = payload.toString('utf8').slice(0, maxChars);
  try {
    const parsed: unknown = JSON.parse(payload.toString('utf8'));
    return reveal ? parsed : maskPersonalData(parsed);
  } catch {
    return reveal ? text : text.replace(EMAIL, maskEmail);
  }
}
