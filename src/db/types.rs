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

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
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
    }
}
