/**
 * RFC 9457 problem details with a stable `code`, plus the `timestamp`, `path`, `error` and `message` members ACME
 * clients read. The only place that maps failures to HTTP status codes; never sends a stack trace.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isTransientError } from '../postgres/errors.js';
import { InvalidInputError, type FieldViolation } from '../validation.js';

export interface Problem {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly violations?: readonly FieldViolation[];
}

export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  /** True when the use case behind it has written the input's outcome line already (the intake then writes none). */
  readonly outcomeLogged: boolean;
  constructor(
    readonly problem: Problem,
    options: { readonly outcomeLogged?: boolean } = {},
  ) {
    super(problem.detail);
    this.outcomeLogged = options.outcomeLogged ?? false;
  }
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem): FastifyReply {
  const title = STATUS_CODES[problem.status] ?? 'Error';
  // Every 503 is "retry later": say when.
  if (problem.status === 503 && !reply.hasHeader('retry-after')) void reply.header('retry-after', '1');
  return reply
    .status(problem.status)
    .type('application/problem+json')
    .send({
      type: `urn:problem:customer-service:${problem.code.toLowerCase().replaceAll('_', '-')}`,
      title,
      status: problem.status,
      detail: problem.detail,
      instance: request.url,
      code: problem.code,
      ...(problem.violations === undefined ? {} : { errors: problem.violations }),
      timestamp: new Date().toISOString(),
      path: request.url.split('?')[0],
      error: title,
      message: problem.detail,
    });
}

export function invalidInput(error: InvalidInputError, status = 400): Problem {
  return { status, code: error.code, detail: error.message, violations: error.violations };
}

/** A problem document as bytes, for the places that write to the socket themselves (before fastify has a request). */
function problemBody(problem: Problem, path: string | undefined): string {
  const title = STATUS_CODES[problem.status] ?? 'Error';
  return JSON.stringify({
    type: `urn:problem:customer-service:${problem.code.toLowerCase().replaceAll('_', '-')}`,
    title,
    status: problem.status,
    detail: problem.detail,
    code: problem.code,
    timestamp: new Date().toISOString(),
    ...(path === undefined ? {} : { path }),
    error: title,
    message: problem.detail,
  });
}

/**
 * Fastify server options that keep the errors raised before routing in the same shape as every other: a URL that is
 * not valid percent-encoding, a path parameter longer than the router takes (`frameworkErrors`), and what Node's HTTP
 * parser refuses, such as oversized headers or a malformed request (`clientErrorHandler`; fastify's default answers
 * `{"message":"Client Error"}`). The offending path is never echoed back.
 */
export const problemServerOptions = {
  frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void => {
    const problem: Problem =
      error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? { status: 414, code: 'URI_TOO_LONG', detail: 'a path parameter exceeds the length limit' }
        : error.code === 'FST_ERR_BAD_URL'
          ? { status: 400, code: 'BAD_URL', detail: 'the request path is not valid percent-encoding' }
          : { status: 400, code: 'BAD_REQUEST', detail: 'the request could not be routed' };
    void reply
      .status(problem.status)
      .type('application/problem+json')
      .send(problemBody(problem, undefined));
  },
  clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    const problem: Problem =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? { status: 408, code: 'REQUEST_TIMEOUT', detail: 'the request was not received in time' }
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? { status: 431, code: 'HEADERS_TOO_LARGE', detail: 'the request line or headers exceed the size limit' }
          : error.code === 'HPE_URI_TOO_LONG'
            ? { status: 414, code: 'URI_TOO_LONG', detail: 'the request URI exceeds the size limit' }
            : { status: 400, code: 'BAD_REQUEST', detail: 'the request is not valid HTTP' };
    const body = problemBody(problem, undefined);
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? 'Error'}\r\n` +
        `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  },
};

/** Installs the error and not-found handlers that turn everything into problem documents. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, { status: 404, code: 'ROUTE_NOT_FOUND', detail: `no route for ${request.method} ${request.url}` }),
  );
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (error instanceof HttpProblem) return sendProblem(request, reply, error.problem);
    if (error instanceof InvalidInputError) return sendProblem(request, reply, invalidInput(error));
    const problem = fromFastifyError(error as FastifyError);
    if (problem !== undefined) return sendProblem(request, reply, problem);
    if (isTransientError(error)) {
      request.log.warn({ err: error }, 'request failed on a transient error');
      void reply.header('retry-after', '1');
      return sendProblem(request, reply, { status: 503, code: 'SERVICE_UNAVAILABLE', detail: 'a dependency is unavailable; retry later' });
    }
    request.log.error({ err: error }, 'request failed');
    return sendProblem(request, reply, { status: 500, code: 'INTERNAL_ERROR', detail: 'the request could not be processed' });
  });
}

function fromFastifyError(error: FastifyError): Problem | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', detail: 'the request body exceeds the size limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 415, code: 'UNSUPPORTED_CONTENT_TYPE', detail: 'unsupported content type' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'MALFORMED_JSON', detail: 'the request body is empty' };
    case 'FST_ERR_VALIDATION':
      return { status: 400, code: 'INVALID_VALUE', detail: error.message };
    default:
      break;
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/i.test(error.message))) {
    return { status: 400, code: 'MALFORMED_JSON', detail: `the body is not valid JSON: ${error.message}` };
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return { status: error.statusCode, code: 'BAD_REQUEST', detail: error.message };
  }
  return undefined;
}
