//! Row types and the queries that belong to each table.

pub mod api_token;
pub mod dev_node;
pub mod event;
pub mod node;
pub mod node_state;
pub mod offline;
pub mod pay_invoice;
pub mod pay_link;
pub mod sealed;
pub mod server_key_check;
pub mod withdraw_batch;
pub mod withdraw_link;
pub mod withdrawal;
pub mod zap_publication;

pub use api_token::ApiToken;
pub use event::{Event, EventAttempt, WebhookEndpoint};
pub use node::NodeRecord;
pub use pay_invoice::{CappedInsert, PayInvoice};
pub use pay_link::PayLink;
pub use withdraw_batch::WithdrawBatch;
pub use withdraw_link::WithdrawLink;
pub use withdrawal::{Withdrawal, WithdrawalState};
pub use zap_publication::ZapPublication;
