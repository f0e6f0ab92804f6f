ALTER TABLE offline_invoices DROP COLUMN verifiable;
