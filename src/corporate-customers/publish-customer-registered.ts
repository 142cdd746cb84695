/**
 * `customer-service publish customer-registered`: sends `disco.knapscen.customer.registered` CloudEvents, generated
 * (like knapscen's `publish-customer-registered.sh` and `publish-batch-customers.sh`) or from a file, to NATS
 * JetStream (subject `customer-registered`) or to `POST /api/v1/events`. The replacement for those scripts.
 */
import { readFile } from 'node:fs/promises';
import { jetstream } from '@nats-io/jetstream';
import { Command, InvalidArgumentError } from 'commander';
import { v4 as uuidv4 } from 'uuid';
import { ConfigError, loadConfig } from '../config.js';
import { authorization } from '../platform/http/publish-authorization.js';
import { connectNats } from '../platform/nats/connection.js';
import { ensureCorporateStreams } from './corporate-nats.js';
import { SUBSCRIPTION_TIERS, type UserRole } from './domain/company.js';
import { CLOUDEVENT_SOURCE, CUSTOMER_REGISTERED_TYPE } from './domain/events.js';
import { createProgress, type Progress } from '../platform/progress.js';
import { eventsEndpoint } from '../platform/http/service-url.js';

const ADJECTIVES = ['Advanced', 'Global', 'Smart', 'Dynamic', 'Innovative', 'Digital', 'Future', 'Next', 'Prime', 'Elite', 'Quantum', 'Cyber', 'Agile', 'Modern', 'Groovy', 'Cosmic'];
const KINDS = ['Solutions', 'Technologies', 'Systems', 'Enterprises', 'Labs', 'Ventures', 'Dynamics', 'Innovations', 'Cloud', 'Data', 'Software', 'Partners', 'Group', 'Corp'];
const FIRST_NAMES = ['Alex', 'Jordan', 'Taylor', 'Casey', 'Morgan', 'Riley', 'Avery', 'Quinn', 'Blake', 'Cameron', 'Drew', 'Emery', 'Finley', 'Hayden', 'Jamie', 'Logan', 'Parker', 'Reese', 'Sage', 'Skyler'];
const LAST_NAMES = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Martinez', 'Lopez', 'Wilson', 'Anderson', 'Thomas', 'Moore', 'Jackson', 'Lee', 'Harris', 'Clark', 'Lewis', 'Robinson'];

export interface GeneratedCustomerRegistered {
  readonly specversion: '1.0';
  readonly type: typeof CUSTOMER_REGISTERED_TYPE;
  readonly source: typeof CLOUDEVENT_SOURCE;
  readonly subject: string;
  readonly id: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: {
    readonly name: string;
    readonly subscription_tier: (typeof SUBSCRIPTION_TIERS)[number];
    readonly users: readonly { readonly name: string; readonly email: string; readonly role: UserRole }[];
  };
}

/**
 * A realistic registration: "<Adjective> <Kind>", a random tier, an account owner, an admin and zero to two generic
 * users. E-mails carry a short random tag so generated companies never collide with each other's users.
 */
export function generateCustomerRegistered(now: Date = new Date(), random: () => number = Math.random): GeneratedCustomerRegistered {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;
  const name = `${pick(ADJECTIVES)} ${pick(KINDS)}`;
  const tag = Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0');
  const domain = `${name.toLowerCase().replace(/[^a-z0-9]/g, '')}-${tag}.com`;
  const roles: UserRole[] = ['customer_account_owner', 'admin_user', ...Array.from({ length: Math.floor(random() * 3) }, () => 'generic_user' as const)];
  const users = roles.map((role, index) => {
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    return { name: `${first} ${last}`, email: `${first}.${last}.${index + 1}@${domain}`.toLowerCase(), role };
  });
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return {
    specversion: '1.0',
    type: CUSTOMER_REGISTERED_TYPE,
    source: CLOUDEVENT_SOURCE,
    subject: uuidv4(),
    id: `evt-customer-${stamp}-${tag}`,
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    datacontenttype: 'application/json',
    data: { name, subscription_tier: pick(SUBSCRIPTION_TIERS), users },
  };
}

interface PublishOptions {
  readonly count: number;
  readonly file?: string;
  readonly to: 'nats' | 'http';
  readonly url?: string;
  readonly subject?: string;
  /** Core NATS publish (no stream, no ack), as knapscen's `nats pub` did: for Sveltos in core NATS mode. */
  readonly core?: boolean;
}

