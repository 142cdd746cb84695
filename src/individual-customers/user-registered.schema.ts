/**
 * The `UserRegistered` event as the identity service sends it (JSON on `identity.user.events`; see
 * `shared/fixtures/user-registered.event.json`). Unknown fields, such as `verificationToken`, are ignored.
 */
import { z } from 'zod';
import { InvalidInputError, type Parsed, parseWith, plausibleInstant } from '../platform/validation.js';

const id = z.guid();
const instant = plausibleInstant();
/** Free text the service does not interpret: bounded all the same. */
const text = z.string().max(256);
const name = z.string().trim().min(1).max(50);

export const userRegisteredSchema = z
  .object({
    eventId: id,
    eventType: z.literal('UserRegistered'),
    eventVersion: z.string().max(32).regex(/^1(\.\d+)*$/, 'expected a 1.x version'),
    timestamp: instant,
    aggregateId: id.optional(),
    aggregateType: text.optional(),
    correlationId: id.optional(),
    causationId: text.optional(),
    payload: z.object({
      userId: id,
      email: z.string().trim().max(254).pipe(z.email()),
      firstName: name,
      lastName: name,
      tosAcceptedAt: instant.optional(),
      marketingOptIn: z.boolean(),
      registrationSource: text.optional(),
    }),
  })
  .superRefine((event, context) => {
    if (event.aggregateId !== undefined && event.aggregateId.toLowerCase() !== event.payload.userId.toLowerCase()) {
      context.addIssue({ code: 'custom', path: ['aggregateId'], message: 'must equal payload.userId' });
    }
  });

export type UserRegistered = z.output<typeof userRegisteredSchema>;

export const USER_REGISTERED = 'UserRegistered';

/**
 * Validates a decoded JSON value as `UserRegistered`. A different `eventType` or major version is reported with its
 * own code, so transports can tell "not for us" (ignore) from "broken" (dead-letter).
 */
export function parseUserRegistered(input: unknown, fieldPrefix = ''): Parsed<UserRegistered> {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const { eventType, eventVersion } = input as { eventType?: unknown; eventVersion?: unknown };
    const field = (name: string) => (fieldPrefix === '' ? name : `${fieldPrefix}.${name}`);
    if (typeof eventType === 'string' && eventType !== USER_REGISTERED) {
      return { ok: false, error: InvalidInputError.of('UNSUPPORTED_EVENT_TYPE', field('eventType'), `"${eventType}" is not handled`) };
    }
    if (typeof eventVersion === 'string' && !/^1(\.\d+)*$/.test(eventVersion)) {
      return {
        ok: false,
        error: InvalidInputError.of('UNSUPPORTED_EVENT_VERSION', field('eventVersion'), `version "${eventVersion}" is not supported`),
      };
    }
  }
  return parseWith(userRegisteredSchema, input, fieldPrefix);
}
