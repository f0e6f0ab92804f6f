-- A voucher batch as a unit: its parameters (the same for every voucher)
-- and the caller's idempotency key, UNIQUE so that two racing retries make
-- one batch. Batches made before this migration get their row from their
-- links (they had no external_id).
CREATE TABLE withdraw_batches (
    id TEXT PRIMARY KEY NOT NULL,
    external_id TEXT UNIQUE,
    voucher_count BIGINT NOT NULL,
    min_msat BIGINT NOT NULL,
    max_msat BIGINT NOT NULL,
    uses BIGINT NOT NULL,
    wait_seconds BIGINT NOT NULL,
    expires_at BIGINT,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    webhook_url TEXT,
    balance_check BOOLEAN NOT NULL,
    pay_link TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX withdraw_batches_created ON withdraw_batches (created_at, id);
INSERT INTO withdraw_batches (id, external_id, voucher_count, min_msat, max_msat, uses,
    wait_seconds, expires_at, title, description, webhook_url, balance_check,
    pay_link, created_at)
SELECT batch_id, NULL, COUNT(*), MIN(min_msat), MAX(max_msat), MAX(uses_total),
    MAX(wait_seconds), MAX(expires_at), MIN(title), MIN(description),
    MIN(webhook_url), MAX(balance_check), MIN(pay_link), MIN(created_at)
FROM withdraw_links WHERE batch_id IS NOT NULL GROUP BY batch_id;
