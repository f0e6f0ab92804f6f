-- LUD-21 verify through the phone (issue 14). An invoice a phone gave with
-- lnurld's verify URL is kept here, written in the transaction that relays
-- it, so a verify request for it can be pushed to the phone (and nothing is
-- pushed for hashes lnurld never relayed). preimage is set once the phone
-- proves the payment (sha256(preimage) = payment_hash): from then on lnurld
-- answers alone. While unsettled, the last answer is served again until
-- verify_cached_until (the phone's max-age, at most 24 h). Rows are purged
-- 30 days after the invoice expires.
CREATE TABLE offline_invoices (
    payment_hash TEXT PRIMARY KEY NOT NULL,
    pubkey TEXT NOT NULL,
    bolt11 TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    preimage TEXT,
    verify_body TEXT,
    verify_cached_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX offline_invoices_expires_at ON offline_invoices (expires_at);

-- A verify request's payment hash (its coalesce key is "verify:<hash>").
ALTER TABLE offline_requests ADD COLUMN verify_hash TEXT;
