//! Background loops: the payer (pays and tracks withdrawals), the invoice
//! watcher and the invoice-expiry sweeper (`invoices.rs`: settlements and
//! expiry of pay-link invoices), and the webhook delivery worker. They use
//! the service layer and stop when the shutdown signal fires.

pub mod invoices;
pub mod payer;
pub mod webhooks;
