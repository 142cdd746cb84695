/**
 * Liveness, readiness, the ACME-compatible `/actuator/health` and the detailed `/health` document.
 *
 * Readiness answers one question for a load balancer: can this instance serve the HTTP API? So it depends only on
 * what the API needs (PostgreSQL, the read-model store). Brokers and mirrors feed the service in the background: when
 * one is down its consumer pauses and catches up later, while reads and HTTP ingestion go on. Taking every replica
 * out of rotation because Kafka is down would turn a broker outage into a read outage; so they appear in `/health`
 * (and as the `dependency_up` metric), never in readiness.
 */
import type { FastifyInstance } from 'fastify';

/**
 * One dependency's check: true when it is usable. Each flow registers its own (PostgreSQL, the read model…) under a
 * name that shows in the answer's `components`. A check that throws or takes longer than `CHECK_TIMEOUT_MS` counts as
 * DOWN, so one hung dependency cannot hang the probe.
 */
export type HealthCheck = () => Promise<boolean>;

/** What a background component (broker, mirror) reports about itself: `CONNECTING` until its first connection. */
export interface ComponentStatus {
  readonly status: 'UP' | 'DOWN' | 'CONNECTING';
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A background component's status; like a check, a throw or a timeout reads as DOWN. */
export type ComponentProbe = () => Promise<ComponentStatus>;

export const CHECK_TIMEOUT_MS = 2_000;

export interface HealthOptions {
  /** What the HTTP API needs; readiness is UP only when every one answers true. */
  readonly checks: Readonly<Record<string, HealthCheck>>;
  /** Brokers, mirrors: reported by `/health` and the `dependency_up` metric, never part of readiness. */
  readonly components?: Readonly<Record<string, ComponentProbe>>;
  /** False once shutdown has begun, so load balancers stop sending work before the listener closes. */
  readonly accepting: () => boolean;
}

/** Every dependency's state, required or not (for the `dependency_up` gauge). */
export async function dependencyStates(options: Pick<HealthOptions, 'checks' | 'components'>): Promise<Record<string, boolean>> {
  const [required, background] = await Promise.all([evaluateChecks(options.checks), evaluateComponents(options.components ?? {})]);
  return {
    ...Object.fromEntries(Object.entries(required).map(([name, up]) => [name, up])),
    ...Object.fromEntries(Object.entries(background).map(([name, component]) => [name, component.status === 'UP'])),
  };
}

export function healthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const readiness = async () => {
    const required = await evaluateChecks(options.checks);
    const components = Object.fromEntries(Object.entries(required).map(([name, up]) => [name, { status: up ? 'UP' : 'DOWN' }]));
    const up = options.accepting() && Object.values(required).every((isUp) => isUp);
    return { up, body: { status: up ? 'UP' : options.accepting() ? 'DOWN' : 'OUT_OF_SERVICE', components } };
  };
  const schema = (summary: string) => ({ schema: { tags: ['operations'], summary } });

  app.get('/health/live', schema('Liveness: the process answers'), (_request, reply) => reply.send({ status: 'UP' }));
  const ready = async (_request: unknown, reply: { status: (code: number) => unknown }) => {
    const { up, body } = await readiness();
    reply.status(up ? 200 : 503);
    return body;
  };
  app.get('/health/ready', schema('Readiness: PostgreSQL and the read-model store answer (brokers are not part of it)'), ready);
  app.get('/actuator/health', schema('Readiness, in the ACME customer service format'), ready);
  app.get(
    '/health',
    schema('Detailed health: readiness plus the brokers and mirrors, which do not affect it'),
    async (_request, reply) => {
      const [{ up, body }, background] = await Promise.all([readiness(), evaluateComponents(options.components ?? {})]);
      const components: Record<string, unknown> = {};
      for (const [name, component] of Object.entries(body.components)) components[name] = { ...component, affectsReadiness: true };
      for (const [name, component] of Object.entries(background)) components[name] = { ...component, affectsReadiness: false };
      void reply.status(up ? 200 : 503);
      return { status: body.status, components };
    },
  );
}

async function evaluateChecks(checks: Readonly<Record<string, HealthCheck>>): Promise<Record<string, boolean>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => [name, await withTimeout(check().then((up) => up === true), false)] as const),
  );
  return Object.fromEntries(entries);
}

async function evaluateComponents(probes: Readonly<Record<string, ComponentProbe>>): Promise<Record<string, ComponentStatus>> {
  const down: ComponentStatus = { status: 'DOWN', details: { error: `no answer within ${CHECK_TIMEOUT_MS} ms` } };
  const failed = (error: unknown): ComponentStatus => ({ status: 'DOWN', details: { error: error instanceof Error ? error.message : String(error) } });
  const entries = await Promise.all(
    Object.entries(probes).map(async ([name, probe]) => [name, await withTimeout(probe().catch(failed), down)] as const),
  );
  return Object.fromEntries(entries);
}

async function withTimeout<T>(work: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
