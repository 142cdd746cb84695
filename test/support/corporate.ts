/** Corporate-flow test helpers: the knapscen fixture, NATS config for a test server, and reading a stream back. */
import { readFileSync } from 'node:fs';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { loadConfig, type NatsConfig } from '../../src/config.js';
import { parseCustomerRegistered, type CorporateRegistration } from '../../src/corporate-customers/customer-registered.schema.js';
import { createRegisterCorporateCustomer, type RegisterCorporateCustomer } from '../../src/corporate-customers/register-corporate-customer.js';
import { parseStructured } from '../../src/platform/cloudevents.js';
import type { Pool } from '../../src/platform/postgres/database.js';

const fixtureText = readFileSync(new URL('../fixtures/customer-registered.cloudevent.json', import.meta.url), 'utf8');

/** The knapscen fixture, byte for byte. */
export const customerRegisteredFixtureText = fixtureText;

export interface CustomerRegisteredEvent {
  specversion: string;
  type: string;
  source: string;
  subject?: string;
  id: string;
  time?: string;
  datacontenttype?: string;
  data: { name: unknown; subscription_tier: unknown; users: { name: unknown; email: unknown; role: unknown }[] } & Record<string, unknown>;
}

export function fixtureEvent(): CustomerRegisteredEvent {
  return JSON.parse(fixtureText) as CustomerRegisteredEvent;
}

let counter = 0;

/** A valid registration unlike any other: new subject, id and e-mails. */
export function uniqueEvent(overrides: { users?: number } = {}): CustomerRegisteredEvent {
  counter += 1;
  const tag = `${counter}-${uuidv4().slice(0, 8)}`;
  const event = fixtureEvent();
  event.subject = uuidv4();
  event.id = `evt-customer-${tag}`;
  const roles = ['customer_account_owner', 'admin_user', 'generic_user'];
  event.data.users = Array.from({ length: overrides.users ?? 3 }, (_, index) => ({
    name: `User ${index} of ${tag}`,
    email: `user${index}.${tag}@example.com`,
    role: roles[index % 3],
  }));
  return event;
}

export function registration(event: unknown): CorporateRegistration {
  const cloudEvent = parseStructured(event);
  if (!cloudEvent.ok) throw cloudEvent.error;
  const parsed = parseCustomerRegistered(cloudEvent.value);
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}

export function registerCorporateOn(pool: Pool, options: { onCommitted?: () => void } = {}): RegisterCorporateCustomer {
  return createRegisterCorporateCustomer({
    pool,
    clock: () => new Date('2025-10-04T12:00:01Z'),
    newId: () => uuidv7(),
    ...(options.onCommitted === undefined ? {} : { onCommitted: options.onCommitted }),
  });
}

export function natsConfigFor(url: string, env: Record<string, string> = {}): NatsConfig {
  const config = loadConfig({ NATS_URL: url, DATABASE_URL: 'postgres://unused@127.0.0.1/unused', ...env }).nats;
  if (config === undefined) throw new Error('no NATS config');
  return config;
}

export const CORPORATE_TABLES = ['companies', 'company_users', 'event_store', 'inbox', 'outbox', 'dead_letters'] as const;

export async function tableCounts(pool: Pool): Promise<Record<(typeof CORPORATE_TABLES)[number], number>> {
  const { rows } = await pool.query<Record<string, string>>(
    `SELECT ${CORPORATE_TABLES.map((table) => `(SELECT count(*) FROM ${table}) AS ${table}`).join(', ')}`,
  );
  return Object.fromEntries(CORPORATE_TABLES.map((table) => [table, Number(rows[0]?.[table])])) as Record<(typeof CORPORATE_TABLES)[number], number>;
}

export interface StoredEvent {
  readonly subject: string;
  readonly seq: number;
  readonly headers: Record<string, string>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** Every message stored on `subject`, in stream order. */
export async function messagesOn(nc: NatsConnection, subject: string): Promise<StoredEvent[]> {
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const stream = await jsm.streams.find(subject);
  const info = await jsm.streams.info(stream);
  const result: StoredEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
    const message = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (message === null || message.subject !== subject) continue;
    const headers: Record<string, string> = {};
    for (const name of message.header?.keys() ?? []) headers[name] = message.header.get(name);
    const text = new TextDecoder().decode(message.data);
    result.push({ subject: message.subject, seq: message.seq, headers, text, json: JSON.parse(text) as Record<string, unknown> });
  }
  return result;
}
