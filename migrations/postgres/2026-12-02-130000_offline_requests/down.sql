DROP TABLE offline_info;
DROP TABLE offline_requests;
