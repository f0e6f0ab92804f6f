-- Every invoice relayed to a payer is kept in offline_invoices, not only
-- those relayed with lnurld's verify URL: its payment hash then stays
-- taken until 30 days after the invoice expires (the purge), so a phone
-- cannot have one hash relayed twice while it can still be paid. Before,
-- an invoice without verify was remembered only through
-- offline_requests.invoice_hash, purged an hour after the request's
-- deadline. verifiable says whether LUD-21 verify serves it (rows from
-- before were all relayed with lnurld's verify URL).
ALTER TABLE offline_invoices ADD COLUMN verifiable BOOLEAN NOT NULL DEFAULT TRUE;
