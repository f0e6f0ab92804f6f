DROP INDEX offline_registrations_created;
ALTER TABLE offline_registrations DROP COLUMN timeouts;
ALTER TABLE offline_registrations DROP COLUMN replies_refused;
ALTER TABLE offline_registrations DROP COLUMN replies_accepted;
ALTER TABLE offline_registrations DROP COLUMN pushes_sent;
