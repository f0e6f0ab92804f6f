//! Background loops: the payer (pays and tracks withdrawals), the invoice
//! watcher (records settlements of pay-link invoices) and the webhook
//! delivery worker with its invoice-expiry sweeper. They use the service
//! layer and stop when the shutdown signal fires.

pub mod invoices;
pub mod payer;
pub mod webhooks;
