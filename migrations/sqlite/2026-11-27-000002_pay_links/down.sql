DROP TABLE node_state;
DROP TABLE pay_invoices;
DROP TABLE pay_links;
