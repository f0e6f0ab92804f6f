-- Bounded resources (issue 10). Portable; keep in step with the other backend.

-- The open-invoice cap counts a link's open, unexpired invoices on every
-- pay callback: (link, state, expires_at) answers it from the index alone.
CREATE INDEX pay_invoices_link_open ON pay_invoices (pay_link_id, state, expires_at);

-- The expiry sweeper reads open invoices not yet marked expired, oldest
-- expiry first, in keyset batches; invoices it has marked leave this range,
-- so a pass never walks over what earlier passes did. Retention reads the
-- marked ones by expired_at through the same index.
CREATE INDEX pay_invoices_due ON pay_invoices (state, expired_at, expires_at, payment_hash);

-- LUD-21 verify asks the node about an open invoice at most once every few
-- seconds, whatever the number of requests or instances: when it last did
-- (NULL: never).
ALTER TABLE pay_invoices ADD COLUMN node_checked_at BIGINT;

-- Retention prunes delivered and failed events by when they became final.
CREATE INDEX events_final ON events (state, updated_at);
-- ... and finished withdrawals by when they finished (when enabled).
CREATE INDEX withdrawals_completed ON withdrawals (state, completed_at);
