DROP TABLE dev_node_state;
DROP TABLE dev_payments;
DROP TABLE dev_invoices;
