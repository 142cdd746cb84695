/**
 * HTTP entry points of the individual-customer flow: the four ACME lookups and the intake of `UserRegistered`.
 */
import type { FastifyInstance } from 'fastify';
import type { FlowHttp } from '../platform/flow.js';
import type { IntakeHandlers, IntakeResult, TraceContext } from '../platform/http/events.routes.js';
import { jsonSchemaOf, problemResponse } from '../platform/http/openapi.js';
import { HttpProblem, invalidInput } from '../platform/http/problem.js';
import { contextFromTraceContext, inSpan, traceContextOfSpan } from '../platform/telemetry/index.js';
import { InvalidInputError } from '../platform/validation.js';
import { SpanKind } from '@opentelemetry/api';
import type { Customer } from './domain/customer.js';
import { parseCustomerNumber } from './domain/customer-number.js';
import { parseCustomerId, parseUserId } from './domain/ids.js';
import type { CustomerKey } from './customer-store.js';
import type { ActivateCustomers } from './activate-customers.js';
import type { RegisterCustomers } from './register-customers.js';
import { parseUserActivated, USER_ACTIVATED, userActivatedSchema } from './user-activated.schema.js';
import type { Metrics } from '../platform/metrics.js';
import { parseUserRegistered, USER_REGISTERED, userRegisteredSchema } from './user-registered.schema.js';
import { z } from 'zod';

/** The read side the lookups use: the read model (`CustomerReadModel.find`), projected from the event store. */
export type FindCustomer = (key: CustomerKey) => Promise<Customer | undefined>;

const emailSchema = z.email().max(254);

/** The customer document on the wire (the seed's "Initial Profile State"); documents the API and is checked in tests. */
export const customerDocumentSchema = z.object({
  customerId: z.string(),
  userId: z.string(),
  customerNumber: z.string(),
  name: z.object({ firstName: z.string(), lastName: z.string(), displayName: z.string() }),
  email: z.object({ address: z.string(), verified: z.boolean() }),
  phone: z.null(),
  status: z.enum(['PENDING_VERIFICATION', 'ACTIVE']),
  type: z.literal('INDIVIDUAL'),
  profile: z.object({
    dateOfBirth: z.string().nullable(),
    gender: z.string().nullable(),
    preferredLocale: z.string(),
    timezone: z.string(),
    preferredCurrency: z.string(),
  }),
  preferences: z.object({
    communication: z.object({ email: z.boolean(), sms: z.boolean(), push: z.boolean(), marketing: z.boolean() }),
    privacy: z.object({ shareDataWithPartners: z.boolean(), allowAnalytics: z.boolean() }),
  }),
  addresses: z.array(z.never()),
  segments: z.array(z.string()),
  registeredAt: z.string(),
  lastActivityAt: z.string(),
  profileCompleteness: z.number().int(),
});

const lookupSchema = (param: string, description: string) => ({
  tags: ['customers'],
  summary: `Customer by ${description}`,
  params: { type: 'object', properties: { [param]: { type: 'string', description } }, required: [param] },
  response: {
    200: jsonSchemaOf(customerDocumentSchema),
    400: problemResponse('Malformed key', {
      INVALID_UUID: 'a customer or user id that is not a UUID',
      INVALID_VALUE: 'a customer number not of the form PREFIX-YYYYMM-NNNNNN',
      INVALID_EMAIL: 'not an e-mail address',
    }),
    404: problemResponse('No such customer', { CUSTOMER_NOT_FOUND: 'no customer has this key' }),
  },
});

/**
 * The flow's part of the HTTP API: the four lookups, and `UserRegistered` (and, given `activate`, `UserActivated`) on
 * `POST /api/v1/events`.
 */
