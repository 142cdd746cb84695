/**
 * The Flow contract: what shared code (the service, the CLI, `dead-letters`, metrics) needs to know about one flow,
 * declared in the flow's own folder (`<flow>/flow.ts`) and listed once in `src/flows.ts`. Adding a flow is a folder
 * and a line there; nothing in `src/platform` names a flow.
 *
 * `C` is the service's configuration type: the platform does not know it, each flow reads its own part.
 */
import type { Command } from 'commander';
import type { ReplayRoute } from './dead-letter-replay.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Pool } from './postgres/database.js';
import type { OutboxDeclaration } from './postgres/outbox.js';

/** What a flow gets to replay its parked input: the same database, logs and metrics as the service. */
export interface FlowReplayServices<C> {
  readonly config: C;
  readonly pool: Pool;
  readonly logger: Logger;
  /** The running service's metrics (the console); absent for the one-shot `dead-letters replay`. */
  readonly metrics?: Metrics;
}

/** Commands a flow adds to the CLI: top-level ones, and subcommands of the shared `publish` and `import`. */
export interface FlowCommands {
  readonly top?: (program: Command) => void;
  readonly publish?: (publish: Command) => void;
  readonly import?: (importCommand: Command) => void;
}

export interface Flow<C> {
  /** Also its inbox consumer name. */
  readonly name: string;
  /** The destinations its use cases write to the outbox, with their publication spans. */
  readonly outbox: readonly OutboxDeclaration[];
  /** The reason codes it adds to the platform's (declared for the type checker in `FlowReasonCodes`). */
  readonly reasonCodes: readonly string[];
  readonly commands?: FlowCommands;
  /** How its parked input is replayed (`dead-letters replay`, the console): one route per transport it reads. */
  readonly replay?: (services: FlowReplayServices<C>) => readonly ReplayRoute[];
}
