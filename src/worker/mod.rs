//! Background loops: the payer (pays and tracks withdrawals). They use the
//! service layer and stop when the shutdown signal fires.

pub mod payer;
