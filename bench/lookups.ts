/**
 * HTTP lookups from the read model: `clients` concurrent keep-alive connections, each sending its next request as soon
 * as the previous answer is read, for `seconds`, by customer id or by e-mail, over keys of customers the run has
 * registered. Every answer must be 200 with the customer asked for (a wrong or missing one counts as an error).
 *
 * A small client loop on `node:http` (one agent, one socket per client), not a load-testing tool: what is measured is
 * requests answered per second and the latency of each, which this loop gives without a dependency.
 */
import http from 'node:http';
import type { Distribution } from './measure.js';
import { distribution } from './measure.js';

export interface LookupFigures {
  readonly by: 'id' | 'email';
  readonly clients: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly errors: number;
  readonly latency: Distribution;
}

export interface LookupKey {
  readonly customerId: string;
  readonly email: string;
}

export async function runLookups(
  baseUrl: string,
  keys: readonly LookupKey[],
  options: { by: 'id' | 'email'; clients: number; seconds: number },
): Promise<LookupFigures> {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const path = (key: LookupKey) =>
    options.by === 'id' ? `/api/v1/customers/${key.customerId}` : `/api/v1/customers/by-email/${encodeURIComponent(key.email)}`;

  const once = (key: LookupKey) =>
    new Promise<boolean>((resolve) => {
      const request = http.request(
        { host: url.hostname, port: url.port, path: path(key), method: 'GET', agent, headers: { accept: 'application/json' } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            if (response.statusCode !== 200) return resolve(false);
            // The customer asked for, not just any 200.
            const body = Buffer.concat(chunks).toString();
            resolve(body.includes(key.customerId));
          });
          response.on('error', () => resolve(false));
        },
      );
      request.on('error', () => resolve(false));
      request.end();
    });

  const started = performance.now();
  const until = started + options.seconds * 1000;
  const client = async () => {
    while (performance.now() < until) {
      const key = keys[next % keys.length] as LookupKey;
      next += 1;
      const at = performance.now();
      const ok = await once(key);
      latencies.push(performance.now() - at);
      if (!ok) errors += 1;
    }
  };
  await Promise.all(Array.from({ length: options.clients }, client));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    by: options.by,
    clients: options.clients,
    seconds,
    requests: latencies.length,
    requestsPerSecond: latencies.length / seconds,
    errors,
    latency: distribution(latencies),
  };
}
