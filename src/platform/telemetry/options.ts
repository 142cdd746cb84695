/** Tracing options (`config.ts` maps the `OTEL_*` variables into them); `startTracing` in `sdk.ts` reads them. */

export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** `OTEL_PROPAGATORS` values the Node SDK supports. */
export const TRACE_PROPAGATORS = ['tracecontext', 'baggage', 'b3', 'b3multi', 'jaeger', 'none'] as const;
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;

export type TraceSampler = (typeof TRACE_SAMPLERS)[number];
export type TracePropagator = (typeof TRACE_PROPAGATORS)[number];
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** Tracing settings; `exporter: 'none'` means no SDK is registered and the OpenTelemetry API stays a no-op. */
export interface TracingConfig {
  readonly exporter: 'otlp' | 'console' | 'none';
  readonly serviceName: string;
  /** Full OTLP traces URL: …/v1/traces over HTTP; the collector's address for gRPC. */
  readonly otlpTracesUrl: string;
  /** `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`: http/protobuf (default), http/json or grpc. */
  readonly otlpProtocol: OtlpProtocol;
  /** `OTEL_PROPAGATORS` (default tracecontext,baggage): what the instrumentations read from and write into headers. */
  readonly propagators: readonly TracePropagator[];
  readonly otlpHeaders: Readonly<Record<string, string>>;
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly sampler: TraceSampler;
  readonly samplerRatio: number;
}
