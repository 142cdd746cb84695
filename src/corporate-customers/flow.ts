/** The corporate-customers flow (knapscen's customer-registered → companies, `customer-saved`, `user-saved`), as `src/flows.ts` lists it. */
import { v7 as uuidv7 } from 'uuid';
import type { Config } from '../config.js';
import type { Flow } from '../platform/flow.js';
import { corporateReplayHandler } from './customer-registered.nats.js';
import { importKnapscenCommand } from './import-knapscen.js';
import { CUSTOMER_SAVED, USER_SAVED } from './outbox.js';
import { publishCustomerRegisteredCommand } from './publish-customer-registered.js';
import { CORPORATE_REASON_CODES } from './reason-codes.js';
import { INBOX_CONSUMER } from './register-corporate-customer.js';
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
  replay: ({ config, pool, logger }) => [
    { transport: 'nats', handler: corporateReplayHandler({ pool, logger, newId: () => uuidv7(), publishEmails: config.corporate.publishEmails }) },
  ],
};
