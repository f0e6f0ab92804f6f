UPDATE withdrawals SET state = 'in_flight' WHERE state = 'needs_review';
ALTER TABLE withdrawals DROP CONSTRAINT withdrawals_state_check;
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_state_check
    CHECK (state IN ('pending', 'in_flight', 'succeeded', 'failed'));
ALTER TABLE withdrawals DROP COLUMN node_pubkey;
ALTER TABLE pay_invoices DROP COLUMN node_pubkey;
DROP TABLE nodes;
