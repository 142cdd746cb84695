/**
 * Registers the OpenTelemetry SDK when tracing is configured (see `TracingConfig`): a Node tracer provider with the
 * service's resource, the configured sampler, and a batching OTLP/HTTP (or console) exporter. When it is not, nothing
 * is registered and every span the code starts is a free no-op.
 */
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from '../../config.js';

export interface Tracing {
  /** True when an SDK was registered. */
  readonly enabled: boolean;
  /** Exports what is buffered and stops the provider; call once at shutdown. Never throws. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** Replaces the configured exporter (tests use an in-memory exporter with a simple processor). */
  readonly spanProcessors?: readonly SpanProcessor[];
  readonly serviceVersion?: string;
  /** How long `shutdown` may take to export what is buffered (default 2 s); spans still unsent then are dropped. */
  readonly shutdownTimeoutMs?: number;
}

const disabled: Tracing = { enabled: false, shutdown: () => Promise.resolve() };

export function startTracing(config: TracingConfig, options: StartTracingOptions = {}): Tracing {
  const processors = options.spanProcessors ?? defaultProcessors(config);
  if (processors.length === 0) return disabled;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      ...config.resourceAttributes,
      [ATTR_SERVICE_NAME]: config.serviceName,
      ...(options.serviceVersion === undefined ? {} : { [ATTR_SERVICE_VERSION]: options.serviceVersion }),
    }),
    sampler: samplerOf(config),
    spanProcessors: [...processors],
  });
  // Registers the provider, the AsyncLocalStorage context manager and the W3C propagator globally.
  provider.register();
  return {
    enabled: true,
    // Bounded: an unreachable collector must not hold the process past its shutdown deadline.
    shutdown: () => bounded(provider.shutdown(), options.shutdownTimeoutMs ?? 2_000),
  };
}

function defaultProcessors(config: TracingConfig): SpanProcessor[] {
  switch (config.exporter) {
    case 'none':
      return [];
    case 'console':
      return [new BatchSpanProcessor(new ConsoleSpanExporter())];
    case 'otlp':
      return [new BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpTracesUrl, headers: { ...config.otlpHeaders } }))];
  }
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}
