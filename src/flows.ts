/**
 * The flows this service runs: the only list of them. The CLI, `dead-letters replay`, the console and the metrics read
 * what each declares (`platform/flow.ts`) instead of naming them; adding a flow is its folder and a line here.
 */
import type { Config } from './config.js';
import { corporateCustomers } from './corporate-customers/flow.js';
import { individualCustomers } from './individual-customers/flow.js';
import type { ReplayRoute } from './platform/dead-letter-replay.js';
import { outboxReplayHandler, replayRoutes } from './platform/dead-letter-replay.js';
import type { Flow, FlowReplayServices } from './platform/flow.js';
import type { SchemaAdoption } from './platform/postgres/schema-adoption.js';

export const flows: readonly Flow<Config>[] = [individualCustomers, corporateCustomers];

/** The databases of replaced services the flows adopt in place (the ACME customer service's); `openDatabase` takes them. */
export const schemaAdoptions: readonly SchemaAdoption[] = flows.flatMap((flow) => (flow.adoption === undefined ? [] : [flow.adoption]));

/** Every outbox destination a flow declares (metrics sample each one, 0 when empty). */
export const outboxDestinations: readonly string[] = flows.flatMap((flow) => flow.outbox.map((declared) => declared.destination));

/** The replay routes of every flow, and the platform's own for outbox messages the broker refused. */
export function replayHandlersOf(services: FlowReplayServices<Config>): readonly ReplayRoute[] {
  return replayRoutes([...flows.flatMap((flow) => flow.replay?.(services) ?? []), { transport: 'outbox', handler: outboxReplayHandler(services.pool) }]);
}
