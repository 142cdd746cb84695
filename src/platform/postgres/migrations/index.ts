import type { Migration } from '../migrate.js';
import { initial } from './0001-initial.js';
import { corporateCustomers } from './0003-corporate-customers.js';

/** Every migration, in version order. Never edit one that has shipped: add the next version. */
export const migrations: readonly Migration[] = [initial, corporateCustomers];
