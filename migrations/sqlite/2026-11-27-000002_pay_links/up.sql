-- LNURL-pay links (LUD-06), Lightning Addresses (LUD-16) and the invoices
-- issued for them. `metadata` is the exact string served, built once per
-- link version; the description hash of every invoice is computed from it.
CREATE TABLE pay_links (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT UNIQUE,
    description TEXT NOT NULL,
    long_description TEXT,
    image_mime TEXT,
    image_base64 TEXT,
    min_msat BIGINT NOT NULL,
    max_msat BIGINT NOT NULL,
    comment_allowed BIGINT NOT NULL,
    success_action TEXT,
    payer_data TEXT,
    metadata TEXT NOT NULL,
    webhook_url TEXT,
    disabled_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (min_msat >= 1 AND min_msat <= max_msat)
);
CREATE INDEX pay_links_created ON pay_links (created_at, id);

CREATE TABLE pay_invoices (
    payment_hash TEXT PRIMARY KEY NOT NULL,
    pay_link_id TEXT NOT NULL REFERENCES pay_links (id),
    bolt11 TEXT NOT NULL,
    amount_msat BIGINT NOT NULL,
    comment TEXT,
    payer_data TEXT,
    state TEXT NOT NULL,
    preimage TEXT,
    amount_paid_msat BIGINT,
    settle_index BIGINT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT,
    CHECK (state IN ('open', 'settled'))
);
CREATE INDEX pay_invoices_link ON pay_invoices (pay_link_id, created_at);
CREATE INDEX pay_invoices_open ON pay_invoices (state, expires_at);

-- Small named counters shared by all instances (the node's settle index).
CREATE TABLE node_state (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO node_state (name, value) VALUES ('settle_index', 0);
