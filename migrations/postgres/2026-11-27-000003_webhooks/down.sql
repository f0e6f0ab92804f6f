ALTER TABLE pay_invoices DROP COLUMN expired_at;
DROP TABLE webhook_endpoints;
DROP TABLE event_attempts;
DROP TABLE events;
