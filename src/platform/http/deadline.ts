/**
 * A deadline on every route handler: a request whose dependencies hang (a database that stopped answering, a lock
 * that is not released) is answered 503 with Retry-After when the deadline passes, instead of holding the caller for
 * as long as the hang lasts. The work itself goes on and its result is dropped: a registration it commits is found as
 * a duplicate when the caller retries, as with any 503.
 */
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import { HttpProblem } from './problem.js';

export function installRequestDeadline(app: FastifyInstance, timeoutMs: number): void {
  app.addHook('onRoute', (route) => {
    const handler = route.handler as (this: FastifyInstance, ...args: Parameters<RouteHandlerMethod>) => unknown;
    route.handler = function withDeadline(this: FastifyInstance, request, reply) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new HttpProblem({
                status: 503,
                code: 'SERVICE_UNAVAILABLE',
                detail: `no answer within ${timeoutMs} ms: a dependency is slow or unavailable; retry later`,
              }),
            ),
          timeoutMs,
        );
      });
      const work = Promise.resolve(handler.call(this, request, reply));
      // The loser of the race must not become an unhandled rejection.
      work.catch(() => undefined);
      return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
    };
  });
}
