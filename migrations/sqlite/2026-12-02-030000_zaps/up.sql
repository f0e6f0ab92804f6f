-- NIP-57 zaps. A pay link may turn zaps off (on by default while
-- [nostr] enabled = true).
ALTER TABLE pay_links ADD COLUMN allows_nostr BOOLEAN NOT NULL DEFAULT TRUE;

-- The zap request (kind 9734) exactly as the wallet sent it: the invoice's
-- description hash is sha256 of these bytes, and the receipt quotes them.
-- The signed receipt (kind 9735) is written in the settlement's own
-- transaction, so every retry publishes the very same event.
ALTER TABLE pay_invoices ADD COLUMN zap_request TEXT;
ALTER TABLE pay_invoices ADD COLUMN zap_receipt TEXT;

-- The publishing outbox: one row per (invoice, relay), written with the
-- settlement, leased by the zap worker as webhook events are.
CREATE TABLE zap_publications (
    id TEXT PRIMARY KEY NOT NULL,
    payment_hash TEXT NOT NULL REFERENCES pay_invoices (payment_hash),
    relay TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'published', 'failed')),
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    give_up_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    published_at BIGINT,
    UNIQUE (payment_hash, relay)
);
CREATE INDEX zap_publications_due ON zap_publications (state, next_attempt_at);
