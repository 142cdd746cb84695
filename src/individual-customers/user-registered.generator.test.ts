import { describe, expect, it } from 'vitest';
import { createUserRegisteredGenerator } from './user-registered.generator.js';
import { parseUserRegistered } from './user-registered.schema.js';

describe('UserRegistered generator', () => {
  it('makes events the schema accepts, with unique event ids, user ids and e-mails', () => {
    const next = createUserRegisteredGenerator({ clock: () => new Date('2026-03-04T05:06:07Z') });
    const events = Array.from({ length: 5000 }, next);
    for (const event of events.slice(0, 200)) expect(parseUserRegistered(event).ok).toBe(true);
    expect(new Set(events.map((event) => event.eventId)).size).toBe(5000);
    expect(new Set(events.map((event) => event.payload.userId)).size).toBe(5000);
    expect(new Set(events.map((event) => event.payload.email)).size).toBe(5000);
    expect(events[0]).toMatchObject({ timestamp: '2026-03-04T05:06:07.000Z', aggregateId: events[0]?.payload.userId });
  });
});
