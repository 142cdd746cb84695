/** Branded identifiers: a value of these types has been through a parser that validated it. */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type CustomerId = Brand<string, 'CustomerId'>;
export type UserId = Brand<string, 'UserId'>;
export type EventId = Brand<string, 'EventId'>;

// Any 8-4-4-4-12 hex id: the identity service's ids do not always carry RFC 9562 variant bits (see the fixtures).
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}

function parseUuid<T extends string>(value: string): T | undefined {
  return isUuid(value) ? (value.toLowerCase() as T) : undefined;
}

export const parseCustomerId = (value: string): CustomerId | undefined => parseUuid<CustomerId>(value);
export const parseUserId = (value: string): UserId | undefined => parseUuid<UserId>(value);
export const parseEventId = (value: string): EventId | undefined => parseUuid<EventId>(value);
