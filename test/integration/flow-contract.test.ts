/**
 * The Flow contract's promise (issue 12): a flow is one object, and the service runs whatever `start` returns without
 * naming it. A third flow, defined here and nowhere in `src/`, is started beside the two real ones by the real
 * service: its event type on `POST /api/v1/events`, its route (with the scope it declares), its OpenAPI tag, its
 * readiness check, its background component, its outbox destination in the metrics, its background start after the
 * listener is up, and its stop on shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { flows } from '../../src/flows.js';
import type { Flow } from '../../src/platform/flow.js';
import { startService, type RunningService } from '../../src/service.js';
import { userRegistered } from '../support/events.js';
import { freePort } from '../support/global-setup.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testLogger } from '../support/run-logs.js';

const events: string[] = [];
let storeUp = true;
const earned = new Map<string, number>();

/** A made-up flow: loyalty points earned, looked up by member. */
const loyaltyPoints: Flow<Config> = {
  name: 'loyalty-points',
  outbox: [{ destination: 'points-events', spanName: 'publish_points_event' }],
  reasonCodes: [],
  start: ({ teardown }) => {
    events.push('start');
    teardown.defer(() => {
      events.push('stop');
    });
    return Promise.resolve({
      http: {
        intake: {
          envelopes: {
            PointsEarned: (body) => {
              const { memberId, points } = body as { memberId: string; points: number };
              earned.set(memberId, (earned.get(memberId) ?? 0) + points);
              return Promise.resolve({ outcome: 'created' as const, body: { memberId } });
            },
          },
        },
        routes: (api) => {
          api.get<{ Params: { memberId: string } }>(
            '/api/v1/points/:memberId',
            { config: { scope: 'customers:read' }, schema: { tags: ['loyalty points'], summary: 'Points of a member' } },
            (request) => ({ memberId: request.params.memberId, points: earned.get(request.params.memberId) ?? 0 }),
          );
        },
        tags: [{ name: 'loyalty points', description: 'Points earned by members' }],
      },
      readiness: { points_store: () => Promise.resolve(storeUp) },
      components: { points_broker: () => Promise.resolve({ status: 'UP' as const }) },
      startBackground: () => {
        events.push('background');
      },
    });
  },
};

let db: TestDatabase;
let service: RunningService;

beforeAll(async () => {
  db = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: String(await freePort()), AUTH_MODE: 'none', LOG_LEVEL: 'warn' });
  service = await startService(config, testLogger(), [...flows, loyaltyPoints]);
});
afterAll(async () => {
  await db?.drop();
});

const post = (body: unknown) =>
  fetch(`${service.url}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('a flow the service has never heard of', () => {
  it('is started before the listener, and its background work once the listener is up', () => {
    expect(events).toEqual(['start', 'background']);
  });

  it('takes its event type on POST /api/v1/events, beside the other flows’ types, and serves its route', async () => {
    const response = await post({ eventType: 'PointsEarned', memberId: 'm-1', points: 40 });
    expect([response.status, await response.json()]).toEqual([201, { memberId: 'm-1', outcome: 'created' }]);
    expect((await post(userRegistered())).status).toBe(201);
    const points = await fetch(`${service.url}/api/v1/points/m-1`);
    expect([points.status, await points.json()]).toEqual([200, { memberId: 'm-1', points: 40 }]);
    const unknown = await post({ eventType: 'PointsSpent', memberId: 'm-1' });
    expect(unknown.status).toBe(415);
  });

  it('is documented in /openapi.json under its own tag, with its route’s scope', async () => {
    const document = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
      tags: { name: string }[];
      paths: Record<string, { get?: { tags?: string[]; security?: unknown } }>;
    };
    expect(document.tags.map((tag) => tag.name)).toContain('loyalty points');
    expect(document.paths['/api/v1/points/{memberId}']?.get?.tags).toEqual(['loyalty points']);
  });

  it('adds its readiness check and its background component to /health, and its outbox destination to the metrics', async () => {
    const health = (await (await fetch(`${service.url}/health`)).json()) as { components: Record<string, { status: string; affectsReadiness: boolean }> };
    expect(health.components.points_store).toMatchObject({ status: 'UP', affectsReadiness: true });
    expect(health.components.points_broker).toMatchObject({ status: 'UP', affectsReadiness: false });
    storeUp = false;
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(503);
    storeUp = true;
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/outbox_backlog_messages\{destination="points-events"\} 0/);
  });

  it('is stopped on shutdown, with everything else', async () => {
    await service.stop();
    expect(events).toEqual(['start', 'background', 'stop']);
  });
});
