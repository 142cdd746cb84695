import type { Migration } from './migration.js';

/**
 * The command store of the seed (customers, preferences, number sequences) and the shared mechanisms every flow uses:
 * the event store, the inbox, the outbox and the dead-letter store.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  sql: /* sql */ `
CREATE TABLE customers (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL UNIQUE,
    -- The seed's VARCHAR(20) cannot hold a 16-character prefix or a widened 7-digit sequence.
    customer_number VARCHAR(40) NOT NULL UNIQUE,
    first_name VARCHAR(50) NOT NULL,
    last_name VARCHAR(50) NOT NULL,
    display_name VARCHAR(101) NOT NULL,
    email VARCHAR(254) NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    phone_country_code VARCHAR(5),
    phone_number VARCHAR(20),
    phone_verified BOOLEAN DEFAULT FALSE,
    status VARCHAR(50) NOT NULL DEFAULT 'PENDING_VERIFICATION',
    type VARCHAR(50) NOT NULL DEFAULT 'INDIVIDUAL',
    date_of_birth DATE,
    gender VARCHAR(20),
    preferred_locale VARCHAR(10) NOT NULL DEFAULT 'en-US',
    timezone VARCHAR(50) NOT NULL DEFAULT 'UTC',
    preferred_currency VARCHAR(3) NOT NULL DEFAULT 'USD',
    profile_completeness INTEGER NOT NULL DEFAULT 25,
    registered_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_activity_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
-- user_id and customer_number are indexed by their UNIQUE constraints; e-mail lookups ignore case.
CREATE INDEX idx_customers_email ON customers (lower(email));
CREATE INDEX idx_customers_status ON customers (status);

CREATE TABLE customer_preferences (
    customer_id UUID PRIMARY KEY REFERENCES customers (id),
    email_notifications BOOLEAN NOT NULL DEFAULT TRUE,
    sms_notifications BOOLEAN NOT NULL DEFAULT FALSE,
    push_notifications BOOLEAN NOT NULL DEFAULT FALSE,
    marketing_communications BOOLEAN NOT NULL DEFAULT FALSE,
    share_data_with_partners BOOLEAN NOT NULL DEFAULT FALSE,
    allow_analytics BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

CREATE TABLE customer_number_sequences (
    year_month VARCHAR(6) PRIMARY KEY,
    current_value INTEGER NOT NULL DEFAULT 0
);

-- Append-only log of every domain event. transaction_id lets a reader stop before any transaction still in flight,
-- so an event that commits after a later global position is never skipped.
CREATE TABLE event_store (
    global_position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id XID8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_type TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id UUID NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload JSONB NOT NULL,
    -- correlationId, causationId, traceparent and where the causing message came from.
    metadata JSONB NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    -- clock_timestamp(), not now(): the moment of the append, close to commit, for lag measurements.
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX idx_event_store_transaction ON event_store (transaction_id, global_position);

-- Input messages whose effect has committed: the first line of exactly-once processing.
CREATE TABLE inbox (
    consumer TEXT NOT NULL,
    message_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    processed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    PRIMARY KEY (consumer, message_id)
);

-- Messages to publish, written in the same transaction as the events they carry. payload is JSON (not JSONB) so
-- the bytes published are exactly the bytes written, key order included.
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id UUID NOT NULL,
    destination TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    message_key TEXT,
    headers JSONB NOT NULL DEFAULT '{}',
    payload JSON NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    published_at TIMESTAMP WITH TIME ZONE,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (event_id, destination)
);
CREATE INDEX idx_outbox_pending ON outbox (destination, id) WHERE published_at IS NULL;

-- Input that could not be processed: the original bytes and headers, why, and what became of it.
CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transport TEXT NOT NULL,
    source TEXT NOT NULL,
    partition INTEGER,
    message_offset TEXT,
    message_key BYTEA,
    headers JSONB NOT NULL DEFAULT '{}',
    payload BYTEA NOT NULL,
    message_id TEXT,
    reason_code TEXT NOT NULL,
    error_message TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'replayed', 'discarded')),
    first_failed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    parked_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    resolved_at TIMESTAMP WITH TIME ZONE,
    resolution TEXT
);
CREATE INDEX idx_dead_letters_status ON dead_letters (status, id);
CREATE INDEX idx_dead_letters_reason ON dead_letters (reason_code);
`,
};
