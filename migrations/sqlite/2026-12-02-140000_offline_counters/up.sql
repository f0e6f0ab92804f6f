-- What the operator sees per phone wallet (GET /api/v1/offline/registrations):
-- pushes sent to it, its replies taken (200) and refused (422), and payers
-- it left without an answer. Each is raised in the transaction that records
-- the event it counts (the request row inserted for a push, the answer, the
-- expiry), so a count never runs ahead of or behind what happened.
ALTER TABLE offline_registrations ADD COLUMN pushes_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE offline_registrations ADD COLUMN replies_accepted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE offline_registrations ADD COLUMN replies_refused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE offline_registrations ADD COLUMN timeouts BIGINT NOT NULL DEFAULT 0;
-- The listing pages newest first by (created_at, pubkey).
CREATE INDEX offline_registrations_created ON offline_registrations (created_at, pubkey);
