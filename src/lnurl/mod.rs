//! `lnurl` layer: the pure LNURL protocol rules, shared by every other layer.
//!
//! This module does no I/O at all: no database, no HTTP server, no node. It may
//! import only std and protocol crates (bech32, lightning-invoice, bitcoin,
//! hashing/crypto, serde). It implements:
//!
//! - [`bech32`]: [LUD-01](https://github.com/lnurl/luds/blob/luds/01.md) bech32
//!   LNURLs and [LUD-17](https://github.com/lnurl/luds/blob/luds/17.md) scheme prefixes;
//! - [`wire`]: the JSON bodies of LUD-03, LUD-06, LUD-09/10/11, LUD-18 and LUD-21;
//! - [`metadata`]: LUD-06/16/18/20 metadata, the description hash and LUD-18
//!   payer-data checks;
//! - [`invoice`]: the BOLT11 checks for a withdraw callback (DESIGN invariant 4);
//! - [`aes`]: the [LUD-10](https://github.com/lnurl/luds/blob/luds/10.md) AES success action;
//! - [`zap`]: the zap request checks and zap receipts of
//!   [NIP-57](https://github.com/nostr-protocol/nips/blob/master/57.md) (with
//!   the `nostr` crate).
//! - [`lnsign`]: Lightning `SignMessage` signatures (zbase32, recoverable);
//! - [`offline`]: offline receive's registration bodies, signed messages and
//!   the single-use statement hash (breez-lnurl's wire format and lnurld's v1);
//! - [`offline_reply`]: the pushes to a phone and the checks of its replies.

pub mod aes;
pub mod bech32;
pub mod invoice;
pub mod lnsign;
pub mod metadata;
pub mod offline;
pub mod offline_reply;
pub mod wire;
pub mod zap;

mod error;

pub use error::{fmt_msat, group_thousands, Error};
pub use metadata::{check_payer_data, description_hash};
