/**
 * `customer-service register-corporate-customer`: one registration from the environment the Sveltos Job template
 * passes (SPEC §4 Job mode), then publication of whatever the outbox still holds for NATS, then exit.
 *
 * Exit codes: 0 registered or already registered, events published; 2 invalid input or configuration (reason on
 * stderr, nothing written: the Job must not retry); 1 transient failure (safe to rerun: the registration is idempotent
 * and a rerun publishes what this run did not).
 */
import { createHash } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Command } from 'commander';
import { v7 as uuidv7 } from 'uuid';
import { ConfigError, corporateJobInput, loadConfig, type CorporateJobInput, type NatsConfig } from '../config.js';
import { createLogger, type Logger } from '../platform/logger.js';
import { maskEmails } from '../platform/personal-data.js';
import type { Pool } from '../platform/postgres/database.js';
import { connectNats } from '../platform/nats/connection.js';
import { InvalidInputError, PLAUSIBLE_YEARS, isPlausibleYear, type FieldViolation, type Parsed } from '../platform/validation.js';
import { openDatabase } from '../platform/postgres/open-database.js';
import { ensureCorporateStreams, createCorporateRelays } from './corporate-nats.js';
import { parseCompanyData, type CorporateRegistration } from './customer-registered.schema.js';
import { companyIdFor, type CompanyFacts } from './domain/company.js';
import { CLOUDEVENT_SOURCE, CUSTOMER_REGISTERED_TYPE } from './domain/events.js';
import { logOutcome } from '../platform/outcome-log.js';
import { knapscenViolations } from './knapscen-mirror.js';
import { createRegisterCorporateCustomer } from './register-corporate-customer.js';
import { parseJsonOrThrow } from '../platform/json.js';
import { CLOUDEVENT_ID_MAX_LENGTH } from '../platform/cloudevents.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_INVALID = 2;

/**
 * What Sveltos puts in `EVENT_TIME`: its agent parses the event with the CloudEvents Go SDK (`time.Parse(RFC3339Nano)`),
 * stores it re-marshalled (`t.UTC().Format(RFC3339Nano)`: UTC, `Z`, 0 to 9 fraction digits with trailing zeros
 * trimmed), and the template reads that string. An event without `time` fails the template (`missingkey=error`), so
 * no Job starts; an older template renders `<no value>` or, through `quote`, an empty string. RFC 3339 with an offset
 * is accepted too (the seed README's own environment).
 */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** What a Go template renders for a missing map key without `missingkey=error`. */
const GO_NO_VALUE = '<no value>';

/** Go's zero `time.Time` as the CloudEvents SDK renders it: an event whose time was never set, so no time at all. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A value the Job can use as an id component: not blank, not a template artefact, printable and bounded. */
const EVENT_ID_MAX_LENGTH = 200;

