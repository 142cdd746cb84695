/**
 * The libraries whose work shows in traces without code of ours: PostgreSQL queries (pg), HTTP requests (fastify,
 * through @fastify/otel), Kafka produce and consume (kafkajs), MongoDB commands (mongodb), and trace and span ids in
 * every log line written inside a span (pino: `trace_id`, `span_id`, `trace_flags`). This is the one place that lists
 * them: swapping the Kafka client means swapping its instrumentation here.
 *
 * An instrumentation patches a library as the library is loaded, so `instrumentLibraries()` must run before the
 * service's modules are imported: `src/main.ts` calls it first and imports the rest afterwards. It also registers the
 * ESM loader hook (import-in-the-middle) without which `import { pino } from 'pino'` would escape the patch. Without
 * tracing configured it is not called: nothing is loaded or patched.
 */
import { register } from 'node:module';
import type { Instrumentation } from '@opentelemetry/instrumentation';

let instrumentations: Instrumentation[] = [];

/** Creates and enables the instrumentations, once per process; the SDK registers them with its tracer provider. */
export async function instrumentLibraries(): Promise<readonly Instrumentation[]> {
  if (instrumentations.length > 0) return instrumentations;
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const [{ FastifyOtelInstrumentation }, { KafkaJsInstrumentation }, { MongoDBInstrumentation }, { PgInstrumentation }, { PinoInstrumentation }] =
    await Promise.all([
      import('@fastify/otel'),
      import('@opentelemetry/instrumentation-kafkajs'),
      import('@opentelemetry/instrumentation-mongodb'),
      import('@opentelemetry/instrumentation-pg'),
      import('@opentelemetry/instrumentation-pino'),
    ]);
  instrumentations = [
    // Only inside a traced operation: the pool's own housekeeping queries start no traces of their own.
    new PgInstrumentation({ requireParentSpan: true }),
    // Joins every fastify instance as it is created (fastify's diagnostics channel); the request span.
    new FastifyOtelInstrumentation({ registerOnInitialization: true }),
    new KafkaJsInstrumentation(),
    new MongoDBInstrumentation({ requireParentSpan: true }),
    // Ids into log records only: logs stay on stdout, not sent over OTLP.
    new PinoInstrumentation({ disableLogSending: true }),
  ];
  for (const instrumentation of instrumentations) instrumentation.enable();
  return instrumentations;
}

/** What `instrumentLibraries()` enabled in this process: none when it was not called. */
export function libraryInstrumentations(): readonly Instrumentation[] {
  return instrumentations;
}

/**
 * Whether `env` asks for tracing, decided before the configuration is loaded (and validated, with the rest, later):
 * the rule of `TracingConfig.exporter` — an exporter asked for, or an OTLP endpoint given, and the SDK not disabled.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if (/^(true|1|yes)$/.test(env.OTEL_SDK_DISABLED ?? '')) return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined && exporter !== '') return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT) || Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}
