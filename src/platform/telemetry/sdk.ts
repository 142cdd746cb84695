/**
 * Starts the OpenTelemetry Node SDK when tracing is configured (see `TracingConfig`): the service's resource, the
 * configured sampler and propagators (`OTEL_PROPAGATORS`), a batching OTLP exporter in the configured protocol
 * (`OTEL_EXPORTER_OTLP_PROTOCOL`: http/protobuf, http/json or grpc) or the console, and the library instrumentations
 * (`instrumentations.ts`). When it is not, nothing is registered and every span the code starts is a free no-op.
 * Metrics stay with Prometheus (`/metrics`) and logs on stdout: the SDK starts no metric or log exporter.
 */
import type { TextMapPropagator } from '@opentelemetry/api';
import type { tracing as sdkTracing } from '@opentelemetry/sdk-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracingConfig, TracePropagator } from './options.js';
import { libraryInstrumentations } from './instrumentations.js';

/** The SDK's modules, loaded only when tracing is on (loading them takes as long as starting the rest of the service). */
async function loadSdk() {
  const [sdkNode, grpc, json, protobuf, b3, jaeger] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-grpc'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/exporter-trace-otlp-proto'),
    import('@opentelemetry/propagator-b3'),
    import('@opentelemetry/propagator-jaeger'),
  ]);
  return { ...sdkNode, grpc, json, protobuf, b3, jaeger };
}
type Sdk = Awaited<ReturnType<typeof loadSdk>>;

export interface Tracing {
  /** True when an SDK was registered. */
  readonly enabled: boolean;
  /** Exports what is buffered and stops the SDK; call once at shutdown. Never throws. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** Replaces the configured exporter (tests use an in-memory exporter with a simple processor). */
  readonly spanProcessors?: readonly sdkTracing.SpanProcessor[];
  readonly serviceVersion?: string;
  /** How long `shutdown` may take to export what is buffered (default 2 s); spans still unsent then are dropped. */
  readonly shutdownTimeoutMs?: number;
}

const disabled: Tracing = { enabled: false, shutdown: () => Promise.resolve() };

export async function startTracing(config: TracingConfig, options: StartTracingOptions = {}): Promise<Tracing> {
  if (options.spanProcessors === undefined && config.exporter === 'none') return disabled;
  const loaded = await loadSdk();
  const processors = options.spanProcessors ?? defaultProcessors(loaded, config);
  const sdk = new loaded.NodeSDK({
    autoDetectResources: false,
    resource: loaded.resources.resourceFromAttributes({
      ...config.resourceAttributes,
      [ATTR_SERVICE_NAME]: config.serviceName,
      ...(options.serviceVersion === undefined ? {} : { [ATTR_SERVICE_VERSION]: options.serviceVersion }),
    }),
    sampler: samplerOf(loaded, config),
    spanProcessors: [...processors],
    textMapPropagator: propagatorOf(loaded, config.propagators),
    instrumentations: [...libraryInstrumentations()],
    metricReaders: [],
    logRecordProcessors: [],
  });
  // Registers the tracer provider, the AsyncLocalStorage context manager and the propagator globally.
  sdk.start();
  return {
    enabled: true,
    // Bounded: an unreachable collector must not hold the process past its shutdown deadline.
    shutdown: () => bounded(sdk.shutdown(), options.shutdownTimeoutMs ?? 2_000),
  };
}

function defaultProcessors({ tracing: sdkTracing, ...loaded }: Sdk, config: TracingConfig): sdkTracing.SpanProcessor[] {
  switch (config.exporter) {
    case 'none':
      return [];
    case 'console':
      return [new sdkTracing.BatchSpanProcessor(new sdkTracing.ConsoleSpanExporter())];
    case 'otlp':
      return [new sdkTracing.BatchSpanProcessor(otlpExporter({ tracing: sdkTracing, ...loaded }, config))];
  }
}

function otlpExporter(loaded: Sdk, config: TracingConfig): sdkTracing.SpanExporter {
  const options = { url: config.otlpTracesUrl, headers: { ...config.otlpHeaders } };
  switch (config.otlpProtocol) {
    case 'http/protobuf':
      return new loaded.protobuf.OTLPTraceExporter(options);
    case 'http/json':
      return new loaded.json.OTLPTraceExporter(options);
    case 'grpc':
      // Headers travel as gRPC metadata, which this exporter takes from OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself.
      return new loaded.grpc.OTLPTraceExporter({ url: config.otlpTracesUrl });
  }
}

/** `OTEL_PROPAGATORS`: the global propagator the instrumentations use (incoming HTTP, Kafka headers). */
function propagatorOf({ core, b3, jaeger }: Sdk, names: readonly TracePropagator[]): TextMapPropagator {
  const propagators = names.flatMap((name): TextMapPropagator[] => {
    switch (name) {
      case 'tracecontext':
        return [new core.W3CTraceContextPropagator()];
      case 'baggage':
        return [new core.W3CBaggagePropagator()];
      case 'b3':
        return [new b3.B3Propagator()];
      case 'b3multi':
        return [new b3.B3Propagator({ injectEncoding: b3.B3InjectEncoding.MULTI_HEADER })];
      case 'jaeger':
        return [new jaeger.JaegerPropagator()];
      case 'none':
        return [];
    }
  });
  return new core.CompositePropagator({ propagators });
}

function samplerOf({ tracing: sdkTracing }: Sdk, config: TracingConfig): sdkTracing.Sampler {
  const ratio = new sdkTracing.TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case 'always_on':
      return new sdkTracing.AlwaysOnSampler();
    case 'always_off':
      return new sdkTracing.AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new sdkTracing.ParentBasedSampler({ root: new sdkTracing.AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new sdkTracing.ParentBasedSampler({ root: new sdkTracing.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdkTracing.ParentBasedSampler({ root: ratio });
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
