import { describe, expect, it } from 'vitest';
import type { VersionedCustomer } from './customer-read-model.js';
import {
  ACTIVE_COLLECTION,
  collectionFor,
  CUSTOMER_INDEXES,
  EMAIL_COLLATION,
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
    expect(stored).toMatchObject({ userId: customer.document.userId, customerNumber: 'ACME-202601-000142', email: { address: 'Jane@Example.com' } });
  });

  it('read back as exactly the document and version that were written', () => {
    expect(fromMongoDocument(toMongoDocument(customer))).toStrictEqual(customer);
  });
});

describe('MongoDB upsert', () => {
  const operation = upsertOperation(customer);
  if (!('updateOne' in operation)) throw new Error('expected an updateOne');
  const { filter, update, upsert } = operation.updateOne;

  it('addresses one document by _id and creates it when missing', () => {
    expect(filter).toEqual({ _id: customer.document.customerId });
    expect(upsert).toBe(true);
  });

  it('replaces the stored document only when its _version is lower (a missing one counts as 0)', () => {
    expect(update).toEqual([
      {
        $replaceWith: {
          $cond: {
            if: { $lt: [{ $ifNull: ['$_version', 0] }, 3] },
            then: { $literal: toMongoDocument(customer) },
            else: '$$ROOT',
          },
        },
      },
    ]);
  });

  it('wraps the document in $literal, so a value starting with $ is data, not a field path', () => {
    const replacement = JSON.stringify(update);
    expect(replacement).toContain('"$literal":{');
    expect(replacement).toContain('"firstName":"$where"');
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

  it('finds an e-mail case-insensitively and answers with the earliest registration', () => {
    expect(lookupQuery({ by: 'email', value: 'Jane@Example.com' })).toEqual({
      filter: { 'email.address': 'Jane@Example.com' },
      sort: { _registeredAt: 1, customerNumber: 1 },
      collation: { locale: 'en', strength: 2 },
    });
  });
});

describe('MongoDB indexes and collections', () => {
  it('creates unique userId and customerNumber indexes, and email.address and status indexes', () => {
    expect(CUSTOMER_INDEXES).toEqual([
      { key: { userId: 1 }, name: 'userId_unique', unique: true },
      { key: { customerNumber: 1 }, name: 'customerNumber_unique', unique: true },
      { key: { 'email.address': 1, _registeredAt: 1, customerNumber: 1 }, name: 'email_address', collation: EMAIL_COLLATION },
      { key: { status: 1 }, name: 'status' },
    ]);
  });

  it('gives the e-mail index the collation the lookup uses, or MongoDB could not use it', () => {
    const emailIndex = CUSTOMER_INDEXES.find((index) => index.name === 'email_address');
    expect(emailIndex?.collation).toEqual(lookupQuery({ by: 'email', value: 'x@y.z' }).collation);
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
