/**
 * The query side of the individual-customer flow: the customer documents the HTTP lookups answer with, projected
 * from `CustomerRegistered` events (SPEC §2.6, §5). Two stores implement the port: PostgreSQL (the default) and
 * MongoDB (when `MONGODB_URL` is set).
 */
import { z } from 'zod';
import type { Projection, ProjectionTarget, StoredEvent } from '../platform/postgres/projector.js';
import type { Queryable } from '../platform/postgres/database.js';
import type { Statement } from '../platform/postgres/statements.js';
import type { CustomerKey } from './customer-store.js';
import type { Customer } from './domain/customer.js';
import { newCustomer } from './domain/customer.js';
import { activate } from './domain/activation.js';
import type { CustomerNumber } from './domain/customer-number.js';
import type { CustomerId, UserId } from './domain/ids.js';

/** The projection into the PostgreSQL read model (its generation 1 is created by migration 0002). */
export const CUSTOMERS_PROJECTION = 'customers';

/** A customer document with the stream version of the last event applied to it. */
export interface VersionedCustomer {
  readonly document: Customer;
  readonly version: number;
}

/** Where documents are written: a generation of the read model (see `ProjectionTarget`). */
export type ReadModelTarget = ProjectionTarget;

/** The read-model port. Every write is idempotent: a document is only replaced by one with a higher `_version`. */
export interface CustomerReadModel {
  /**
   * The checkpoint key of the projection into this store. Each store has its own, so pointing the service at another
   * store (setting MONGODB_URL, say) fills it from the start of the event store instead of from someone else's checkpoint.
   */
  readonly projectionName: string;
  /** Creates collections and indexes (MongoDB); nothing to do for PostgreSQL, whose schema is a migration. */
  prepare(): Promise<void>;
  upsert(customers: readonly VersionedCustomer[], target: ReadModelTarget): Promise<void>;
  /** The documents of `customerIds` in a generation, with their versions (what a later event of a stream applies to). */
  get(customerIds: readonly string[], target: ReadModelTarget): Promise<VersionedCustomer[]>;
  /** Looks up the active generation. By e-mail: case-insensitive, the earliest registration when several share it. */
  find(key: CustomerKey): Promise<Customer | undefined>;
  /** Every document of a generation with its version, ordered by customer id (rebuild checks and tests). */
  list(generation: number | 'active'): Promise<VersionedCustomer[]>;
  resetGeneration(target: ReadModelTarget): Promise<void>;
  activate(next: ReadModelTarget, previous: ReadModelTarget): Promise<void>;
  dropGeneration(generation: number): Promise<void>;
  /**
   * Present when the read model lives in the service's PostgreSQL: the use cases then write documents in their own
   * transactions (visible on commit), and the projector passes by what they wrote.
   */
  readonly inTransaction?: ReadModelInTransaction;
  /**
   * True when a store apart from the service's PostgreSQL (MongoDB) answers, for readiness; absent when the read model
   * lives in that PostgreSQL, whose own check covers it.
   */
  ping?(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Writing documents inside a use case's transaction (SPEC §2.6 still holds: each is exactly the document the projector
 * makes of the event the transaction appends, at its stream version, and only replaces a lower `_version`).
 */
export interface ReadModelInTransaction {
  /**
   * Held shared by the writing transaction until it commits (`projectionWritersLockKey`): a rebuild's switch-over
   * holds it exclusively, so the generation a transaction loads from and writes to stays the active one until it
   * commits, and the switch sees every document written before it.
   */
  readonly lockKey: string;
  /** Upserts `customers` into the active generation; undefined when there are none. */
  upsertStatement(customers: readonly VersionedCustomer[]): Statement | undefined;
  /** The `_version` of each of `customerIds` that has a document in a generation (what the projector may pass by). */
  versions(customerIds: readonly string[], target: ReadModelTarget): Promise<Map<string, number>>;
}

/** The part of a stored event a document is made from: the stored payload and its stream version. */
export type ProjectedEvent = Pick<StoredEvent, 'payload' | 'streamVersion'>;

/** The payload of `CustomerRegistered` as stored in the event store (the published one lacks `marketingOptIn`). */
const customerRegisteredPayload = z.object({
  customerId: z.string(),
  userId: z.string(),
  customerNumber: z.string(),
  email: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  status: z.enum(['PENDING_VERIFICATION', 'ACTIVE']),
  registeredAt: z.string(),
  // Stored with every event this service appends; the seed's default when an older event lacks it.
  marketingOptIn: z.boolean().default(false),
});

/** The document a `CustomerRegistered` event creates: the domain's own rules, applied to the event's facts. */
export function customerFromRegistered(event: ProjectedEvent): VersionedCustomer {
  const payload = customerRegisteredPayload.parse(event.payload);
  const customer = newCustomer(
    {
      userId: payload.userId as UserId,
      email: payload.email,
      firstName: payload.firstName,
      lastName: payload.lastName,
      marketingOptIn: payload.marketingOptIn,
      registeredAt: new Date(payload.registeredAt),
    },
    payload.customerId as CustomerId,
    payload.customerNumber as CustomerNumber,
  );
  // registeredAt exactly as recorded (newCustomer re-formats it, which is the same for every event this service writes).
  return { document: { ...customer, status: payload.status, registeredAt: payload.registeredAt, lastActivityAt: payload.registeredAt }, version: event.streamVersion };
}

/** The stored payload of `CustomerActivated` (the published one). */
const customerActivatedPayload = z.object({ customerId: z.string(), activatedAt: z.string() });

/**
 * The document after a `CustomerActivated`: the domain's own rule (`activate`) applied to the document as the previous
 * event of the stream left it. `lastActivityAt` is `activatedAt` exactly as recorded.
 */
export function customerAfterActivated(previous: VersionedCustomer, event: ProjectedEvent): VersionedCustomer {
  const payload = customerActivatedPayload.parse(event.payload);
  const activated = activate(previous.document, new Date(payload.activatedAt));
  return { document: { ...activated, lastActivityAt: payload.activatedAt }, version: event.streamVersion };
}

/** The projection the projector runs: `CustomerRegistered` creates documents, `CustomerActivated` evolves them. */
export function customerProjection(readModel: CustomerReadModel): Projection {
  const { inTransaction } = readModel;
  return {
    name: readModel.projectionName,
    eventTypes: new Set(['CustomerRegistered', 'CustomerActivated']),
    // A document the use case wrote in the event's own transaction is already at the event's version (or beyond).
    // Only the active generation gets such documents (a rebuild's gets them copied at the switch).
    ...(inTransaction === undefined
      ? {}
      : {
          async pending(events, target) {
            if (!target.active) return events;
            const versions = await inTransaction.versions([...new Set(events.map((event) => event.streamId))], target);
            return events.filter((event) => (versions.get(event.streamId) ?? 0) < event.streamVersion);
          },
        }),
    async apply(events, target) {
      // The latest version per customer in this batch; older ones would be replaced anyway. A later event of a stream
      // applies to the document as this batch left it, or else as stored.
      const latest = new Map<string, VersionedCustomer>();
      const evolving = events.filter((event) => event.eventType !== 'CustomerRegistered').map((event) => event.streamId);
      const stored = new Map<string, VersionedCustomer>((await readModel.get([...new Set(evolving)], target)).map((customer) => [customer.document.customerId, customer]));
      for (const event of events) {
        switch (event.eventType) {
          case 'CustomerRegistered': {
            const customer = customerFromRegistered(event);
            const seen = latest.get(customer.document.customerId);
            if (seen === undefined || seen.version < customer.version) latest.set(customer.document.customerId, customer);
            break;
          }
          case 'CustomerActivated': {
            const previous = latest.get(event.streamId) ?? stored.get(event.streamId);
            // Projection runs in commit order, so the registration is in this batch or already stored. A customer with
            // no document (a row adopted from an existing database, without a CustomerRegistered) has nothing to
            // evolve: skipped rather than wedging the projector. A document already at this version or beyond (a
            // replayed batch) stays as it is.
            if (previous === undefined || previous.version >= event.streamVersion) break;
            latest.set(event.streamId, customerAfterActivated(previous, event));
            break;
          }
          default:
            throw new Error(`customer projection cannot apply ${event.eventType}`);
        }
      }
      await readModel.upsert([...latest.values()], target);
    },
    resetGeneration: (target) => readModel.resetGeneration(target),
    activate: (next, previous) => readModel.activate(next, previous),
    dropGeneration: (generation) => readModel.dropGeneration(generation),
  };
}

/** Reads the active generation number of a projection (tools and tests). */
export async function activeGeneration(client: Queryable, projection = CUSTOMERS_PROJECTION): Promise<number | undefined> {
  const { rows } = await client.query<{ generation: number }>(
    `SELECT generation FROM projection_checkpoints WHERE projection = $1 AND state = 'active'`,
    [projection],
  );
  return rows[0]?.generation;
}
