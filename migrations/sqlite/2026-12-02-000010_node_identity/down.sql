CREATE TABLE withdrawals_old (
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
-- Rows under review go back to in_flight: the old code tracks them.
INSERT INTO withdrawals_old
SELECT id, link_id, payment_hash, bolt11, amount_msat, max_fee_msat,
    CASE state WHEN 'needs_review' THEN 'in_flight' ELSE state END,
    fee_msat, preimage, failure_reason, attempts, lease_owner, lease_until, created_at, updated_at,
    completed_at
FROM withdrawals;
DROP TABLE withdrawals;
ALTER TABLE withdrawals_old RENAME TO withdrawals;
CREATE INDEX withdrawals_link ON withdrawals (link_id, created_at);
CREATE INDEX withdrawals_state ON withdrawals (state, lease_until);
CREATE INDEX withdrawals_completed ON withdrawals (state, completed_at);
ALTER TABLE pay_invoices DROP COLUMN node_pubkey;
DROP TABLE nodes;
