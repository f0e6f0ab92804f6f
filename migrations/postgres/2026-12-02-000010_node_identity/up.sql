-- Invariant 7: a node's records never meet another node's. Every node
-- lnurld has been pointed at, with its own settle index; exactly one is
-- current (the partial unique index), the others are retired by
-- `lnurld node switch`. The first start after this migration records the
-- node it finds and takes over the old global settle index for it.
CREATE TABLE nodes (
    pubkey TEXT PRIMARY KEY NOT NULL,
    network TEXT NOT NULL,
    settle_index BIGINT NOT NULL,
    is_current BOOLEAN NOT NULL,
    recorded_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX nodes_one_current ON nodes (is_current) WHERE is_current;

-- The node a pay invoice was issued by (NULL until the first start records
-- the node, which then claims every NULL row).
ALTER TABLE pay_invoices ADD COLUMN node_pubkey TEXT;

-- The node a withdrawal was handed to (NULL while `pending`: never sent),
-- and the new state `needs_review` (in flight on a node lnurld was switched
-- away from; never paid or given back automatically).
ALTER TABLE withdrawals ADD COLUMN node_pubkey TEXT;
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_state_check;
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_state_check
    CHECK (state IN ('pending', 'in_flight', 'succeeded', 'failed', 'needs_review'));
