/** Tracing: SDK setup, the shared tracer and span helper, and W3C trace-context propagation. */
export { startTracing, type Tracing, type StartTracingOptions } from './sdk.js';
export { instrumentLibraries, libraryInstrumentations, tracingRequested } from './instrumentations.js';
export { inSpan, markFailed, tracer, TRACER_NAME, type SpanOptions } from './tracer.js';
export {
  contextFromHeaders,
  contextFromTraceContext,
  traceContextFromHeaders,
  traceContextOf,
  traceContextOfSpan,
  withTraceHeaders,
  type Headers,
  type HeaderValue,
  type TraceContext,
} from './trace-context.js';
