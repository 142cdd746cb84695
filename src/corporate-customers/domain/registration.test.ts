import { describe, expect, it } from 'vitest';
import { newCompany, type Company, type CompanyId } from './company.js';
import { decideCompanyRegistration, emailsOf, type CompanyRegistrationState, type RegisterCompany } from './registration.js';

// Given / when / then: what the command store holds, the registration, the decision.
const COMPANY_ID = '550e8400-e29b-41d4-a716-446655440000' as CompanyId;

const registration: RegisterCompany = {
  companyId: COMPANY_ID,
  company: {
    name: 'TechCorp Solutions',
    subscriptionTier: 'far-out',
    users: [
      { name: 'John Smith', email: 'John.Smith@TechCorp.com', role: 'customer_account_owner' },
      { name: 'Jane Doe', email: 'jane.doe@techcorp.com', role: 'admin_user' },
    ],
  },
  time: '2025-10-04T12:00:00Z',
};

const registered: Company = newCompany(registration.company, COMPANY_ID, () => 'u-existing', '2025-10-01T09:00:00Z');

const given = (state: Partial<CompanyRegistrationState> = {}): CompanyRegistrationState => ({
  alreadyProcessed: false,
  company: undefined,
  takenEmails: new Set(),
  ...state,
});

/** Ids in the order they are asked for: id-1, id-2, … */
function context(overrides: { publishEmails?: boolean } = {}) {
  let next = 0;
  return { newId: () => `id-${++next}`, now: new Date('2025-10-04T12:00:01.250Z'), publishEmails: overrides.publishEmails ?? true };
}

describe('corporate registration decision', () => {
  describe('given a company that is not registered and e-mails no one uses', () => {
    it('when registered, then the company and its users are created, registered at the event time, with one CorporateCustomerRegistered', () => {
      const decision = decideCompanyRegistration(given(), registration, context());
      if (decision.outcome !== 'created') throw new Error(`expected created, got ${decision.outcome}`);
      expect(decision.company).toStrictEqual({
        customerId: COMPANY_ID,
        name: 'TechCorp Solutions',
        subscriptionTier: 'far-out',
        users: [
          { userId: 'id-1', name: 'John Smith', email: 'John.Smith@TechCorp.com', role: 'customer_account_owner' },
          { userId: 'id-2', name: 'Jane Doe', email: 'jane.doe@techcorp.com', role: 'admin_user' },
        ],
        registeredAt: '2025-10-04T12:00:00Z',
      });
      expect(decision.event).toMatchObject({
        eventId: 'id-6',
        eventType: 'CorporateCustomerRegistered',
        aggregateId: COMPANY_ID,
        aggregateType: 'CorporateCustomer',
        timestamp: '2025-10-04T12:00:01.250Z',
        payload: { customer_id: COMPANY_ID, registered_at: '2025-10-04T12:00:00Z' },
      });
    });

    it('when registered, then one customer-saved and one user-saved per user are emitted, in the users’ order', () => {
      const decision = decideCompanyRegistration(given(), registration, context());
      if (decision.outcome !== 'created') throw new Error(`expected created, got ${decision.outcome}`);
      expect(decision.customerSaved).toMatchObject({ id: 'id-3', type: 'disco.knapscen.customer.saved', subject: COMPANY_ID });
      expect(decision.userSaved.map((event) => [event.id, event.subject, event.data.user_name])).toEqual([
        ['id-4', 'user-id-1', 'John Smith'],
        ['id-5', 'user-id-2', 'Jane Doe'],
      ]);
      expect(decision.userSaved[0]?.data).toMatchObject({ user_email: 'John.Smith@TechCorp.com' });
    });

    it('when the event has no time, then the company is registered at the clock’s instant', () => {
      const withoutTime: RegisterCompany = { companyId: registration.companyId, company: registration.company };
      const decision = decideCompanyRegistration(given(), withoutTime, context());
      expect(decision).toMatchObject({ outcome: 'created', company: { registeredAt: '2025-10-04T12:00:01.250Z' } });
    });

    it('when e-mails must not be published, then the CloudEvents leave them out (the company keeps them)', () => {
      const decision = decideCompanyRegistration(given(), registration, context({ publishEmails: false }));
      if (decision.outcome !== 'created') throw new Error(`expected created, got ${decision.outcome}`);
      expect(decision.company.users[0]?.email).toBe('John.Smith@TechCorp.com');
      expect(JSON.stringify([decision.customerSaved, decision.userSaved])).not.toContain('@');
    });
  });

  describe('given the company is registered', () => {
    it('when the event that registered it is delivered again, then it is a redelivery returning the company', () => {
      expect(decideCompanyRegistration(given({ alreadyProcessed: true, company: registered }), registration, context())).toStrictEqual({
        outcome: 'duplicate',
        reason: 'redelivered',
        company: registered,
      });
    });

    it('when another event registers it again, then it is a duplicate (company-already-registered), even with e-mails now taken', () => {
      const state = given({ company: registered, takenEmails: new Set(emailsOf(registration)) });
      expect(decideCompanyRegistration(state, registration, context())).toStrictEqual({
        outcome: 'duplicate',
        reason: 'company-already-registered',
        company: registered,
      });
    });
  });

  describe('given the event was processed but its company is gone (removed by hand)', () => {
    it('when delivered again, then it is rejected (INVALID_VALUE on id) rather than registered again', () => {
      expect(decideCompanyRegistration(given({ alreadyProcessed: true }), registration, context())).toStrictEqual({
        outcome: 'rejected',
        rejections: [{ code: 'INVALID_VALUE', field: 'id', message: 'this event id was already processed for another company' }],
      });
    });
  });

  describe('given e-mails used by users of another company', () => {
    it('when registered, then it is rejected with EMAIL_TAKEN for each such user (compared without case), and nothing is created', () => {
      const state = given({ takenEmails: new Set(['john.smith@techcorp.com', 'jane.doe@techcorp.com']) });
      expect(decideCompanyRegistration(state, registration, context())).toStrictEqual({
        outcome: 'rejected',
        rejections: [
          { code: 'EMAIL_TAKEN', field: 'data.users.0.email', message: 'is already used by a user of another company' },
          { code: 'EMAIL_TAKEN', field: 'data.users.1.email', message: 'is already used by a user of another company' },
        ],
      });
    });

    it('when only the second user’s e-mail is taken, then only that user is named', () => {
      const decision = decideCompanyRegistration(given({ takenEmails: new Set(['jane.doe@techcorp.com']) }), registration, context());
      expect(decision).toMatchObject({ outcome: 'rejected', rejections: [{ code: 'EMAIL_TAKEN', field: 'data.users.1.email' }] });
    });
  });

  describe('the e-mails a registration takes', () => {
    it('are its users’ addresses, lower-cased, in order: the keys it locks and looks up', () => {
      expect(emailsOf(registration)).toEqual(['john.smith@techcorp.com', 'jane.doe@techcorp.com']);
    });
  });
});
