//! The service layer's one error type and its closed set of codes. Service
//! layer, pure: `web/error.rs` renders every surface (LUD body, admin JSON,
//! HTML page) from [`ErrorCode`]'s table, so a client can branch on the code
//! and a person reads the message.

use crate::db::DbError;
use crate::node::NodeError;

/// Errors of the service layer. `Display` is what the caller (wallet or
/// operator) is told; internal causes are logged, not shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or breaks a rule; nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// The withdraw link cannot be used now (spent, expired, disabled, wait).
    #[error("{0}")]
    Unavailable(String),
    /// An `external_id` already names a link or batch made with other
    /// parameters (the message shows the stored ones).
    #[error("{0}")]
    ExternalIdConflict(String),
    /// A wallet's invoice was refused.
    #[error("{0}")]
    Invoice(#[from] crate::lnurl::Error),
    /// Missing or wrong credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The Lightning node failed.
    #[error("lightning node error: {0}")]
    Node(#[from] NodeError),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbError),
    /// Anything else that is our fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// A rate limit refused the request; it may be tried again after
    /// `retry_after_secs`.
    #[error("Too many requests, try again in {retry_after_secs} s")]
    TooManyRequests {
        /// Whole seconds until a retry can pass (at least 1).
        retry_after_secs: u64,
    },
}

impl From<crate::text::TextError> for Error {
    fn from(e: crate::text::TextError) -> Self {
        Error::Invalid(e.to_string())
    }
}

/// The closed set of error codes, `snake_case` on the wire
/// (`{"error":{"code":…}}` on the admin API). A client branches on the
/// code; the message is for people and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The thing asked for does not exist.
    NotFound,
    /// The request is malformed or breaks a rule; nothing was written.
    InvalidRequest,
    /// A wallet's invoice was refused (LUD-03 checks).
    InvalidInvoice,
    /// The request conflicts with existing state (a taken username, …).
    Conflict,
    /// The link cannot be used now (spent, expired, disabled, waiting).
    Unavailable,
    /// Missing or wrong credentials.
    Unauthorized,
    /// The Lightning node failed or cannot be reached.
    NodeError,
    /// The database cannot be reached right now; try again.
    TemporarilyUnavailable,
    /// Our fault; the cause is in the server log.
    Internal,
    /// A rate limit refused the request; `Retry-After` says when to retry.
    TooManyRequests,
    /// An `external_id` was reused with other parameters than the link or
    /// batch it already names; the message shows the stored ones.
    ExternalIdConflict,
}

impl ErrorCode {
    /// Every code, for the README's table and its test.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::NotFound,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidInvoice,
        ErrorCode::Conflict,
        ErrorCode::Unavailable,
        ErrorCode::Unauthorized,
        ErrorCode::NodeError,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::Internal,
        ErrorCode::TooManyRequests,
        ErrorCode::ExternalIdConflict,
    ];

    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidInvoice => "invalid_invoice",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NodeError => "node_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::ExternalIdConflict => "external_id_conflict",
        }
    }

    /// Whether the message may be shown to the caller. For our own trouble
    /// (node, database, bugs) only a fixed text is shown and the cause is
    /// logged.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            ErrorCode::NodeError | ErrorCode::TemporarilyUnavailable | ErrorCode::Internal
        )
    }
}

impl Error {
    /// The text for people, without the variant's prefix. For our own
    /// trouble it names the cause: log it, show it only to the operator.
    pub fn message(&self) -> String {
        match self {
            Error::NotFound(m)
            | Error::Invalid(m)
            | Error::Conflict(m)
            | Error::Unavailable(m)
            | Error::ExternalIdConflict(m)
            | Error::Unauthorized(m)
            | Error::Internal(m) => m.clone(),
            Error::Invoice(e) => e.to_string(),
            Error::Node(e) => e.to_string(),
            Error::Db(e) => e.to_string(),
            Error::TooManyRequests { .. } => self.to_string(),
        }
    }

    /// This error's code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::Invalid(_) => ErrorCode::InvalidRequest,
            Error::Invoice(_) => ErrorCode::InvalidInvoice,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::ExternalIdConflict(_) => ErrorCode::ExternalIdConflict,
            Error::Unauthorized(_) => ErrorCode::Unauthorized,
            Error::Node(_) => ErrorCode::NodeError,
            Error::Db(DbError::Unavailable(_)) => ErrorCode::TemporarilyUnavailable,
            Error::Db(_) | Error::Internal(_) => ErrorCode::Internal,
            Error::TooManyRequests { .. } => ErrorCode::TooManyRequests,
        }
    }

    /// Seconds a caller should wait before trying again (`Retry-After`),
    /// for the errors that say so.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_text() {
        for c in ErrorCode::ALL {
            let json = serde_json::to_value(c).expect("serialize");
            assert_eq!(json, c.as_str());
        }
    }
}
