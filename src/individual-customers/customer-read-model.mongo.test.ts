import { describe, expect, it } from 'vitest';
import type { VersionedCustomer } from './customer-read-model.js';
import {
  ACTIVE_COLLECTION,
  collectionFor,
  CUSTOMER_INDEXES,
  fromMongoDocument,
  lookupQuery,
  mongoProjectionName,
  toMongoDocument,
  upsertOperation,
} from './customer-read-model.mongo.js';
import { newCustomer } from './domain/customer.js';
import type { CustomerNumber } from './domain/customer-number.js';
import type { CustomerId, UserId } from './domain/ids.js';

const customer: VersionedCustomer = {
  document: newCustomer(
    {
      userId: '01941234-5678-7abc-def0-123456789abc' as UserId,
      email: 'Jane@Example.com',
      firstName: '$where',
      lastName: 'Doe',
      marketingOptIn: true,
      registeredAt: new Date('2026-01-02T10:30:01Z'),
    },
    '01941234-5678-7abc-def0-123456789020' as CustomerId,
    'ACME-202601-000142' as CustomerNumber,
  ),
  version: 3,
};

describe('MongoDB customer documents', () => {
  it('store the API document with customerId as _id, plus _version (the seed’s read-model shape)', () => {
    const stored = toMongoDocument(customer);
    expect(stored._id).toBe('01941234-5678-7abc-def0-123456789020');
    expect(stored).not.toHaveProperty('customerId');
    expect(stored._version).toBe(3);
    expect(stored._registeredAt).toEqual(new Date('2026-01-02T10:30:01Z'));
    expect(stored._emailLower).toBe('jane@example.com');
    expect(stored).toMatchObject({ userId: customer.document.userId, customerNumber: 'ACME-202601-000142', email: { address: 'Jane@Example.com' } });
  });

  it('read back as exactly the document and version that were written', () => {
    expect(fromMongoDocument(toMongoDocument(customer))).toStrictEqual(customer);
  });
});

describe('MongoDB upsert', () => {
  const operation = upsertOperation(customer);
  if (!('replaceOne' in operation)) throw new Error('expected a replaceOne');
  const { filter, replacement, upsert } = operation.replaceOne;

  it('replaces the document with this _id only when its stored _version is lower, and inserts it when missing', () => {
    expect(filter).toEqual({ _id: customer.document.customerId, _version: { $lt: 3 } });
    expect(upsert).toBe(true);
    expect(replacement).toEqual(toMongoDocument(customer));
  });

  it('uses no update pipeline, operator or collation (FerretDB 1.x has none of them): a value starting with $ is data', () => {
    expect(Object.keys(replacement).filter((key) => key.startsWith('$'))).toEqual([]);
    expect(replacement).toMatchObject({ name: { firstName: '$where' } });
  });
});

describe('MongoDB lookups', () => {
  it.each([
    [{ by: 'id', value: 'c1' }, { _id: 'c1' }],
    [{ by: 'userId', value: 'u1' }, { userId: 'u1' }],
    [{ by: 'number', value: 'ACME-202601-000001' }, { customerNumber: 'ACME-202601-000001' }],
  ] as const)('%j filters on %j, without sort or collation', (key, expected) => {
    expect(lookupQuery(key as never)).toEqual({ filter: expected });
  });

  it('finds an e-mail case-insensitively through the lower-cased copy and answers with the earliest registration', () => {
    expect(lookupQuery({ by: 'email', value: 'Jane@Example.com' })).toEqual({
      filter: { _emailLower: 'jane@example.com' },
      sort: { _registeredAt: 1, customerNumber: 1 },
    });
  });
});

describe('MongoDB indexes and collections', () => {
  it('creates unique userId and customerNumber indexes, and lower-cased e-mail and status indexes, without collations', () => {
    expect(CUSTOMER_INDEXES).toEqual([
      { key: { userId: 1 }, name: 'userId_unique', unique: true },
      { key: { customerNumber: 1 }, name: 'customerNumber_unique', unique: true },
      { key: { _emailLower: 1, _registeredAt: 1, customerNumber: 1 }, name: 'email_lower' },
      { key: { status: 1 }, name: 'status' },
    ]);
  });

  it('indexes the e-mail lookup exactly as it filters and sorts', () => {
    const query = lookupQuery({ by: 'email', value: 'x@y.z' });
    const emailIndex = CUSTOMER_INDEXES.find((index) => index.name === 'email_lower');
    expect(Object.keys(emailIndex?.key ?? {})).toEqual([...Object.keys(query.filter), ...Object.keys(query.sort ?? {})]);
  });

  it('keeps its own checkpoint per MongoDB database, apart from the PostgreSQL read model’s', () => {
    expect(mongoProjectionName('customer-service')).toBe('customers:mongodb:customer-service');
  });

  it('serves from customers and builds a rebuild in its own collection', () => {
    expect(collectionFor({ generation: 7, active: true })).toBe(ACTIVE_COLLECTION);
    expect(ACTIVE_COLLECTION).toBe('customers');
    expect(collectionFor({ generation: 8, active: false })).toBe('customers_rebuild_8');
  });
});
