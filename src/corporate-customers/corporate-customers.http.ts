/**
 * HTTP entry points of the corporate flow: `GET /api/v1/corporate-customers/{id}` and the intake of the
 * `disco.knapscen.customer.registered` CloudEvent by `POST /api/v1/events`.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { FlowHttp } from '../platform/flow.js';
import type { IntakeHandlers } from '../platform/http/events.routes.js';
import { jsonSchemaOf, problemResponse } from '../platform/http/openapi.js';
import { HttpProblem, invalidInput } from '../platform/http/problem.js';
import { InvalidInputError } from '../platform/validation.js';
import { companyDataSchema, parseCustomerRegistered } from './customer-registered.schema.js';
import { parseCompanyId, SUBSCRIPTION_TIERS, USER_ROLES, type Company, type CompanyId } from './domain/company.js';
import { customerSavedData, CUSTOMER_REGISTERED_TYPE } from './domain/events.js';
import type { RegisterCorporateCustomer } from './register-corporate-customer.js';

export type FindCompany = (id: CompanyId) => Promise<Company | undefined>;

/** The company on the wire: the `customer-saved` data, plus when it registered. */
export const companyDocumentSchema = z.object({
  customer_id: z.string(),
  name: z.string(),
  subscription_tier: z.enum(SUBSCRIPTION_TIERS),
  users: z.array(z.object({ user_id: z.string(), name: z.string(), email: z.string(), role: z.enum(USER_ROLES) })),
  registered_at: z.string(),
});

export function companyDocument(company: Company): z.output<typeof companyDocumentSchema> {
  const data = customerSavedData(company);
  return { ...data, users: [...data.users], registered_at: company.registeredAt };
}

/** The flow's part of the HTTP API: the company lookup, and the knapscen CloudEvent on `POST /api/v1/events`. */
export function corporateCustomersHttp(deps: { readonly register: RegisterCorporateCustomer; readonly findCompany: FindCompany }): FlowHttp {
  return {
    routes: (api) => corporateCustomerRoutes(api, deps.findCompany),
    intake: customerRegisteredIntake(deps.register),
    tags: [{ name: 'corporate customers', description: 'Corporate customers (knapscen)' }],
  };
}

export function corporateCustomerRoutes(app: FastifyInstance, findCompany: FindCompany): void {
  app.get<{ Params: { id: string } }>(
    '/api/v1/corporate-customers/:id',
    {
      config: { scope: 'customers:read' },
      schema: {
        tags: ['corporate customers'],
        summary: 'Corporate customer (company) with its users',
        params: { type: 'object', properties: { id: { type: 'string', description: 'company id (UUID)' } }, required: ['id'] },
        response: {
          200: jsonSchemaOf(companyDocumentSchema),
          400: problemResponse('Malformed id', { INVALID_UUID: 'the id is not a UUID' }),
          404: problemResponse('No such company', { CUSTOMER_NOT_FOUND: 'no corporate customer has this id' }),
        },
      },
    },
    async (request) => {
      const id = parseCompanyId(request.params.id);
      if (id === undefined) throw new HttpProblem(invalidInput(InvalidInputError.of('INVALID_UUID', 'id', 'must be a UUID')));
      const company = await findCompany(id);
      if (company === undefined) {
        throw new HttpProblem({ status: 404, code: 'CUSTOMER_NOT_FOUND', detail: `no corporate customer with id ${id}` });
      }
      return companyDocument(company);
    },
  );
}

/** The knapscen CloudEvent over HTTP (structured or binary); 201 created, 200 duplicate, 409 `EMAIL_TAKEN`. */
export function customerRegisteredIntake(register: RegisterCorporateCustomer): IntakeHandlers {
  return {
    documentation: {
      cloudEventData: { [CUSTOMER_REGISTERED_TYPE]: jsonSchemaOf(companyDataSchema, 'input') },
      invalidInput: {
        UNKNOWN_TIER: 'a subscription_tier other than basic, groovy, far-out',
        UNKNOWN_ROLE: 'a user role that is not known',
        DUPLICATE_EMAIL: 'two users of one registration share an e-mail',
      },
      conflicts: {
        EMAIL_TAKEN: 'a user e-mail already belongs to another company',
        INVALID_VALUE: 'the event id was already processed for another company',
      },
    },
    cloudEvents: {
      [CUSTOMER_REGISTERED_TYPE]: async (event, trace) => {
        const parsed = parseCustomerRegistered(event);
        if (!parsed.ok) throw new HttpProblem(invalidInput(parsed.error));
        const result = await register({ registration: parsed.value, trace, source: { transport: 'http' } });
        switch (result.outcome) {
          case 'created':
          case 'duplicate':
            return { outcome: result.outcome, body: { customerId: result.company.customerId } };
          case 'rejected':
            // A registration the knapscen mirror cannot hold is invalid here (400); the others conflict with data (409).
            throw new HttpProblem({ ...invalidInput(result.error), status: result.error.code === 'NOT_MIRRORABLE' ? 400 : 409 }, { outcomeLogged: true });
          default:
            return assertNever(result);
        }
      },
    },
  };
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
