import type { Migration } from './migration.js';

/**
 * The query side: projector checkpoints and the PostgreSQL read model of customers (used when MongoDB is not
 * configured).
 */
export const readModel: Migration = {
  version: 2,
  name: 'read-model',
  sql: /* sql */ `
-- One row per generation of a projection. Exactly one generation is 'active' (serves reads and is kept current by the
-- projector); a rebuild fills a 'building' one and switches it to 'active' in one transaction. The checkpoint is the
-- (transaction_id, global_position) of the last event applied, in the order the projector reads the event store.
CREATE TABLE projection_checkpoints (
    projection TEXT NOT NULL,
    generation INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'building', 'retired')),
    transaction_id XID8 NOT NULL DEFAULT '0',
    global_position BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (projection, generation)
);
CREATE UNIQUE INDEX idx_projection_checkpoints_active ON projection_checkpoints (projection) WHERE state = 'active';
INSERT INTO projection_checkpoints (projection, generation, state) VALUES ('customers', 1, 'active');

-- The customer documents of the API, one set per generation. The lookup columns are copies of document fields, so
-- each of the four lookups is one index probe.
CREATE TABLE customer_documents (
    generation INTEGER NOT NULL,
    customer_id UUID NOT NULL,
    user_id UUID NOT NULL,
    customer_number TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    status TEXT NOT NULL,
    registered_at TIMESTAMP WITH TIME ZONE NOT NULL,
    version INTEGER NOT NULL,
    document JSONB NOT NULL,
    PRIMARY KEY (generation, customer_id),
    UNIQUE (generation, user_id),
    UNIQUE (generation, customer_number)
);
-- Several users may share an address; the earliest registration answers, so the index also orders by it.
CREATE INDEX idx_customer_documents_email ON customer_documents (generation, email_lower, registered_at, customer_number);
CREATE INDEX idx_customer_documents_status ON customer_documents (generation, status);
`,
};
