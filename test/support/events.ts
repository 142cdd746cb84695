/** Realistic `UserRegistered` events for tests, built from the fixture of the identity service. */
import { readFileSync } from 'node:fs';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';

const fixturePath = new URL('../fixtures/user-registered.event.json', import.meta.url);

export const userRegisteredFixture: Readonly<Record<string, unknown>> = JSON.parse(readFileSync(fixturePath, 'utf8')) as Record<
  string,
  unknown
>;

export interface UserRegisteredOverrides {
  eventId?: string;
  userId?: string;
  timestamp?: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  marketingOptIn?: boolean;
  correlationId?: string;
}

let counter = 0;

/** A valid, unique `UserRegistered` event (new eventId and userId unless given). */
export function userRegistered(overrides: UserRegisteredOverrides = {}) {
  counter += 1;
  const userId = overrides.userId ?? uuidv7();
  return {
    eventId: overrides.eventId ?? uuidv4(),
    eventType: 'UserRegistered',
    eventVersion: '1.0',
    timestamp: overrides.timestamp ?? '2026-01-02T10:30:01Z',
    aggregateId: userId,
    aggregateType: 'User',
    correlationId: overrides.correlationId ?? uuidv4(),
    payload: {
      userId,
      email: overrides.email ?? `user${counter}.${userId.slice(-6)}@example.com`,
      firstName: overrides.firstName ?? 'Jane',
      lastName: overrides.lastName ?? 'Doe',
      tosAcceptedAt: '2026-01-02T10:30:00Z',
      marketingOptIn: overrides.marketingOptIn ?? false,
      registrationSource: 'WEB',
    },
  };
}

export interface UserActivatedOverrides {
  eventId?: string;
  timestamp?: string;
  activatedAt?: string;
  activationMethod?: string;
  correlationId?: string;
}

/** A valid `UserActivated` for `userId` (the identity service's envelope, payload of US-0002-06). */
export function userActivated(userId: string, overrides: UserActivatedOverrides = {}) {
  return {
    eventId: overrides.eventId ?? uuidv4(),
    eventType: 'UserActivated',
    eventVersion: '1.0',
    timestamp: overrides.timestamp ?? '2026-01-02T11:00:00Z',
    aggregateId: userId,
    aggregateType: 'User',
    correlationId: overrides.correlationId ?? uuidv4(),
    payload: {
      userId,
      activatedAt: overrides.activatedAt ?? '2026-01-02T11:00:00Z',
      activationMethod: overrides.activationMethod ?? 'EMAIL_VERIFICATION',
    },
  };
}
