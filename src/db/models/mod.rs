//! Row types and the queries that belong to each table.

pub mod api_token;
pub mod withdraw_link;
pub mod withdrawal;

pub use api_token::ApiToken;
pub use withdraw_link::{NewWithdrawLink, WithdrawLink};
pub use withdrawal::{NewWithdrawal, Withdrawal, WithdrawalState};
