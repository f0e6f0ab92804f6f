//! Typed column values (database layer): the states of rows, stored as
//! text. Each enum is read and written through diesel's `FromSql`/`ToSql`
//! for `Text`, so a row holds a state, never a string, and no query or rule
//! compares string literals. An unknown text in the database is a read error
//! (a row written by a newer version), never a silent default.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// Defines a state enum stored as text: its variants with their column
/// values, `as_str`/`parse`, serde as that text, and diesel `Text` I/O.
/// One macro so that the five state enums cannot drift in how they map.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The column (and wire) value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The column values, comma-separated (for "must be one of" errors).
            pub fn choices() -> String {
                [$($text),+].join(", ")
            }

            /// Parses a column (or query) value.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        // In the admin API's OpenAPI document: a string of these values.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // pad, so width and alignment in format strings apply (CLI tables).
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format_args!(
                        "unknown {} {:?}", stringify!($name), s
                    ))
                })
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $name
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $name
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let s = String::from_sql(bytes)?;
                $name::parse(&s).ok_or_else(|| {
                    format!("unknown {} {:?} in the database", stringify!($name), s).into()
                })
            }
        }
    };
}

text_enum! {
    /// State of a pay invoice row. Expiry is not a state: it is derived from
    /// `expires_at` (and `expired_at` records that `invoice.expired` was
    /// written), so a settlement learned late still records.
    pub enum PayInvoiceState {
        /// Issued, not paid (yet).
        Open = "open",
        /// Paid; the preimage is stored.
        Settled = "settled",
    }
}

text_enum! {
    /// What an invoice is to the operator at a given time: its stored state,
    /// with `expired` derived from `expires_at` (never stored).
    pub enum InvoiceStatus {
        /// Payable.
        Open = "open",
        /// Paid.
        Settled = "settled",
        /// Past its expiry, unpaid.
        Expired = "expired",
    }
}

text_enum! {
    /// Delivery state of a webhook event.
    pub enum EventState {
        /// To be sent at `next_attempt_at`.
        Pending = "pending",
        /// A 2xx answer was received.
        Delivered = "delivered",
        /// No 2xx within the retry window.
        Failed = "failed",
        /// No URL was configured when the event happened.
        NoTarget = "no_target",
    }
}

text_enum! {
    /// Publishing state of a zap receipt at one relay.
    pub enum ZapPublicationState {
        /// To be sent at `next_attempt_at`.
        Pending = "pending",
        /// The relay answered `OK` true.
        Published = "published",
        /// Not accepted within `[nostr] publish_window_secs`.
        Failed = "failed",
    }
}

text_enum! {
    /// What happened, as the `type` of a webhook event.
    pub enum EventType {
        /// A withdrawal was paid.
        WithdrawSucceeded = "withdraw.succeeded",
        /// A withdrawal definitely failed; the use was given back.
        WithdrawFailed = "withdraw.failed",
        /// A pay invoice was paid.
        InvoiceSettled = "invoice.settled",
        /// A pay invoice expired unpaid.
        InvoiceExpired = "invoice.expired",
        /// A withdrawal was in flight on a node lnurld was switched away
        /// from; the operator must find out on that node what became of it.
        WithdrawNeedsReview = "withdraw.needs_review",
    }
}

/// Defines an id newtype stored as text (`<prefix>_<24 hex>`): passing a
/// link id where an event id belongs no longer compiles. Serialized as the
/// bare string, so JSON and columns are unchanged.
macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> $name {
                $name(crate::db::new_id($prefix))
            }

            /// An id as given by a caller (a URL path, a cursor). Not
            /// checked: an unknown id simply finds nothing.
            pub fn from_raw(s: impl Into<String>) -> $name {
                $name(s.into())
            }

            /// The id text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether this id has the shape of a generated one. A request's
            /// id that has not cannot name a row, so it is answered "not
            /// found" without asking the database.
            pub fn is_well_formed(&self) -> bool {
                crate::text::is_id($prefix, &self.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $name
        where
            String: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.0.to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $name
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                Ok($name(String::from_sql(bytes)?))
            }
        }
    };
}

text_id!(
    /// A withdraw link (`wl_…`).
    WithdrawLinkId, "wl"
);
text_id!(
    /// A withdrawal, one claimed use of a link (`wd_…`).
    WithdrawalId, "wd"
);
text_id!(
    /// A batch of withdraw links created together (`wb_…`).
    BatchId, "wb"
);
text_id!(
    /// A pay link (`pl_…`).
    PayLinkId, "pl"
);
text_id!(
    /// A webhook event (`evt_…`).
    EventId, "evt"
);
text_id!(
    /// One delivery attempt of an event (`att_…`).
    AttemptId, "att"
);
text_id!(
    /// An API token (`tok_…`).
    TokenId, "tok"
);

