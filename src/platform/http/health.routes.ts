/** Liveness, readiness and the ACME-compatible `/actuator/health`. */
import type { FastifyInstance } from 'fastify';

export type HealthCheck = () => Promise<boolean>;

export interface HealthOptions {
  /** Named dependency checks; readiness is UP only when every one answers true. */
  readonly checks: Readonly<Record<string, HealthCheck>>;
  /** False once shutdown has begun, so load balancers stop sending work before the listener closes. */
  readonly accepting: () => boolean;
}

export function healthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const evaluate = async () => {
    const entries = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => [name, await check().catch(() => false)] as const),
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
