/**
 * The customer read model in MongoDB (when `MONGODB_URL` is set): collection `customers` in the seed's document shape
 * (`_id` = customerId, plus `_version`), unique indexes on `userId` and `customerNumber`, indexes on the lower-cased
 * e-mail and `status`, created on start.
 *
 * Written in forms both MongoDB (8) and FerretDB (1.x, the MongoDB wire-protocol server the tests run) accept: no
 * update pipelines and no collations, which FerretDB 1.x does not implement (docs/read-model-mongodb.md lists the
 * differences). The pure functions below build every filter and update (unit-tested); the contract suite runs them
 * against FerretDB, or a real MongoDB when `MONGODB_URL` is set.
 * MongoDB writes cannot join the projector's PostgreSQL transaction, so they are idempotent instead: a document is
 * replaced only when its stored `_version` is lower (the filter says so); an upsert that finds it not lower tries to
 * insert and fails on the `_id` key, which then means "already as new or newer" once checked.
 * A rebuild fills `customers_rebuild_<generation>` and switches with an atomic rename over `customers`.
 */
import { ConfigError } from '../config.js';
import { MongoBulkWriteError, MongoClient, type MongoClientOptions, type WriteError, type AnyBulkWriteOperation, type Collection, type Db, type Document, type IndexDescription } from 'mongodb';
import type { CustomerKey } from './customer-store.js';
import type { CustomerReadModel, VersionedCustomer } from './customer-read-model.js';
import type { Customer } from './domain/customer.js';
import type { CustomerId } from './domain/ids.js';

export const ACTIVE_COLLECTION = 'customers';

/**
 * E-mail lookups are case-insensitive through a stored lower-cased copy (`_emailLower`, as the PostgreSQL read model's
 * `email_lower`), not a collation: FerretDB 1.x has none.
 */
export const CUSTOMER_INDEXES: IndexDescription[] = [
  { key: { userId: 1 }, name: 'userId_unique', unique: true },
  { key: { customerNumber: 1 }, name: 'customerNumber_unique', unique: true },
  { key: { _emailLower: 1, _registeredAt: 1, customerNumber: 1 }, name: 'email_lower' },
  { key: { status: 1 }, name: 'status' },
];

/** The collation index of earlier versions, dropped on start (`projections rebuild` fills `_emailLower`). */
export const RETIRED_INDEXES = ['email_address'];

/** MongoDB's duplicate-key error code (FerretDB answers with the same). */
const DUPLICATE_KEY = 11000;

export interface CustomerMongoDocument extends Document {
  _id: string;
  _version: number;
  /** registeredAt as a date: the strings do not sort chronologically when some carry fractional seconds. */
  _registeredAt: Date;
  /** email.address lower-cased, for case-insensitive lookups. */
  _emailLower: string;
}

/** The checkpoint key of the projection into a MongoDB database (never the URL: it may hold credentials). */
export function mongoProjectionName(database: string): string {
  return `customers:mongodb:${database}`;
}

export function buildingCollection(generation: number): string {
  return `customers_rebuild_${generation}`;
}

export function collectionFor(target: { generation: number; active: boolean }): string {
  return target.active ? ACTIVE_COLLECTION : buildingCollection(target.generation);
}

/** The stored form: the API document with `customerId` as `_id`, plus `_version` and the lookup fields. */
export function toMongoDocument(customer: VersionedCustomer): CustomerMongoDocument {
  const { customerId, ...rest } = customer.document;
  return {
    _id: customerId,
    ...rest,
    _version: customer.version,
    _registeredAt: new Date(customer.document.registeredAt),
    _emailLower: customer.document.email.address.toLowerCase(),
  };
}

export function fromMongoDocument(stored: CustomerMongoDocument): VersionedCustomer {
  const { _id, _version, _registeredAt, _emailLower, ...rest } = stored;
  void _registeredAt;
  void _emailLower;
  return { document: { customerId: _id as CustomerId, ...rest } as unknown as Customer, version: _version };
}

