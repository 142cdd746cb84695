/**
 * The Flow contract: what shared code (the service, the CLI, `dead-letters`, metrics) needs to know about one flow,
 * declared in the flow's own folder (`<flow>/flow.ts`) and listed once in `src/flows.ts`. Adding a flow is a folder
 * and a line there; nothing in `src/platform` names a flow.
 *
 * `C` is the service's configuration type: the platform does not know it, each flow reads its own part.
 */
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import type { ReplayRoute } from './dead-letter-replay.js';
import type { IntakeHandlers } from './http/events.routes.js';
import type { ComponentProbe, HealthCheck } from './http/health.routes.js';
import type { OpenApiTag } from './http/openapi.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { Pool } from './postgres/database.js';
import type { OutboxDeclaration } from './postgres/outbox.js';
import type { SchemaAdoption } from './postgres/schema-adoption.js';
import type { Teardown } from './teardown.js';

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

/** What the running service lends a flow when it starts it. */
export interface FlowServices<C> {
  readonly config: C;
  readonly pool: Pool;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Everything the flow starts registers its stop here, as it starts it: shutdown, or a start that fails half-way,
   * stops it all in reverse order (so a store closes after the projector that writes to it).
   */
  readonly teardown: Teardown;
}

/** A flow's part of the HTTP API: event types for `POST /api/v1/events`, and routes of its own (lookups). */
export interface FlowHttp {
  readonly intake?: IntakeHandlers;
  readonly routes?: (api: FastifyInstance) => void;
  /** The `/openapi.json` tags its routes use. */
  readonly tags?: readonly OpenApiTag[];
}

/** A started flow, as the service assembles it. */
export interface RunningFlow {
  readonly http?: FlowHttp;
  /** What its part of the HTTP API needs (e.g. the read-model store): readiness is UP only while each answers. */
  readonly readiness?: Readonly<Record<string, HealthCheck>>;
  /** Background components (brokers, mirrors): shown by `/health` and `dependency_up`, never part of readiness. */
  readonly components?: Readonly<Record<string, ComponentProbe>>;
  /** The operator console's search: the record a free-text key (id, number, e-mail…) names, if this flow has one. */
  readonly find?: (query: string) => Promise<unknown>;
  /**
   * Starts what works in the background (consumers, relays, projectors) once the HTTP listener is up; registers
   * their stops on the teardown it was started with.
   */
  readonly startBackground?: () => void;
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
  /** The database of the service it replaces, adopted in place when the service first opens it (SPEC §5). */
  readonly adoption?: SchemaAdoption;
  /**
   * Starts it inside the service: its use cases, stores and HTTP part now, its consumers and relays with
   * `startBackground`. A flow that cannot start throws (the service then stops what had started and exits).
   */
  readonly start: (services: FlowServices<C>) => Promise<RunningFlow>;
}
