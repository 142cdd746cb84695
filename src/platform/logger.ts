/** pino JSON logs. Personal data (e-mails, names) is redacted unless LOG_PERSONAL_DATA is set. */
import { pino, type Logger } from 'pino';
import type { Config } from '../config.js';

export type { Logger };

const PERSONAL_FIELDS = ['email', 'firstName', 'lastName', 'displayName', 'name', 'user_email', 'user_name'];

export function createLogger(options: Config['log'], destination?: pino.DestinationStream): Logger {
  const paths = PERSONAL_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);
  return pino(
    {
      level: options.level,
      base: { service: 'customer-service' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      ...(options.personalData ? {} : { redact: { paths, censor: '[redacted]' } }),
    },
    destination,
  );
}
