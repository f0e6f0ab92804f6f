-- A payer's request relayed to a sleeping phone, waiting for its reply.
-- The reply URL carries a 256-bit random token; only its sha256 is kept.
-- coalesce_key is set ("info:<pubkey>") while an info request waits, so
-- concurrent payers of one wallet share one row and one push; it is
-- cleared when the row is answered or expires. invoice_hash is UNIQUE: no
-- invoice is ever relayed to two payers.
CREATE TABLE offline_requests (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    pubkey TEXT NOT NULL,
    kind TEXT NOT NULL,
    coalesce_key TEXT UNIQUE,
    amount_msat BIGINT,
    comment TEXT,
    callback TEXT NOT NULL,
    state TEXT NOT NULL,
    answer TEXT,
    invoice_hash TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL
);
CREATE INDEX offline_requests_deadline ON offline_requests (deadline);

-- The last pay request a phone answered: served again while its max-age
-- (at most 24 h) lasts, and its metadata (and the one before) checked
-- against every invoice's description hash.
CREATE TABLE offline_info (
    pubkey TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    metadata TEXT NOT NULL,
    prev_metadata TEXT,
    min_msat BIGINT NOT NULL,
    max_msat BIGINT NOT NULL,
    cached_until BIGINT NOT NULL
);
