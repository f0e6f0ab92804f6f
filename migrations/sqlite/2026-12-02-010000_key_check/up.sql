-- One row holding a value derived from the server key (an HMAC of a fixed
-- label), written on first start. A start or CLI command with another key
-- is refused, instead of serving links it cannot read.
CREATE TABLE server_key_check (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    check_value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
