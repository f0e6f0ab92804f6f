DROP INDEX withdrawals_completed;
DROP INDEX events_final;
ALTER TABLE pay_invoices DROP COLUMN node_checked_at;
DROP INDEX pay_invoices_due;
DROP INDEX pay_invoices_link_open;
