-- Invariant 7: a node's records never meet another node's. Every node
-- lnurld has been pointed at, with its own settle index; exactly one is
-- current (the partial unique index), the others are retired by
-- `lnurld node switch`. The first start after this migration records the
-- node it finds and takes over the old global settle index for it.
CREATE TABLE nodes (
    pubkey TEXT PRIMARY KEY NOT NULL,
    network TEXT NOT NULL,
    settle_index BIGINT NOT NULL,
    is_current BOOLEAN NOT NULL,
    recorded_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX nodes_one_current ON nodes (is_current) WHERE is_current;

-- The node a pay invoice was issued by (NULL until the first start records
-- the node, which then claims every NULL row).
ALTER TABLE pay_invoices ADD COLUMN node_pubkey TEXT;

-- The node a withdrawal was handed to (NULL while `pending`: never sent),
-- and the new state `needs_review` (in flight on a node lnurld was switched
-- away from; never paid or given back automatically). SQLite cannot alter a
-- CHECK, so the table is rebuilt.
CREATE TABLE withdrawals_new (
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
    node_pubkey TEXT,
    CHECK (state IN ('pending', 'in_flight', 'succeeded', 'failed', 'needs_review'))
);
INSERT INTO withdrawals_new (id, link_id, payment_hash, bolt11, amount_msat, max_fee_msat, state,
    fee_msat, preimage, failure_reason, attempts, lease_owner, lease_until, created_at, updated_at,
    completed_at)
SELECT id, link_id, payment_hash, bolt11, amount_msat, max_fee_msat, state,
    fee_msat, preimage, failure_reason, attempts, lease_owner, lease_until, created_at, updated_at,
    completed_at
FROM withdrawals;
DROP TABLE withdrawals;
ALTER TABLE withdrawals_new RENAME TO withdrawals;
CREATE INDEX withdrawals_link ON withdrawals (link_id, created_at);
CREATE INDEX withdrawals_state ON withdrawals (state, lease_until);
CREATE INDEX withdrawals_completed ON withdrawals (state, completed_at);
