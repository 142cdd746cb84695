/**
 * The customer read model in MongoDB (when `MONGODB_URL` is set): collection `customers` in the seed's document shape
 * (`_id` = customerId, plus `_version`), unique indexes on `userId` and `customerNumber`, indexes on `email.address`
 * and `status`, created on start.
 *
 * Deliberately thin: every filter and update it sends is built by the pure functions below (unit-tested, since no
 * MongoDB server runs on the build machines); the contract suite runs against a real server when `MONGODB_URL` is set.
 * MongoDB writes cannot join the projector's PostgreSQL transaction, so they are idempotent instead: an update
 * replaces a document only when the stored `_version` is lower, inside one atomic single-document update.
 * A rebuild fills `customers_rebuild_<generation>` and switches with an atomic rename over `customers`.
 */
import { ConfigError } from '../config.js';
import { MongoClient, type MongoClientOptions, type AnyBulkWriteOperation, type Collection, type CollationOptions, type Db, type Document, type IndexDescription } from 'mongodb';
import type { CustomerKey } from './customer-store.js';
import type { CustomerReadModel, VersionedCustomer } from './customer-read-model.js';
import type { Customer } from './domain/customer.js';
import type { CustomerId } from './domain/ids.js';

export const ACTIVE_COLLECTION = 'customers';

/** Case-insensitive comparison for e-mail lookups; the index and the query must use the same collation. */
export const EMAIL_COLLATION: CollationOptions = { locale: 'en', strength: 2 };

export const CUSTOMER_INDEXES: IndexDescription[] = [
  { key: { userId: 1 }, name: 'userId_unique', unique: true },
  { key: { customerNumber: 1 }, name: 'customerNumber_unique', unique: true },
  { key: { 'email.address': 1, _registeredAt: 1, customerNumber: 1 }, name: 'email_address', collation: EMAIL_COLLATION },
  { key: { status: 1 }, name: 'status' },
];

export interface CustomerMongoDocument extends Document {
  _id: string;
  _version: number;
  /** registeredAt as a date: the strings do not sort chronologically when some carry fractional seconds. */
  _registeredAt: Date;
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

/** The stored form: the API document with `customerId` as `_id`, plus `_version`. */
export function toMongoDocument(customer: VersionedCustomer): CustomerMongoDocument {
  const { customerId, ...rest } = customer.document;
  return { _id: customerId, ...rest, _version: customer.version, _registeredAt: new Date(customer.document.registeredAt) };
}

export function fromMongoDocument(stored: CustomerMongoDocument): VersionedCustomer {
  const { _id, _version, _registeredAt, ...rest } = stored;
  void _registeredAt;
  return { document: { customerId: _id as CustomerId, ...rest } as unknown as Customer, version: _version };
}

/**
 * An upsert that only moves forward: an aggregation-pipeline update keeps the stored document (`$$ROOT`) unless its
 * `_version` is lower than the new one. `$literal` keeps field values that start with `$` from being read as paths.
 * Upserting a missing `_id` starts from `{_id}`, whose missing `_version` counts as 0.
 */
export function upsertOperation(customer: VersionedCustomer): AnyBulkWriteOperation<CustomerMongoDocument> {
  const document = toMongoDocument(customer);
  return {
    updateOne: {
      filter: { _id: document._id },
      update: [
        {
          $replaceWith: {
            $cond: {
              if: { $lt: [{ $ifNull: ['$_version', 0] }, document._version] },
              then: { $literal: document },
              else: '$$ROOT',
            },
          },
        },
      ],
      upsert: true,
    },
  };
}

export interface LookupQuery {
  readonly filter: Document;
  readonly sort?: Document;
  readonly collation?: CollationOptions;
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
      return { filter: { 'email.address': key.value }, sort: { _registeredAt: 1, customerNumber: 1 }, collation: EMAIL_COLLATION };
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
      await collection(ACTIVE_COLLECTION).createIndexes(CUSTOMER_INDEXES);
    },

    async upsert(customers, target) {
      if (customers.length === 0) return;
      await collection(collectionFor(target)).bulkWrite(customers.map(upsertOperation), { ordered: false });
    },

    async get(customerIds, target) {
      if (customerIds.length === 0) return [];
      const stored = await collection(collectionFor(target)).find({ _id: { $in: [...customerIds] } }).toArray();
      return stored.map(fromMongoDocument);
    },

    async find(key) {
      const query = lookupQuery(key);
      const found = await collection(ACTIVE_COLLECTION).findOne(query.filter, {
        ...(query.sort === undefined ? {} : { sort: query.sort }),
        ...(query.collation === undefined ? {} : { collation: query.collation }),
      });
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
      await collection(name).createIndexes(CUSTOMER_INDEXES);
    },

    // Atomic on the server: readers see the old collection or the new one, never neither.
    async activate(next) {
      await db.renameCollection(buildingCollection(next.generation), ACTIVE_COLLECTION, { dropTarget: true });
    },

    async dropGeneration(generation) {
      await dropIfExists(buildingCollection(generation));
    },

    async close() {
      await client.close();
    },
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
