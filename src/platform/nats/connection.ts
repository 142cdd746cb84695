/** A NATS connection from `NatsConnectionOptions`: servers, user/password or token, TLS. No business rules. */
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';

/** Where and how to connect: servers, user/password or token, TLS. */
export interface NatsConnectionOptions {
  readonly servers: readonly string[];
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** Present when TLS is wanted (NATS_TLS, a tls:// URL, or any NATS_TLS_* file). */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

export type { NatsConnection };

export interface ConnectOptions {
  /**
   * A service keeps reconnecting for as long as it runs; a one-shot Job fails fast instead, so that its exit code
   * says "retry me" while the broker is down.
   */
  readonly reconnect: boolean;
  readonly name?: string;
  /** How long the first connect may take. */
  readonly timeoutMs?: number;
}

export function natsConnectionOptions(config: NatsConnectionOptions, options: ConnectOptions): NodeConnectionOptions {
  return {
    servers: [...config.servers],
    name: options.name ?? 'customer-service',
    timeout: options.timeoutMs ?? 5_000,
    // Otherwise every request (each JetStream publish and acknowledgement) builds two Error objects up front to keep
    // the caller's stack for a failure: ~8 % of the service's CPU at full corporate speed (issue 17). Errors keep
    // their class and message.
    noAsyncTraces: true,
    ...(config.user === undefined ? {} : { user: config.user, pass: config.password ?? '' }),
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.tls === undefined ? {} : { tls: { ...config.tls } }),
    ...(options.reconnect ? { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1_000 } : { reconnect: false }),
  };
}

export function connectNats(config: NatsConnectionOptions, options: ConnectOptions): Promise<NatsConnection> {
  return connect(natsConnectionOptions(config, options));
}
