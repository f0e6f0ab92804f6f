-- Offline receive (issue 14): phone wallets that register a push webhook
-- and get a Lightning Address served while they sleep.

-- One registration per wallet pubkey (66 hex, compressed secp256k1). The
-- username shares the LUD-16 namespace of pay_links.username: the service
-- checks the other table in the same transaction.
CREATE TABLE offline_registrations (
    pubkey TEXT PRIMARY KEY NOT NULL,
    username TEXT UNIQUE,
    webhook_url TEXT NOT NULL,
    webhook_host TEXT NOT NULL,
    offer TEXT,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL
);

-- Every signed statement is acted on once: sha256(pubkey || 0x00 ||
-- message) is claimed before the registration changes. A row is useless
-- once its time window has passed, so it carries its own expiry.
CREATE TABLE offline_claims (
    statement_hash TEXT PRIMARY KEY NOT NULL,
    pubkey TEXT NOT NULL,
    route TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX offline_claims_expires_at ON offline_claims (expires_at);

-- A username its owner released (changed or unregistered) stays theirs
-- until held_until, so payers are not sent to a stranger who takes it.
CREATE TABLE offline_name_holds (
    name TEXT PRIMARY KEY NOT NULL,
    pubkey TEXT NOT NULL,
    held_until BIGINT NOT NULL
);
