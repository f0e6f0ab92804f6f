//! Background loops: the payer (pays and tracks withdrawals), the invoice
//! watcher and the invoice-expiry sweeper (`invoices.rs`: settlements and
//! expiry of pay-link invoices), the webhook delivery worker, the zap
//! receipt publisher (`zaps.rs`), and the
//! pruning worker (`retention.rs`). They use the service layer and stop
//! when the shutdown signal fires; the payer has a signal of its own, sent
//! after the HTTP server has stopped, and hands over what is left before it
//! returns (`payer.rs`, `Running::stop` in `lib.rs`).

pub mod invoices;
pub mod payer;
pub mod retention;
pub mod webhooks;
pub mod zaps;
