/**
 * The flows this service runs, in one place: the composition root (service, app, CLI) reads what each declares here
 * instead of naming them in shared code.
 */
import { CUSTOMER_SAVED, USER_SAVED } from './corporate-customers/outbox.js';
import { CUSTOMER_EVENTS } from './individual-customers/outbox.js';

/** Every outbox destination a flow declares (metrics sample each one, 0 when empty). */
export const outboxDestinations: readonly string[] = [CUSTOMER_EVENTS, CUSTOMER_SAVED, USER_SAVED].map((declared) => declared.destination);