/// An amount in millisatoshis. Stored as BIGINT; always within
/// `0..=i64::MAX`, so the conversions at the column and the wire cannot
/// wrap (they are the only casts).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
    utoipa::ToSchema,
)]
#[diesel(sql_type = diesel::sql_types::BigInt)]
// On the wire a whole number of msat, never negative.
#[schema(value_type = u64, description = "An amount in millisatoshis: a whole number, never negative.")]
pub struct Msat(i64);

impl Msat {
    /// Zero.
    pub const ZERO: Msat = Msat(0);

    /// `msat`, or `None` past what a column can hold.
    pub fn new(msat: u64) -> Option<Msat> {
        i64::try_from(msat).ok().map(Msat)
    }

    /// `msat`, capped at the largest amount a column holds. Only for
    /// amounts the node or the fee policy computed, which are recorded
    /// rather than refused (a wallet's invoice and the operator's amounts
    /// are checked against their bounds instead).
    pub fn saturating(msat: u64) -> Msat {
        Msat::new(msat).unwrap_or(Msat(i64::MAX))
    }

    /// The amount.
    pub fn get(self) -> u64 {
        // Never negative: every constructor checks.
        self.0.unsigned_abs()
    }

    /// Whole satoshis, rounded down.
    pub fn sats(self) -> u64 {
        self.get() / 1000
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Msat) -> Option<Msat> {
        self.0.checked_add(other.0).map(Msat)
    }

    /// `self - other`, or `None` below zero.
    pub fn checked_sub(self, other: Msat) -> Option<Msat> {
        self.0.checked_sub(other.0).filter(|v| *v >= 0).map(Msat)
    }
}

impl std::fmt::Display for Msat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} msat", self.0)
    }
}

impl serde::Serialize for Msat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.get())
    }
}

impl<'de> serde::Deserialize<'de> for Msat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        Msat::new(v).ok_or_else(|| serde::de::Error::custom("amount out of range"))
    }
}

impl<DB: Backend> ToSql<diesel::sql_types::BigInt, DB> for Msat
where
    i64: ToSql<diesel::sql_types::BigInt, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB: Backend> FromSql<diesel::sql_types::BigInt, DB> for Msat
where
    i64: FromSql<diesel::sql_types::BigInt, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let v = i64::from_sql(bytes)?;
        if v < 0 {
            return Err(format!("negative amount {v} msat in the database").into());
        }
        Ok(Msat(v))
    }
}

text_enum! {
    /// Whether a pay link answers wallets. Stored as `disabled_at` (null or
    /// not), never as text; this is how the operator and the pages see it.
    pub enum PayLinkStatus {
        /// Answers wallets; its username (if any) is taken.
        Active = "active",
        /// Answers "unknown pay link"; its username was freed.
        Disabled = "disabled",
    }
}

text_enum! {
    /// Lifecycle state of a withdrawal (`withdrawals.state`): `pending`
    /// (claimed, never sent to the node) → `in_flight` (a payer took it and
    /// may have asked the node; from here on it is only ever *tracked*,
    /// never paid blindly again) → `succeeded` | `failed`.
    pub enum WithdrawalState {
        /// Claimed and committed; no payer has taken it yet.
        Pending = "pending",
        /// A payer has taken it; the node may be paying it.
        InFlight = "in_flight",
        /// Paid.
        Succeeded = "succeeded",
        /// Definitely not paid; the use was given back.
        Failed = "failed",
        /// Was in flight on a node lnurld has been switched away from
        /// (`lnurld node switch --abandon-in-flight`): its outcome is on
        /// that node only. Never paid, tracked or given back automatically.
        NeedsReview = "needs_review",
    }
}

text_enum! {
    /// A withdraw link's status as the admin API names it (`status` of a
    /// link, the `status` filter of the list): the buckets of
    /// `withdraw_link::Availability`. Never stored: derived at read time.
    pub enum WithdrawLinkStatus {
        /// Usable now or later (uses left, not disabled, not expired).
        Active = "active",
        /// No uses left.
        Spent = "spent",
        /// Past `expires_at`.
        Expired = "expired",
        /// Disabled by the operator.
        Disabled = "disabled",
    }
}

text_enum! {
    /// State of an invoice of the dev node (`dev_invoices.state`).
    pub enum DevInvoiceState {
        /// Issued, not paid.
        Open = "open",
        /// Settled (through the dev settle route or a payment of its own).
        Settled = "settled",
    }
}

text_enum! {
    /// Outcome of a payment of the dev node (`dev_payments.state`); it has
    /// no payment in flight, ever.
    pub enum DevPaymentState {
        /// Paid.
        Succeeded = "succeeded",
        /// Refused; `failure_reason` says why.
        Failed = "failed",
    }
}

text_enum! {
    /// Why the dev node failed a payment (`dev_payments.failure_reason`):
    /// the subset of lnd's failure reasons it can meet.
    pub enum DevPaymentFailure {
        /// Not enough balance for amount plus fee.
        InsufficientBalance = "insufficient_balance",
        /// One of its own invoices that it does not know, or no longer open.
        IncorrectPaymentDetails = "incorrect_payment_details",
    }
}
