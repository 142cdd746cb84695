/**
 * The one place that decides whether an infrastructure failure is worth retrying. Every consumer (HTTP, Kafka, NATS,
 * Job mode) asks this function, so "transient" means the same thing everywhere (SPEC §2.4).
 */
const TRANSIENT_SQLSTATE_PREFIXES = ['08', '53', '57P', '58'] as const;
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03', '57014']);
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
const TRANSIENT_MESSAGES = [/timeout/i, /Connection terminated/i, /Client has encountered a connection error/i, /not queryable/i];

export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // Errors of other clients that classify themselves (e.g. SchemaRegistryUnavailableError).
  if ((error as { transient?: unknown }).transient === true) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_NODE_CODES.has(code)) return true;
    if (TRANSIENT_SQLSTATE_PREFIXES.some((prefix) => code.startsWith(prefix))) return true;
  }
  if (TRANSIENT_MESSAGES.some((pattern) => pattern.test(error.message))) return true;
  return error.cause !== undefined && isTransientError(error.cause);
}
