ALTER TABLE offline_requests DROP COLUMN verify_hash;
DROP TABLE offline_invoices;
