/** Chooses the customer read model from configuration: MongoDB when a URL is given, PostgreSQL otherwise. */
import type { Config } from '../config.js';
import type { Pool } from '../platform/postgres/database.js';
import type { CustomerReadModel } from './customer-read-model.js';
import { createMongoCustomerReadModel } from './customer-read-model.mongo.js';
import { createPostgresCustomerReadModel } from './customer-read-model.postgres.js';

/**
 * Opens the read model and creates what it needs (MongoDB indexes); close it on shutdown. The PostgreSQL one offers
 * `inTransaction` only when READ_MODEL_IN_TRANSACTION is on.
 */
export async function openCustomerReadModel(config: Config['readModel'], pool: Pool): Promise<CustomerReadModel> {
  const readModel =
    config.mongodb === undefined
      ? createPostgresCustomerReadModel(pool, { inTransaction: config.inTransaction })
      : await createMongoCustomerReadModel(config.mongodb);
  try {
    await readModel.prepare();
  } catch (error) {
    await readModel.close();
    throw error;
  }
  return readModel;
}