/**
 * An upsert that only moves forward: replace the document with this `_id` whose `_version` is lower, or insert it.
 * When the stored one is as new or newer the filter matches nothing and the insert fails on the `_id` key
 * (`DUPLICATE_KEY`), which `upsert` below checks and ignores. A replacement document is data: values starting with `$`
 * are not read as operators or paths.
 */
export function upsertOperation(customer: VersionedCustomer): AnyBulkWriteOperation<CustomerMongoDocument> {
  const document = toMongoDocument(customer);
  return {
    replaceOne: {
      filter: { _id: document._id, _version: { $lt: document._version } },
      replacement: document,
      upsert: true,
    },
  };
}

export interface LookupQuery {
  readonly filter: Document;
  readonly sort?: Document;
}

export function lookupQuery(key: CustomerKey): LookupQuery {
  switch (key.by) {
    case 'id':
      return { filter: { _id: key.value } };
    case 'userId':
      return { filter: { userId: key.value } };
    case 'number':
      return { filter: { customerNumber: key.value } };
    case 'email':
      // Several users may share an address; the earliest registration answers.
      return { filter: { _emailLower: key.value.toLowerCase() }, sort: { _registeredAt: 1, customerNumber: 1 } };
    default:
      return assertNever(key);
  }
}

/**
 * Client options. With a CA file: TLS, that CA trusted, certificate and host name verified (the driver's defaults,
 * which a `tlsInsecure`/`tlsAllowInvalid*` option in the URL could weaken: those are refused here).
 */
export function mongoClientOptions(options: { url: string; tlsCaFile?: string }): MongoClientOptions {
  if (options.tlsCaFile === undefined) return { appName: 'customer-service' };
  if (/[?&](tlsInsecure|tlsAllowInvalidCertificates|tlsAllowInvalidHostnames|sslValidate)=/i.test(options.url)) {
    throw new ConfigError(['MONGODB_URL: with MONGODB_TLS_CA_FILE, the URL may not weaken certificate checks (got a value, not shown)']);
  }
  return { appName: 'customer-service', tls: true, tlsCAFile: options.tlsCaFile };
}

export async function createMongoCustomerReadModel(options: { url: string; database: string; tlsCaFile?: string }): Promise<CustomerReadModel> {
  const client = new MongoClient(options.url, mongoClientOptions(options));
  await client.connect();
  const db: Db = client.db(options.database);
  const collection = (name: string): Collection<CustomerMongoDocument> => db.collection<CustomerMongoDocument>(name);

  const dropIfExists = async (name: string) => {
    try {
      await db.dropCollection(name);
    } catch (error) {
      if ((error as { codeName?: string }).codeName !== 'NamespaceNotFound') throw error;
    }
  };

  return {
    projectionName: mongoProjectionName(options.database),
    async prepare() {
      const active = collection(ACTIVE_COLLECTION);
      await createMissingIndexes(active);
      for (const name of RETIRED_INDEXES) {
        try {
          await active.dropIndex(name);
        } catch (error) {
          if ((error as { codeName?: string }).codeName !== 'IndexNotFound') throw error;
        }
      }
    },

    async upsert(customers, target) {
      if (customers.length === 0) return;
      await upsertForward(collection(collectionFor(target)), customers);
    },

    async get(customerIds, target) {
      if (customerIds.length === 0) return [];
      const stored = await collection(collectionFor(target)).find({ _id: { $in: [...customerIds] } }).toArray();
      return stored.map(fromMongoDocument);
    },

    async find(key) {
      const query = lookupQuery(key);
      const found = await collection(ACTIVE_COLLECTION).findOne(query.filter, query.sort === undefined ? {} : { sort: query.sort });
      return found === null ? undefined : fromMongoDocument(found).document;
    },

    async list(generation) {
      const name = generation === 'active' ? ACTIVE_COLLECTION : buildingCollection(generation);
      const stored = await collection(name).find({}).sort({ _id: 1 }).toArray();
      return stored.map(fromMongoDocument);
    },

    async resetGeneration(target) {
      const name = collectionFor(target);
      await dropIfExists(name);
      await createMissingIndexes(collection(name));
    },

    // On MongoDB atomic: readers see the old collection or the new one, never neither. FerretDB 1.x has no
    // `dropTarget`; there the old collection is renamed away first, so lookups miss for the moment between the two
    // renames (docs/read-model-mongodb.md).
    async activate(next) {
      const building = buildingCollection(next.generation);
      try {
        await db.renameCollection(building, ACTIVE_COLLECTION, { dropTarget: true });
      } catch (error) {
        if ((error as { codeName?: string }).codeName !== 'NotImplemented') throw error;
        const retired = `customers_retired_${next.generation}`;
        await dropIfExists(retired);
        try {
          await db.renameCollection(ACTIVE_COLLECTION, retired);
        } catch (renameError) {
          if ((renameError as { codeName?: string }).codeName !== 'NamespaceNotFound') throw renameError;
        }
        await db.renameCollection(building, ACTIVE_COLLECTION);
        await dropIfExists(retired);
      }
    },

    async dropGeneration(generation) {
      await dropIfExists(buildingCollection(generation));
    },

    async ping() {
      await db.command({ ping: 1 });
      return true;
    },

    async close() {
      await client.close();
    },
  };
}