function presentValue(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' || trimmed === GO_NO_VALUE || trimmed === GO_ZERO_TIME || trimmed === 'null' ? undefined : trimmed;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * `EVENT_ID` as the Job uses it. knapscen's ids are odd (one-second resolution, so not unique); an id that is missing or
 * unusable (control characters, unpaired surrogates, thousands of characters) must not fail a valid registration. A
 * usable id is kept as it is; an unusable one is replaced by its digest (still stable across reruns of the Job); a
 * missing one by a digest of what identifies the registration otherwise.
 */
export function jobEventId(raw: string | undefined, fallbackParts: readonly string[]): string {
  const value = presentValue(raw);
  if (value === undefined) return `no-event-id:${sha256(JSON.stringify(fallbackParts)).slice(0, 32)}`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
  const unusable = value.length > EVENT_ID_MAX_LENGTH || /[\u0000-\u001f\u007f]/.test(value) || LONE_SURROGATE.test(value);
  return unusable ? `sha256:${sha256(value)}` : value;
}

/**
 * The subject of a Job's registration: `CUSTOMER_ID` (the CloudEvent subject) when the template passes it. An older
 * template passes none; the subject is then a digest of the company data, so two companies sent with one id are
 * still two registrations while a rerun of the same Job is recognised.
 */
function jobSubject(customerId: string | undefined, company: CompanyFacts): string {
  const subject = presentValue(customerId);
  if (subject !== undefined) return subject;
  const canonical = JSON.stringify([company.name, company.subscriptionTier, company.users.map((user) => [user.name, user.email.toLowerCase(), user.role])]);
  return `company-data:${sha256(canonical)}`;
}

/**
 * The registration the Job's environment describes: `COMPANY_DATA` (the CloudEvent `data` as JSON, from the current
 * template) or `COMPANY_NAME` + `SUBSCRIPTION_TIER` + `USERS_JSON` (the seed README's), plus `EVENT_ID`, `EVENT_TIME`
 * and the optional `CUSTOMER_ID` (the CloudEvent subject). Violations name the variable at fault.
 */
export function parseJobInput(input: CorporateJobInput): Parsed<CorporateRegistration> {
  const violations: FieldViolation[] = [];
  const time = presentValue(input.EVENT_TIME);
  if (time !== undefined && (!RFC3339.test(time) || Number.isNaN(Date.parse(time.replace(' ', 'T'))))) {
    violations.push({ code: 'INVALID_TIMESTAMP', field: 'EVENT_TIME', message: 'must be an RFC 3339 timestamp' });
  } else if (time !== undefined && !isPlausibleYear(new Date(time.replace(' ', 'T')).getUTCFullYear())) {
    violations.push({ code: 'INVALID_TIMESTAMP', field: 'EVENT_TIME', message: `must lie in the UTC years ${PLAUSIBLE_YEARS.first} to ${PLAUSIBLE_YEARS.last}` });
  }
  // The CloudEvent identity attributes, with the same bounds as over NATS and HTTP. EVENT_ID is not among them: an
  // unusable one (over-long included) stands for its digest (`jobEventId`), so it never fails a valid registration.
  for (const name of ['EVENT_SOURCE', 'CUSTOMER_ID'] as const) {
    if ((input[name]?.length ?? 0) > CLOUDEVENT_ID_MAX_LENGTH) {
      violations.push({ code: 'FIELD_TOO_LONG', field: name, message: `must be at most ${CLOUDEVENT_ID_MAX_LENGTH} characters` });
    }
  }
  let company: Parsed<CorporateRegistration['company']> | undefined;
  if (input.COMPANY_DATA !== undefined) {
    const data = parseJson(input.COMPANY_DATA, 'COMPANY_DATA');
    company = data.ok ? parseCompanyData(data.value, 'COMPANY_DATA') : data;
  } else if (input.USERS_JSON === undefined) {
    violations.push({ code: 'MISSING_FIELD', field: 'COMPANY_DATA', message: 'COMPANY_DATA or USERS_JSON is required' });
  } else {
    const users = parseJson(input.USERS_JSON, 'USERS_JSON');
    company = users.ok
      ? renameFields(parseCompanyData({ name: input.COMPANY_NAME, subscription_tier: input.SUBSCRIPTION_TIER, users: users.value }, ''))
      : users;
  }
  if (company !== undefined && !company.ok) violations.push(...company.error.violations);
  const [first, ...rest] = violations;
  if (first !== undefined || company === undefined || !company.ok) {
    return { ok: false, error: new InvalidInputError([first ?? { code: 'INVALID_VALUE', field: '(env)', message: 'invalid input' }, ...rest]) };
  }
  const source = presentValue(input.EVENT_SOURCE) ?? CLOUDEVENT_SOURCE;
  const subject = jobSubject(input.CUSTOMER_ID, company.value);
  const eventId = jobEventId(input.EVENT_ID, [source, subject, time ?? '']);
  return {
    ok: true,
    value: {
      eventId,
      source,
      subject,
      ...(time === undefined ? {} : { time: new Date(time.replace(' ', 'T')).toISOString() }),
      companyId: companyIdFor(source, subject, eventId),
      company: company.value,
    },
  };
}

/** Runs the Job; returns its exit code. Writes one JSON line to stdout on success, the reason to stderr otherwise. */
export async function runRegisterCorporateCustomer(): Promise<number> {
  const config = loadConfig();
  const problems: string[] = [];
  if (config.database.kind !== 'external') problems.push('DB_HOST: register-corporate-customer needs DB_* or DATABASE_URL (got unset)');
  if (config.nats === undefined) problems.push('NATS_SERVER: register-corporate-customer needs NATS_SERVER or NATS_URL (got unset)');
  if (problems.length > 0 || config.nats === undefined) throw new ConfigError(problems);
  const nats: NatsConfig = config.nats;

  const logger = createLogger(config.log, process.stderr);
  const input = corporateJobInput();
  const parsed = parseJobInput(input);
  if (!parsed.ok) {
    // The outcome line every way in writes for invalid input (the use case writes it for the rest).
    const eventId = input.EVENT_ID !== undefined && input.EVENT_ID.length <= 100 ? { eventId: input.EVENT_ID } : {};
    logOutcome(logger, 'rejected', { transport: 'job', eventType: CUSTOMER_REGISTERED_TYPE, reason: parsed.error.code, ...eventId }, 'corporate registration rejected');
    return rejected(parsed.error, config.log.personalData);
  }

  const database = await openDatabase(config.database, logger, config.databaseTimeouts);
  try {
    const register = createRegisterCorporateCustomer({
      pool: database.pool,
      clock: () => new Date(),
      newId: () => uuidv7(),
      // The running service mirrors into knapscen's MySQL; a registration it could not hold is refused here too.
      ...(config.knapscenMirror === undefined ? {} : { extraChecks: (company: CompanyFacts) => knapscenViolations(company, 'COMPANY_DATA') }),
      publishEmails: config.corporate.publishEmails,
      logger,
    });
    const result = await register({ registration: parsed.value, source: { transport: 'job' } });
    if (result.outcome === 'rejected') return rejected(result.error, config.log.personalData);
    const customerId = result.company.customerId;

    // Committed. From here a failure is transient: the rerun finds the company (duplicate) and publishes.
    let published: number;
    try {
      published = await publishPending(nats, database.pool, logger);
    } catch (error) {
      process.stderr.write(
        `register-corporate-customer: ${result.outcome === 'created' ? 'registered' : 'already registered'} ${customerId}, ` +
          `but publishing to NATS failed (${error instanceof Error ? error.message : String(error)}); rerun to publish\n`,
      );
      return EXIT_FAILED;
    }
    process.stdout.write(`${JSON.stringify({ outcome: result.outcome, customerId, published })}\n`);
    return EXIT_OK;
  } finally {
    await database.close();
  }

  async function publishPending(config: NatsConfig, pool: Pool, log: Logger): Promise<number> {
    const nc = await connectNats(config, { reconnect: false, name: 'customer-service-job' });
    try {
      await ensureCorporateStreams(nc, config, { publishOnly: true });
      const relays = createCorporateRelays({ pool, js: jetstream(nc), config, logger: log });
      // Everything still unpublished, this company's and any earlier run's.
      return (await relays.customerSaved.drain()) + (await relays.userSaved.drain());
    } finally {
      await nc.close();
    }
  }
}

export function registerCorporateCustomerCommand(): Command {
  return new Command('register-corporate-customer')
    .description(
      'register one corporate customer from the Sveltos Job environment (COMPANY_DATA or COMPANY_NAME/SUBSCRIPTION_TIER/USERS_JSON, ' +
        'EVENT_ID, EVENT_TIME, CUSTOMER_ID, DB_*, NATS_*), publish customer-saved and user-saved, and exit: 0 done, 2 invalid, 1 retry',
    )
    .action(async () => {
      process.exitCode = await runRegisterCorporateCustomer();
    });
}

function rejected(error: InvalidInputError, personalData: boolean): number {
  // These lines are the Job's log (kubectl logs), written past the logger: no e-mail address in clear in them either,
  // should a message ever quote one, unless LOG_PERSONAL_DATA is set (issue 16).
  const safe = (text: string) => (personalData ? text : maskEmails(text));
  process.stderr.write(safe(`register-corporate-customer: rejected (${error.code}): ${error.message}\n`));
  process.stderr.write(safe(`${JSON.stringify({ outcome: 'rejected', code: error.code, errors: error.violations })}\n`));
  return EXIT_INVALID;
}

function parseJson(text: string, field: string): Parsed<unknown> {
  try {
    return { ok: true, value: parseJsonOrThrow(text) };
  } catch (error) {
    return { ok: false, error: InvalidInputError.of('MALFORMED_JSON', field, `is not JSON: ${error instanceof Error ? error.message : String(error)}`) };
  }
}

/** Violations of the seed-README variables, named after the variables. */
function renameFields<T>(parsed: Parsed<T>): Parsed<T> {
  if (parsed.ok) return parsed;
  const rename = (field: string) =>
    field === 'name' ? 'COMPANY_NAME' : field === 'subscription_tier' ? 'SUBSCRIPTION_TIER' : field.replace(/^users/, 'USERS_JSON');
  const [first, ...rest] = parsed.error.violations.map((violation) => ({ ...violation, field: rename(violation.field) }));
  return { ok: false, error: new InvalidInputError([first ?? { code: 'INVALID_VALUE', field: '(env)', message: 'invalid' }, ...rest]) };
}
