/**
 * Realistic, unique `UserRegistered` events as the identity service sends them: for demos, load (`publish`, the
 * benchmark) and support. Each call gives a new user with a new `eventId`, a plausible name and a unique e-mail.
 */
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';

const FIRST_NAMES = ['Jane', 'John', 'Amara', 'Luca', 'Mei', 'Omar', 'Sofia', 'Noah', 'Priya', 'Lars', 'Chloé', 'Mateo', 'Yuki', 'Aisha', 'Jonas', 'Elena'];
const LAST_NAMES = ['Doe', 'Smith', 'Okafor', 'Rossi', 'Chen', 'Haddad', 'García', 'Müller', 'Patel', 'Nielsen', 'Martin', 'Silva', 'Tanaka', 'Khan', 'Berg', 'Novak'];
const DOMAINS = ['example.com', 'example.org', 'example.net'];
const SOURCES = ['WEB', 'MOBILE_APP', 'API'];

export interface GeneratedUserRegistered {
  readonly eventId: string;
  readonly eventType: 'UserRegistered';
  readonly eventVersion: '1.0';
  readonly timestamp: string;
  readonly aggregateId: string;
  readonly aggregateType: 'User';
  readonly correlationId: string;
  readonly payload: {
    readonly userId: string;
    readonly email: string;
    readonly firstName: string;
    readonly lastName: string;
    readonly tosAcceptedAt: string;
    readonly marketingOptIn: boolean;
    readonly registrationSource: string;
  };
}

export interface GeneratorOptions {
  readonly clock?: () => Date;
  /** In [0, 1); Math.random by default. */
  readonly random?: () => number;
}

export function createUserRegisteredGenerator(options: GeneratorOptions = {}): () => GeneratedUserRegistered {
  const clock = options.clock ?? (() => new Date());
  const random = options.random ?? Math.random;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  return () => {
    const now = clock();
    const userId = uuidv7();
    const firstName = pick(FIRST_NAMES);
    const lastName = pick(LAST_NAMES);
    // The user id's random tail keeps e-mails unique however many are generated.
    const local = `${ascii(firstName)}.${ascii(lastName)}.${userId.slice(-12)}`;
    return {
      eventId: uuidv4(),
      eventType: 'UserRegistered',
      eventVersion: '1.0',
      timestamp: now.toISOString(),
      aggregateId: userId,
      aggregateType: 'User',
      correlationId: uuidv4(),
      payload: {
        userId,
        email: `${local}@${pick(DOMAINS)}`,
        firstName,
        lastName,
        tosAcceptedAt: new Date(now.getTime() - 1000 - Math.floor(random() * 60_000)).toISOString(),
        marketingOptIn: random() < 0.3,
        registrationSource: pick(SOURCES),
      },
    };
  };
}

function ascii(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
}