/** The events to send: the file's (one event or an array, sent as they are) or `count` generated ones. */
async function eventsToSend(options: PublishOptions): Promise<{ readonly source: string; readonly id: string; readonly subject: string; readonly body: string }[]> {
  if (options.file !== undefined) {
    const text = await readFile(options.file, 'utf8');
    const parsed = JSON.parse(text) as unknown;
    const events = Array.isArray(parsed) ? parsed : [parsed];
    return events.map((event: { source?: unknown; id?: unknown; subject?: unknown }, index) => ({
      source: typeof event.source === 'string' ? event.source : '',
      id: typeof event.id === 'string' ? event.id : `file-event-${index}`,
      subject: typeof event.subject === 'string' ? event.subject : '',
      // A single event is sent byte for byte as the file has it.
      body: Array.isArray(parsed) ? JSON.stringify(event) : text,
    }));
  }
  return Array.from({ length: options.count }, () => {
    const event = generateCustomerRegistered();
    return { source: event.source, id: event.id, subject: event.subject, body: JSON.stringify(event) };
  });
}

export async function publishCustomerRegistered(options: PublishOptions, out: (line: string) => void): Promise<number> {
  const events = await eventsToSend(options);
  const progress = createProgress({ label: 'publish customer-registered', unit: 'events', total: events.length });
  try {
    return await send(options, events, out, progress);
  } finally {
    progress.finish();
  }
}

async function send(
  options: PublishOptions,
  events: readonly { readonly source: string; readonly id: string; readonly subject: string; readonly body: string }[],
  out: (line: string) => void,
  progress: Progress,
): Promise<number> {
  if (options.to === 'http') {
    const config = loadConfig();
    const base = options.url ?? `http://127.0.0.1:${config.http.port}`;
    for (const event of events) {
      const response = await fetch(eventsEndpoint(base), {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json', ...authorization(config) },
        body: event.body,
      });
      const answer = await response.text();
      out(`${response.status} ${event.id} ${event.subject} ${answer}`);
      progress.add();
      if (response.status >= 500) throw new Error(`the service answered ${response.status}`);
    }
    return events.length;
  }
  const config = loadConfig();
  if (config.nats === undefined) throw new ConfigError(['NATS_URL: publish --to nats needs NATS_URL or NATS_SERVER (got unset)']);
  const nc = await connectNats(config.nats, { reconnect: false, name: 'customer-service-publish' });
  try {
    const subject = options.subject ?? config.nats.subjects.customerRegistered;
    const encoder = new TextEncoder();
    if (options.core === true) {
      for (const event of events) {
        nc.publish(subject, encoder.encode(event.body));
        out(`published ${event.id} ${event.subject} (core NATS)`);
        progress.add();
      }
      await nc.flush();
      return events.length;
    }
    await ensureCorporateStreams(nc, config.nats);
    const js = jetstream(nc);
    for (const event of events) {
      // Structured mode, as knapscen and Sveltos expect: the whole event is the body, no ce-* headers.
      // Nats-Msg-Id follows the input's identity (source, id, subject): knapscen's ids repeat within a second, and an id
      // alone would make JetStream drop the second company of that second as a duplicate.
      const ack = await js.publish(subject, encoder.encode(event.body), { msgID: JSON.stringify([event.source, event.id, event.subject]) });
      out(`published ${event.id} ${event.subject} seq=${ack.seq}${ack.duplicate ? ' (duplicate)' : ''}`);
      progress.add();
    }
  } finally {
    await nc.close();
  }
  return events.length;
}

/** `publish customer-registered`; the lead mounts it under the `publish` command beside the Kafka helper's. */
export function publishCustomerRegisteredCommand(): Command {
  return new Command('customer-registered')
    .description('publish disco.knapscen.customer.registered CloudEvents (generated, or from --file) to NATS JetStream or HTTP')
    .option('--count <n>', 'how many generated companies', (value) => {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('expected a positive integer');
      return count;
    }, 1)
    .option('--file <path>', 'a CloudEvent (or a JSON array of them) to send instead of generated ones')
    .option('--to <transport>', 'nats or http', (value) => {
      if (value !== 'nats' && value !== 'http') throw new InvalidArgumentError('expected nats or http');
      return value;
    }, 'nats')
    .option('--url <url>', 'base URL of the service for --to http (default http://127.0.0.1:$PORT)')
    .option('--subject <subject>', 'NATS subject (default NATS_CUSTOMER_REGISTERED_SUBJECT, customer-registered)')
    .option('--core', 'publish with core NATS instead of JetStream (no stream needed, no ack), like `nats pub`')
    .action(async (options: PublishOptions) => {
      const sent = await publishCustomerRegistered(options, (line) => process.stdout.write(`${line}\n`));
      process.stderr.write(`sent ${sent} customer-registered event(s) to ${options.to}\n`);
    });
}
