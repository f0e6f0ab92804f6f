-- Webhooks: an outbox of events written in the same transaction as the state
-- change that causes them, every delivery attempt, and one signing secret per
-- endpoint URL (stored encrypted with the server key, never in clear).
-- Portable types only; keep in step with migrations/postgres.
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    -- The exact JSON body POSTed (envelope with id, type, created_at, data).
    payload TEXT NOT NULL,
    -- Resolved when the event is written: the link's webhook_url, else the
    -- global [webhooks] url; NULL when neither is set (state no_target).
    target_url TEXT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    -- Start of the retry window ([webhooks] max_age_secs); reset by redeliver.
    retry_from BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT,
    CHECK (state IN ('pending', 'delivered', 'failed', 'no_target'))
);
CREATE INDEX events_due ON events (state, next_attempt_at);
CREATE INDEX events_created ON events (created_at, id);

CREATE TABLE event_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    -- 1 for the first attempt of the event, 2 for the second, ...
    attempt_no BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL,
    url TEXT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX event_attempts_event ON event_attempts (event_id, attempt_no);

CREATE TABLE webhook_endpoints (
    url TEXT PRIMARY KEY NOT NULL,
    secret_enc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);

-- Set by the expiry sweeper when it emits invoice.expired (the state column
-- stays 'open': a settlement learned late still wins).
ALTER TABLE pay_invoices ADD COLUMN expired_at BIGINT;
-- Invoices that ran out before webhooks existed get no invoice.expired.
UPDATE pay_invoices SET expired_at = expires_at
    WHERE state = 'open' AND expires_at <= CAST(strftime('%s', 'now') AS INTEGER);
