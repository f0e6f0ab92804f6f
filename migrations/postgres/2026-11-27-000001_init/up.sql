-- Portable schema: timestamps are unix seconds (BIGINT), ids are TEXT,
-- amounts are msat (BIGINT). Keep in step with migrations/postgres.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE withdraw_links (
    id TEXT PRIMARY KEY NOT NULL,
    secret_lookup TEXT NOT NULL UNIQUE,
    secret_enc TEXT NOT NULL,
    min_msat BIGINT NOT NULL,
    max_msat BIGINT NOT NULL,
    uses_total BIGINT NOT NULL,
    uses_left BIGINT NOT NULL,
    wait_seconds BIGINT NOT NULL,
    next_use_at BIGINT NOT NULL,
    expires_at BIGINT,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    webhook_url TEXT,
    external_id TEXT UNIQUE,
    batch_id TEXT,
    balance_check BOOLEAN NOT NULL,
    pay_link TEXT,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (uses_left >= 0 AND uses_left <= uses_total),
    CHECK (min_msat >= 1 AND min_msat <= max_msat)
);
CREATE INDEX withdraw_links_batch ON withdraw_links (batch_id);
CREATE INDEX withdraw_links_created ON withdraw_links (created_at, id);

CREATE TABLE withdrawals (
    id TEXT PRIMARY KEY NOT NULL,
    link_id TEXT NOT NULL REFERENCES withdraw_links (id),
    payment_hash TEXT NOT NULL UNIQUE,
    bolt11 TEXT NOT NULL,
    amount_msat BIGINT NOT NULL,
    max_fee_msat BIGINT NOT NULL,
    state TEXT NOT NULL,
    fee_msat BIGINT,
    preimage TEXT,
    failure_reason TEXT,
    attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT,
    CHECK (state IN ('pending', 'in_flight', 'succeeded', 'failed'))
);
CREATE INDEX withdrawals_link ON withdrawals (link_id, created_at);
CREATE INDEX withdrawals_state ON withdrawals (state, lease_until);