/**
 * Creates the indexes the collection lacks, by name. Not `createIndexes` with all of them: asked again for a compound
 * index it already has, FerretDB 1.24 panics and drops the connection.
 */
async function createMissingIndexes(into: Collection<CustomerMongoDocument>): Promise<void> {
  let existing: Set<string>;
  try {
    existing = new Set((await into.listIndexes().toArray()).map((index: { name?: unknown }) => String(index.name)));
  } catch (error) {
    if ((error as { codeName?: string }).codeName !== 'NamespaceNotFound') throw error;
    existing = new Set();
  }
  const missing = CUSTOMER_INDEXES.filter((index) => index.name === undefined || !existing.has(index.name));
  if (missing.length > 0) await into.createIndexes(missing);
}

/**
 * Writes each customer's newest version in the batch, moving no document back. Most writes are new customers (a
 * registration, or any rebuild), so first one `insertMany` of them all (FerretDB runs it many times faster than one
 * upsert per document); those whose `_id` is taken go through the `_version`-guarded upsert. No `$in` lookup of the
 * stored versions: FerretDB 1.x does not push `$in` down to PostgreSQL and reads the whole collection for it.
 */
async function upsertForward(into: Collection<CustomerMongoDocument>, customers: readonly VersionedCustomer[]): Promise<void> {
  const newest = new Map<string, VersionedCustomer>();
  for (const customer of customers) {
    const seen = newest.get(customer.document.customerId);
    if (seen === undefined || seen.version < customer.version) newest.set(customer.document.customerId, customer);
  }
  const all = [...newest.values()];
  let taken: VersionedCustomer[];
  try {
    await into.insertMany(all.map(toMongoDocument), { ordered: false });
    return;
  } catch (error) {
    taken = failedWrites(error, (code) => code === DUPLICATE_KEY).flatMap((index) => all[index] ?? []);
  }
  try {
    await into.bulkWrite(taken.map(upsertOperation), { ordered: false });
  } catch (error) {
    // A duplicate `_id` of a document as new or newer: nothing to do. Any other duplicate (userId, customerNumber)
    // finds no such document and is an error.
    for (const customer of failedWrites(error, (code) => code === DUPLICATE_KEY).flatMap((index) => taken[index] ?? [])) {
      const stored = await into.findOne({ _id: customer.document.customerId }, { projection: { _version: 1 } });
      if (stored === null || stored._version < customer.version) throw error;
    }
  }
}

/** The indexes of the failed writes of a bulk write whose every failure has a code `expected` accepts; else rethrows. */
function failedWrites(error: unknown, expected: (code: number) => boolean): number[] {
  if (!(error instanceof MongoBulkWriteError)) throw error;
  const writeErrors: readonly WriteError[] = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors as WriteError];
  if (writeErrors.length === 0 || writeErrors.some((writeError) => !expected(writeError.code))) throw error;
  return writeErrors.map((writeError) => writeError.index);
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
