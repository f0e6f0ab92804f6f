DROP TABLE offline_name_holds;
DROP TABLE offline_claims;
DROP TABLE offline_registrations;
