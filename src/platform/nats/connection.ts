/** A NATS connection from `NatsConfig`: servers, user/password or token, TLS. No business rules. */
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import type { NatsConfig } from '../../config.js';

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

export function natsConnectionOptions(config: NatsConfig, options: ConnectOptions): NodeConnectionOptions {
  return {
    servers: [...config.servers],
    name: options.name ?? 'customer-service',
    timeout: options.timeoutMs ?? 5_000,
    ...(config.user === undefined ? {} : { user: config.user, pass: config.password ?? '' }),
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.tls === undefined ? {} : { tls: { ...config.tls } }),
    ...(options.reconnect ? { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1_000 } : { reconnect: false }),
  };
}

export function connectNats(config: NatsConfig, options: ConnectOptions): Promise<NatsConnection> {
  return connect(natsConnectionOptions(config, options));
}