export function individualCustomersHttp(deps: {
  readonly register: RegisterCustomers;
  readonly activate?: ActivateCustomers;
  readonly findCustomer: FindCustomer;
  readonly metrics?: Metrics;
}): FlowHttp {
  const activation = deps.activate === undefined ? undefined : userActivatedIntake(deps.activate, deps.metrics);
  const registration = userRegisteredIntake(deps.register);
  return {
    routes: (api) => customerRoutes(api, deps.findCustomer),
    tags: [{ name: 'customers', description: 'Individual customers (ACME read API)' }],
    intake:
      activation === undefined
        ? registration
        : {
            envelopes: { ...registration.envelopes, ...activation.envelopes },
            cloudEvents: { ...registration.cloudEvents, ...activation.cloudEvents },
            documentation: {
              envelopes: { ...registration.documentation?.envelopes, ...activation.documentation?.envelopes },
              cloudEventData: { ...registration.documentation?.cloudEventData, ...activation.documentation?.cloudEventData },
              conflicts: { ...registration.documentation?.conflicts, ...activation.documentation?.conflicts },
            },
          },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The operator console's search: a UUID is tried as customer id, then user id; anything with an `@` is an e-mail;
 * anything else a customer number.
 */
export function findCustomerByQuery(findCustomer: FindCustomer): (query: string) => Promise<Customer | undefined> {
  return async (query) => {
    const keys: CustomerKey[] = UUID.test(query)
      ? [{ by: 'id', value: query.toLowerCase() } as CustomerKey, { by: 'userId', value: query.toLowerCase() } as CustomerKey]
      : query.includes('@')
        ? [{ by: 'email', value: query }]
        : [{ by: 'number', value: query.toUpperCase() } as CustomerKey];
    for (const key of keys) {
      const customer = await findCustomer(key);
      if (customer !== undefined) return customer;
    }
    return undefined;
  };
}

export function customerRoutes(app: FastifyInstance, findCustomer: FindCustomer): void {
  const lookup = async (key: CustomerKey) => {
    const customer = await findCustomer(key);
    if (customer === undefined) {
      throw new HttpProblem({ status: 404, code: 'CUSTOMER_NOT_FOUND', detail: `no customer with ${key.by} ${key.value}` });
    }
    return customer;
  };
  const badParam = (code: 'INVALID_UUID' | 'INVALID_VALUE' | 'INVALID_EMAIL', field: string, message: string) =>
    new HttpProblem(invalidInput(InvalidInputError.of(code, field, message)));

  app.get<{ Params: { customerId: string } }>('/api/v1/customers/:customerId', { schema: lookupSchema('customerId', 'customer id (UUID)'), config: { scope: 'customers:read' } }, async (request) => {
    const id = parseCustomerId(request.params.customerId);
    if (id === undefined) throw badParam('INVALID_UUID', 'customerId', 'must be a UUID');
    return lookup({ by: 'id', value: id });
  });
  app.get<{ Params: { userId: string } }>('/api/v1/customers/by-user/:userId', { schema: lookupSchema('userId', 'user id (UUID)'), config: { scope: 'customers:read' } }, async (request) => {
    const id = parseUserId(request.params.userId);
    if (id === undefined) throw badParam('INVALID_UUID', 'userId', 'must be a UUID');
    return lookup({ by: 'userId', value: id });
  });
  app.get<{ Params: { customerNumber: string } }>('/api/v1/customers/by-number/:customerNumber', { schema: lookupSchema('customerNumber', 'customer number (ACME-YYYYMM-NNNNNN)'), config: { scope: 'customers:read' } }, async (request) => {
    const number = parseCustomerNumber(request.params.customerNumber);
    if (number === undefined) throw badParam('INVALID_VALUE', 'customerNumber', 'must look like ACME-YYYYMM-NNNNNN');
    return lookup({ by: 'number', value: number.value });
  });
  app.get<{ Params: { email: string } }>('/api/v1/customers/by-email/:email', { schema: lookupSchema('email', 'e-mail address'), config: { scope: 'customers:read' } }, async (request) => {
    const email = emailSchema.safeParse(request.params.email);
    if (!email.success) throw badParam('INVALID_EMAIL', 'email', 'must be an e-mail address');
    return lookup({ by: 'email', value: email.data });
  });
}

/** `UserRegistered` over HTTP: as a plain envelope, or as the `data` of a `com.acme.identity.user.registered` CloudEvent. */
export function userRegisteredIntake(register: RegisterCustomers): IntakeHandlers {
  // Over HTTP, as over Kafka, the consumption of the event is the `consume_user_registered_event` span (a child of
  // the caller's traceparent), so one registration has the same span chain whatever transport brought it.
  const handle = (body: unknown, trace: TraceContext, fieldPrefix: string): Promise<IntakeResult> =>
    inSpan(
      'consume_user_registered_event',
      { parent: contextFromTraceContext(trace), kind: SpanKind.SERVER, attributes: { 'messaging.system': 'http' } },
      (span) => consume(body, traceContextOfSpan(span), fieldPrefix, (eventId) => span.setAttribute('messaging.message.id', eventId)),
    );
  const consume = async (body: unknown, trace: TraceContext, fieldPrefix: string, identify: (eventId: string) => void): Promise<IntakeResult> => {
    const parsed = parseUserRegistered(body, fieldPrefix);
    if (!parsed.ok) {
      const status = parsed.error.code === 'UNSUPPORTED_EVENT_TYPE' ? 415 : 400;
      throw new HttpProblem(invalidInput(parsed.error, status));
    }
    identify(parsed.value.eventId);
    const [result] = await register([{ event: parsed.value, trace, source: { transport: 'http' } }]);
    if (result === undefined) throw new Error('registration returned no result');
    switch (result.outcome) {
      case 'created':
      case 'duplicate':
        return {
          outcome: result.outcome,
          body: { customerId: result.customer.customerId, customerNumber: result.customer.customerNumber },
        };
      case 'rejected':
        throw new HttpProblem({ ...invalidInput(result.error), status: 409 });
      case 'failed':
        throw result.error;
      default:
        return assertNever(result);
    }
  };
  return {
    envelopes: { [USER_REGISTERED]: (body, trace) => handle(body, trace, '') },
    cloudEvents: { 'com.acme.identity.user.registered': (event, trace) => handle(event.data, trace, 'data') },
    documentation: {
      envelopes: { [USER_REGISTERED]: jsonSchemaOf(userRegisteredSchema, 'input') },
      cloudEventData: { 'com.acme.identity.user.registered': jsonSchemaOf(userRegisteredSchema, 'input') },
      conflicts: { INVALID_VALUE: 'the eventId was already processed for another user' },
    },
  };
}

/**
 * `UserActivated` over HTTP (US-0002-06): as a plain envelope, or as the `data` of a `com.acme.identity.user.activated`
 * CloudEvent. 200 `activated` or `duplicate`; 409 `CUSTOMER_NOT_FOUND` when the user has no customer (nothing written:
 * the caller sends it again once the registration is in); 400 with the reason codes of registration.
 */
export function userActivatedIntake(activate: ActivateCustomers, metrics?: Metrics): IntakeHandlers {
  const handle = (body: unknown, trace: TraceContext, fieldPrefix: string): Promise<IntakeResult> =>
    inSpan(
      'consume_user_activated_event',
      { parent: contextFromTraceContext(trace), kind: SpanKind.SERVER, attributes: { 'messaging.system': 'http' } },
      (span) => consume(body, traceContextOfSpan(span), fieldPrefix, (eventId) => span.setAttribute('messaging.message.id', eventId)),
    );
  const consume = async (body: unknown, trace: TraceContext, fieldPrefix: string, identify: (eventId: string) => void): Promise<IntakeResult> => {
    const parsed = parseUserActivated(body, fieldPrefix);
    if (!parsed.ok) {
      metrics?.customerActivated.inc({ status: 'rejected' });
      const status = parsed.error.code === 'UNSUPPORTED_EVENT_TYPE' ? 415 : 400;
      throw new HttpProblem(invalidInput(parsed.error, status));
    }
    identify(parsed.value.eventId);
    const [result] = await activate([{ event: parsed.value, trace, source: { transport: 'http' } }]);
    if (result === undefined) throw new Error('activation returned no result');
    switch (result.outcome) {
      case 'activated':
      case 'duplicate':
        return {
          outcome: result.outcome,
          body: { customerId: result.customer.customerId, customerNumber: result.customer.customerNumber, status: result.customer.status },
        };
      case 'customer-not-found':
        throw new HttpProblem({
          status: 409,
          code: 'CUSTOMER_NOT_FOUND',
          detail: `no customer for user ${parsed.value.payload.userId}: register the user first, then send the activation again`,
        });
      case 'failed':
        throw result.error;
      default:
        return assertNever(result);
    }
  };
  return {
    envelopes: { [USER_ACTIVATED]: (body, trace) => handle(body, trace, '') },
    cloudEvents: { 'com.acme.identity.user.activated': (event, trace) => handle(event.data, trace, 'data') },
    documentation: {
      envelopes: { [USER_ACTIVATED]: jsonSchemaOf(userActivatedSchema, 'input') },
      cloudEventData: { 'com.acme.identity.user.activated': jsonSchemaOf(userActivatedSchema, 'input') },
      conflicts: { CUSTOMER_NOT_FOUND: 'the user has no customer yet: nothing was written; send it again after the registration' },
    },
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
