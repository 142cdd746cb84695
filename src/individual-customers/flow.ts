/** The individual-customers flow (UserRegistered / UserActivated → customers, `customer.events`), as `src/flows.ts` lists it. */
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config.js';
import { createSchemaRegistry } from '../platform/avro/schema-registry.js';
import type { Flow } from '../platform/flow.js';
import { CUSTOMER_EVENTS } from './outbox.js';
import { publishUserRegisteredCommand } from './publish-user-registered.cli.js';
import { createRegisterCustomers, INBOX_CONSUMER } from './register-customers.js';
import { createUserEventsHandler } from './user-events.consumer.js';

export const individualCustomers: Flow<Config> = {
  name: INBOX_CONSUMER,
  outbox: [CUSTOMER_EVENTS],
  // Its inputs are refused with the platform's codes only.
  reasonCodes: [],
  commands: { publish: publishUserRegisteredCommand },
  replay: ({ config, pool, logger, metrics }) => {
    const register = createRegisterCustomers({
      pool,
      numberPrefix: config.customers.numberPrefix,
      clock: () => new Date(),
      newId: () => uuidv7(),
      logger,
      // The service's console passes its metrics, so replayed registrations count like any other.
      ...(metrics === undefined ? {} : { metrics }),
    });
    const handler = createUserEventsHandler({
      register,
      pool,
      logger,
      maxMessageBytes: config.kafka.maxMessageBytes,
      // Parked Avro messages decode through the registry on replay, as they would have live.
      ...(config.kafka.schemaRegistry === undefined ? {} : { schemaRegistry: createSchemaRegistry(config.kafka.schemaRegistry) }),
    });
    return [{ transport: 'kafka', handler: handler.replay }];
  },
};
