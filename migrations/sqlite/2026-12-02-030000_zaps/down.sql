DROP TABLE zap_publications;
ALTER TABLE pay_invoices DROP COLUMN zap_receipt;
ALTER TABLE pay_invoices DROP COLUMN zap_request;
ALTER TABLE pay_links DROP COLUMN allows_nostr;
