-- The dev node's own state (issue 13): its invoices and payments live in
-- the same database as lnurld, so they survive restarts and are shared by
-- every instance on the database. Portable; keep in step with the other
-- backend. Nothing here is read by lnurld's own rules.

-- Invoices the dev node issued. `settle_index` is unique: two settlements
-- never share one.
CREATE TABLE dev_invoices (
    payment_hash TEXT PRIMARY KEY NOT NULL,
    bolt11 TEXT NOT NULL,
    preimage TEXT NOT NULL,
    amount_msat BIGINT NOT NULL,
    state TEXT NOT NULL,
    add_index BIGINT NOT NULL,
    settle_index BIGINT UNIQUE,
    created_at BIGINT NOT NULL,
    settled_at BIGINT,
    CHECK (amount_msat > 0),
    CHECK (state IN ('open', 'settled'))
);
-- The settlement stream reads settled invoices by settle index.
CREATE INDEX dev_invoices_settled ON dev_invoices (state, settle_index);

-- Payments the dev node made (or refused), one row per payment hash; a
-- failed one is overwritten by a later attempt, as lnd allows.
CREATE TABLE dev_payments (
    payment_hash TEXT PRIMARY KEY NOT NULL,
    bolt11 TEXT NOT NULL,
    amount_msat BIGINT NOT NULL,
    fee_msat BIGINT NOT NULL,
    state TEXT NOT NULL,
    failure_reason TEXT,
    preimage TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (state IN ('succeeded', 'failed')),
    CHECK ((state = 'failed') = (failure_reason IS NOT NULL))
);

-- One row: the counters and the balance. Every write of the dev node
-- starts by updating it, so its writes are serialized on both backends
-- (the row lock on PostgreSQL, the write lock on SQLite): a balance check
-- and its debit cannot interleave with another payment, and settle indexes
-- commit in the order they are handed out. `net_msat` is what was received
-- minus what was sent; the balance is `[node] dev_balance_sat` plus it.
CREATE TABLE dev_node_state (
    id BIGINT PRIMARY KEY NOT NULL,
    add_index BIGINT NOT NULL,
    settle_index BIGINT NOT NULL,
    net_msat BIGINT NOT NULL,
    CHECK (id = 1)
);
-- Settle indexes start at the clock in microseconds, as the in-memory dev
-- node of earlier versions counted them: a watcher resuming from an index
-- stored by such a version misses none of the new ones.
INSERT INTO dev_node_state (id, add_index, settle_index, net_msat)
VALUES (1, 0, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) * 1000000, 0);
