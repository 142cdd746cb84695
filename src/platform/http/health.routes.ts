/** Liveness, readiness and the ACME-compatible `/actuator/health`. */
import type { FastifyInstance } from 'fastify';

/**
 * One dependency's check: true when it is usable. Each flow registers its own (PostgreSQL, Kafka, NATS, the read
 * model…) under a name that shows in the answer's `components`. A check that throws or takes longer than
 * `CHECK_TIMEOUT_MS` counts as DOWN, so one hung dependency cannot hang the probe.
 */
export type HealthCheck = () => Promise<boolean>;

export const CHECK_TIMEOUT_MS = 2_000;

export interface HealthOptions {
  /** Named dependency checks; readiness is UP only when every one answers true. */
  readonly checks: Readonly<Record<string, HealthCheck>>;
  /** False once shutdown has begun, so load balancers stop sending work before the listener closes. */
  readonly accepting: () => boolean;
}

export function healthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const evaluate = async () => {
    const entries = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => [name, await withTimeout(check)] as const),
    );
    const components = Object.fromEntries(entries.map(([name, up]) => [name, { status: up ? 'UP' : 'DOWN' }]));
    const up = options.accepting() && entries.every(([, isUp]) => isUp);
    return { up, body: { status: up ? 'UP' : options.accepting() ? 'DOWN' : 'OUT_OF_SERVICE', components } };
  };

  app.get('/health/live', (_request, reply) => reply.send({ status: 'UP' }));
  const ready = async (_request: unknown, reply: { status: (code: number) => unknown }) => {
    const { up, body } = await evaluate();
    reply.status(up ? 200 : 503);
    return body;
  };
  app.get('/health/ready', ready);
  app.get('/actuator/health', ready);
}

async function withTimeout(check: HealthCheck): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().then((up) => up === true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
