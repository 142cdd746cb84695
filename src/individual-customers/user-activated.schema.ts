/**
 * The `UserActivated` event of the identity service (US-0002-06): the envelope of `UserRegistered` with payload
 * `{userId, activatedAt, activationMethod}`, JSON on `identity.user.events`. Rejections use the reason codes of
 * registration (`platform/validation.ts`); unknown fields are ignored.
 */
import { z } from 'zod';
import { InvalidInputError, type Parsed, parseWith, plausibleInstant } from '../platform/validation.js';

const id = z.guid();
// UTC years 2000..9999 (SPEC §3): PostgreSQL refuses year 0000 and above 9999.
const instant = plausibleInstant();

export const USER_ACTIVATED = 'UserActivated';

export const userActivatedSchema = z
  .object({
    eventId: id,
    eventType: z.literal(USER_ACTIVATED),
    eventVersion: z.string().regex(/^1(\.\d+)*$/, 'expected a 1.x version'),
    timestamp: instant,
    aggregateId: id.optional(),
    aggregateType: z.string().max(100).optional(),
    correlationId: id.optional(),
    causationId: z.string().max(100).optional(),
    payload: z.object({
      userId: id,
      activatedAt: instant,
      // "EMAIL_VERIFICATION" | …: the identity service may add methods, so any short token is accepted.
      activationMethod: z.string().trim().min(1).max(64),
    }),
  })
  .superRefine((event, context) => {
    if (event.aggregateId !== undefined && event.aggregateId.toLowerCase() !== event.payload.userId.toLowerCase()) {
      context.addIssue({ code: 'custom', path: ['aggregateId'], message: 'must equal payload.userId' });
    }
  });

export type UserActivated = z.output<typeof userActivatedSchema>;

/** Validates a decoded JSON value as `UserActivated`; another type or major version gets its own code, as for registration. */
export function parseUserActivated(input: unknown, fieldPrefix = ''): Parsed<UserActivated> {
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const { eventType, eventVersion } = input as { eventType?: unknown; eventVersion?: unknown };
    const field = (name: string) => (fieldPrefix === '' ? name : `${fieldPrefix}.${name}`);
    if (typeof eventType === 'string' && eventType !== USER_ACTIVATED) {
      return { ok: false, error: InvalidInputError.of('UNSUPPORTED_EVENT_TYPE', field('eventType'), `"${eventType}" is not handled`) };
    }
    if (typeof eventVersion === 'string' && !/^1(\.\d+)*$/.test(eventVersion)) {
      return {
        ok: false,
        error: InvalidInputError.of('UNSUPPORTED_EVENT_VERSION', field('eventVersion'), `version "${eventVersion}" is not supported`),
      };
    }
  }
  return parseWith(userActivatedSchema, input, fieldPrefix);
}
