import type { Migration } from './migration.js';

/**
 * The corporate flow's command store (SPEC §3 "Corporate customer"): companies, their users and the three seeded
 * roles. Unlike knapscen's schema, e-mails are unique across all corporate users regardless of case, and may be as long
 * as an address can be (254).
 */
export const corporateCustomers: Migration = {
  version: 3,
  name: 'corporate-customers',
  sql: /* sql */ `
CREATE TABLE user_roles (
    id SMALLINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO user_roles (id, name) VALUES (1, 'customer_account_owner'), (2, 'admin_user'), (3, 'generic_user');

CREATE TABLE companies (
    id UUID PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    subscription_tier TEXT NOT NULL CHECK (subscription_tier IN ('basic', 'groovy', 'far-out')),
    registered_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE TABLE company_users (
    id UUID PRIMARY KEY,
    customer_id UUID NOT NULL REFERENCES companies (id),
    role_id SMALLINT NOT NULL REFERENCES user_roles (id),
    name VARCHAR(64) NOT NULL,
    email VARCHAR(254) NOT NULL,
    -- The user's place in the registration, so the company's users come back in the order they were sent.
    position SMALLINT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    UNIQUE (customer_id, position)
);
CREATE UNIQUE INDEX idx_company_users_email ON company_users (lower(email));
`,
};
