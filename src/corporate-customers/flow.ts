/** The corporate-customers flow (knapscen's customer-registered → companies, `customer-saved`, `user-saved`), as `src/flows.ts` lists it. */
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config.js';
import { startInBackground } from '../platform/background-start.js';
import type { Flow, FlowServices, RunningFlow } from '../platform/flow.js';
import type { ComponentProbe } from '../platform/http/health.routes.js';
import { withoutUserinfo } from '../platform/logger.js';
import { createProjector } from '../platform/postgres/projector.js';
import { createWakeSignal, fanOut } from '../platform/wake-signal.js';
import { findCompany } from './company-store.js';
import { corporateCustomersHttp } from './corporate-customers.http.js';
import { startCorporateNats } from './corporate-nats.js';
import { corporateReplayHandler } from './customer-registered.nats.js';
import { importKnapscenCommand } from './import-knapscen.js';
import { KNAPSCEN_MIRROR_PROJECTION, knapscenViolations, openKnapscenMirror } from './knapscen-mirror.js';
import { CUSTOMER_SAVED, USER_SAVED } from './outbox.js';
import { publishCustomerRegisteredCommand } from './publish-customer-registered.js';
import { CORPORATE_REASON_CODES } from './reason-codes.js';
import { createRegisterCorporateCustomer, INBOX_CONSUMER } from './register-corporate-customer.js';
import { registerCorporateCustomerCommand } from './register-corporate-customer.job.js';

export const corporateCustomers: Flow<Config> = {
  name: INBOX_CONSUMER,
  outbox: [CUSTOMER_SAVED, USER_SAVED],
  reasonCodes: CORPORATE_REASON_CODES,
  commands: {
    // Sveltos Job mode.
    top: (program) => program.addCommand(registerCorporateCustomerCommand()),
    publish: (publish) => publish.addCommand(publishCustomerRegisteredCommand()),
    import: (importCommand) => importCommand.addCommand(importKnapscenCommand()),
  },
  replay: ({ config, pool, logger, metrics }) => [
    {
      transport: 'nats',
      handler: corporateReplayHandler({
        pool,
        logger,
        newId: () => uuidv7(),
        publishEmails: config.corporate.publishEmails,
        ...(metrics === undefined ? {} : { metrics }),
      }),
    },
  ],
  start: startCorporateCustomers,
};

/**
 * The use case and the HTTP part always; knapscen's MySQL mirror (a projection of its own) when `KNAPSCEN_MYSQL_URL`
 * is set; the JetStream consumer and both relays when NATS is configured.
 */
async function startCorporateCustomers({ config, pool, logger, metrics, teardown }: FlowServices<Config>): Promise<RunningFlow> {
  const wake = { customerSaved: createWakeSignal(), userSaved: createWakeSignal() };
  const mirrorWake = createWakeSignal();
  const components: Record<string, ComponentProbe> = {};
  const mirror = config.knapscenMirror === undefined ? undefined : openKnapscenMirror(config.knapscenMirror.mysqlUrl, logger);
  let mirrorProjector: ReturnType<typeof createProjector> | undefined;
  if (mirror !== undefined) {
    teardown.defer(() => mirror.close());
    const projector = createProjector({
      pool,
      projection: mirror.projection,
      wake: mirrorWake,
      logger,
      metrics,
      batchSize: config.readModel.batchSize,
      pollIntervalMs: config.readModel.pollIntervalMs,
    });
    mirrorProjector = projector;
    // The projector stops (finishing its batch) before the mirror it writes to closes.
    teardown.defer(() => projector.stop());
    // A background component like the brokers: MySQL down pauses the mirror (its projector retries), not reads.
    // The details never show the URL (it holds knapscen's password).
    components.mirror = async () => {
      try {
        await mirror.isReachable();
        return { status: 'UP' };
      } catch (error) {
        return { status: 'DOWN', details: { projection: KNAPSCEN_MIRROR_PROJECTION, error: withoutUserinfo(error instanceof Error ? error.message : String(error)) } };
      }
    };
  }
  const register = createRegisterCorporateCustomer({
    metrics,
    logger,
    publishEmails: config.corporate.publishEmails,
    pool,
    clock: () => new Date(),
    newId: () => uuidv7(),
    onCommitted: fanOut(wake.customerSaved, wake.userSaved, mirrorWake),
    ...(mirror === undefined ? {} : { extraChecks: (company) => knapscenViolations(company) }),
  });
  // A NATS server unreachable at start does not stop the service: it connects in the background (Job mode, which
  // has its own connection, still exits 1 so that its Job is retried).
  if (config.nats !== undefined) {
    const natsConfig = config.nats;
    const nats = await startInBackground({
      name: 'nats',
      logger,
      start: () => startCorporateNats({ config: natsConfig, pool, register, logger, metrics, wake }),
    });
    teardown.defer(() => nats.stop());
    // Once connected, a PING/PONG round trip; while the client reconnects it does not answer, and the probe's timeout says DOWN.
    components.nats = async () => {
      const started = nats.current();
      if (started === undefined) return nats.status();
      await started.connection.flush();
      return { status: 'UP' };
    };
  }
  return {
    http: corporateCustomersHttp({ register, findCompany: (id) => findCompany(pool, id) }),
    components,
    startBackground: () => mirrorProjector?.start(),
  };
}
