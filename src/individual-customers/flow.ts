/** The individual-customers flow (UserRegistered / UserActivated → customers, `customer.events`), as `src/flows.ts` lists it. */
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config.js';
import { createSchemaRegistry } from '../platform/avro/schema-registry.js';
import type { Flow, FlowServices, RunningFlow } from '../platform/flow.js';
import { createProjector } from '../platform/postgres/projector.js';
import { createWakeSignal, fanOut } from '../platform/wake-signal.js';
import { acmeAdoption } from './acme-adoption.js';
import { createActivateCustomers } from './activate-customers.js';
import { customerProjection } from './customer-read-model.js';
import { findCustomerByQuery, individualCustomersHttp } from './customers.http.js';
import { startKafkaFlow } from './kafka-flow.js';
import { postgresDocumentsInTransaction } from './customer-read-model.postgres.js';
import { openCustomerReadModel } from './open-read-model.js';
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
  adoption: acmeAdoption,
  replay: ({ config, pool, logger, metrics }) => {
    const register = createRegisterCustomers({
      pool,
      numberPrefix: config.customers.numberPrefix,
      clock: () => new Date(),
      newId: () => uuidv7(),
      logger,
      // The service's console passes its metrics, so replayed registrations count like any other.
      ...(metrics === undefined ? {} : { metrics }),
      // Visible on commit, as live registrations are.
      ...(config.readModel.mongodb === undefined && config.readModel.inTransaction ? { readModel: postgresDocumentsInTransaction() } : {}),
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
  start: startIndividualCustomers,
};

/**
 * The read model (PostgreSQL, or MongoDB when configured) and its projector, both use cases (every commit wakes the
 * projector and the relay), the HTTP part, and, when `KAFKA_BROKERS` is set, the consumer of `identity.user.events`
 * and the relay to `customer.events`.
 */
async function startIndividualCustomers({ config, pool, logger, metrics, teardown }: FlowServices<Config>): Promise<RunningFlow> {
  // Read model: documents projected from the event store; the projector is woken by every local commit.
  const readModel = await openCustomerReadModel(config.readModel, pool);
  teardown.defer(() => readModel.close());
  const projectorWake = createWakeSignal();
  const relayWake = createWakeSignal();
  const projector = createProjector({
    pool,
    projection: customerProjection(readModel),
    wake: projectorWake,
    logger,
    metrics,
    batchSize: config.readModel.batchSize,
    pollIntervalMs: config.readModel.pollIntervalMs,
  });
  // The projector stops (finishing its batch) before the store it writes to closes.
  teardown.defer(() => projector.stop());
  // With READ_MODEL_IN_TRANSACTION, a read model in this PostgreSQL gets its documents in the use cases' own
  // transactions (visible on commit); the projector then passes those events by, and serves MongoDB and the rest.
  const useCaseDeps = {
    metrics,
    logger,
    onCommitted: fanOut(projectorWake, relayWake),
    pool,
    clock: () => new Date(),
    newId: () => uuidv7(),
    readModel: readModel.inTransaction,
  };
  const register = createRegisterCustomers({ ...useCaseDeps, numberPrefix: config.customers.numberPrefix });
  const activate = createActivateCustomers(useCaseDeps);
  const findCustomer: Parameters<typeof individualCustomersHttp>[0]['findCustomer'] = (key) => readModel.find(key);
  const brokers = config.kafka.brokers;
  let kafka: ReturnType<typeof startKafkaFlow> | undefined;
  return {
    http: individualCustomersHttp({ register, activate, findCustomer, metrics }),
    // The read model's own store (MongoDB) answers a ping: readiness is DOWN while it does not.
    ...(readModel.ping === undefined ? {} : { readiness: { read_model: readModel.ping.bind(readModel) } }),
    // The broker is a background component: /health shows it, readiness does not wait for it.
    components:
      brokers.length === 0
        ? {}
        : {
            kafka: async () =>
              kafka === undefined ? { status: 'CONNECTING' } : (await kafka.isReachable()) ? { status: 'UP' } : { status: 'DOWN', details: { brokers } },
          },
    find: findCustomerByQuery(findCustomer),
    startBackground: () => {
      projector.start();
      if (brokers.length === 0) {
        logger.info('KAFKA_BROKERS not set: the Kafka consumer and the customer.events relay are off');
        return;
      }
      const started = startKafkaFlow({ config: config.kafka, pool, register, activate, logger, metrics, relayWake });
      kafka = started;
      teardown.defer(() => started.stop());
      logger.info({ brokers }, 'Kafka consumer and relay connect in the background: readiness does not wait for the broker');
    },
  };
}
