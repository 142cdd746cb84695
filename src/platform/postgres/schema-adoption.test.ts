import { describe, expect, it } from 'vitest';
import { migrations } from './migrations/index.js';
import { tablesCreatedBy } from './schema-adoption.js';

describe('the tables our migrations create', () => {
  it('are read from their CREATE TABLE statements, so a database holding any of them is recognised as ours or refused', () => {
    expect(tablesCreatedBy(migrations).sort()).toEqual(
      expect.arrayContaining([
        'companies',
        'company_users',
        'customer_documents',
        'customer_number_sequences',
        'customer_preferences',
        'customers',
        'dead_letters',
        'event_store',
        'inbox',
        'outbox',
        'projection_checkpoints',
        'user_roles',
      ]),
    );
  });

  it('include IF NOT EXISTS ones, once each', () => {
    const sql = 'CREATE TABLE a (x int); CREATE TABLE IF NOT EXISTS b (y int); create table a (z int);';
    expect(tablesCreatedBy([{ version: 1, name: 'x', sql }])).toEqual(['a', 'b']);
  });
});
