/**
 * `dead-letters list` and `show` keep personal data out of the operator's terminal unless asked (issue 16): names and
 * e-mail addresses in payloads (at any depth), headers and error messages are masked, binary payloads withheld;
 * `--show-personal-data` shows them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { park } from '../../src/platform/postgres/dead-letters.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
const ids: Record<'json' | 'text' | 'binary', string> = { json: '', text: '', binary: '' };
const EMAIL = 'jane.dead-letter@example.com';

beforeAll(async () => {
  db = await createTestDatabase();
  const nested = { data: { company: { users: [{ name: 'Jane Letter', email: EMAIL, role: 'admin_user', extra: { deeper: { email: EMAIL } } }] } } };
  const [json, text, binary] = await park(db.pool, [
    {
      transport: 'nats',
      source: 'customer-registered',
      offset: '1',
      messageId: 'evt-1',
      payload: Buffer.from(JSON.stringify(nested)),
      headers: { 'x-reply-to': EMAIL },
      reasonCode: 'EMAIL_TAKEN',
      errorMessage: `data.users.0.email: ${EMAIL} is already used`,
    },
    { transport: 'kafka', source: 'identity.user.events', partition: 0, offset: '2', messageId: null, payload: Buffer.from(`not json, mail ${EMAIL}`), reasonCode: 'MALFORMED_JSON', errorMessage: 'bad' },
    { transport: 'kafka', source: 'identity.user.events', partition: 0, offset: '3', messageId: null, payload: Buffer.from([0, 1, 2, 0xff, 0xfe, ...Buffer.from(EMAIL)]), reasonCode: 'MALFORMED_JSON', errorMessage: 'bad' },
  ]);
  Object.assign(ids, { json, text, binary });
});
afterAll(() => db?.drop());

const cli = (args: string[]) => runCli(['dead-letters', ...args], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });

describe('dead letters and personal data', () => {
  it('list masks e-mail addresses in error messages, in both formats', async () => {
    for (const format of [[], ['--json']]) {
      const listed = await cli(['list', ...format]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain('EMAIL_TAKEN');
      expect(listed.stdout).not.toContain(EMAIL);
    }
  });

  it('show masks names and e-mails at any depth, in headers, and in text payloads; withholds binary payloads', async () => {
    const json = await cli(['show', ids.json]);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toContain(EMAIL);
    expect(json.stdout).not.toContain('Jane Letter');
    const shown = JSON.parse(json.stdout) as { payload: string; headers: Record<string, string> };
    expect(JSON.parse(shown.payload)).toMatchObject({ data: { company: { users: [{ name: '[redacted]', email: '[redacted]', role: 'admin_user' }] } } });
    expect(shown.headers['x-reply-to']).toBe('[redacted]');
    expect((await cli(['show', ids.text])).stdout).not.toContain(EMAIL);
    const binary = JSON.parse((await cli(['show', ids.binary])).stdout) as { payloadBase64: string | null; payloadBytes: number };
    expect(binary.payloadBase64).toBeNull();
    expect(binary.payloadBytes).toBe(5 + EMAIL.length);
  });

  it('--show-personal-data shows everything as stored', async () => {
    const shown = JSON.parse((await cli(['show', ids.json, '--show-personal-data'])).stdout) as { payload: string; error: string };
    expect(shown.payload).toContain(EMAIL);
    expect(shown.payload).toContain('Jane Letter');
    expect(shown.error).toContain(EMAIL);
    const binary = JSON.parse((await cli(['show', ids.binary, '--show-personal-data'])).stdout) as { payloadBase64: string };
    expect(Buffer.from(binary.payloadBase64, 'base64').toString('latin1')).toContain(EMAIL);
    expect((await cli(['list', '--show-personal-data'])).stdout).toContain(EMAIL);
  });
});
