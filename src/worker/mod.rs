//! Background loops: the payer (pays and tracks withdrawals) and the
//! invoice watcher (records settlements of pay-link invoices). They use the
//! service layer and stop when the shutdown signal fires.

pub mod invoices;
pub mod payer;
