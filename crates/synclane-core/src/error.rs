//! The canonical error type. Every failure that leaves the core carries a stable [`ErrorCode`]
//! that apps, providers and servers can branch on, plus a human-readable message.

use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};

/// Stable, machine-readable error codes. The string form (`as_str`) is part of the public
/// contract: JavaScript apps, providers and the reference server all use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A change or op is malformed: a missing field, a wrong type, an empty key.
    InvalidChange,
    /// A put carries a payload that is not a JSON object.
    InvalidPayload,
    /// A change names a table the engine was not opened with.
    UnknownTable,
    /// A stamp comes from a clock too far in the future to be trusted.
    ClockSkew,
    /// An argument given to a public function is out of its domain.
    InvalidArgument,
    /// The cursor is older than the server's retention floor: a rescan is needed.
    CursorExpired,
    /// The provider asks the client to slow down until a given time.
    RateLimited,
    /// Credentials are missing or no longer valid.
    Unauthorized,
    /// Credentials are valid but do not grant access to this workspace.
    Forbidden,
    /// The server refused an op for good (it will never accept it as is).
    Rejected,
    /// A request, a batch or a payload exceeds a configured size limit.
    PayloadTooLarge,
    /// The outbox reached its byte capacity.
    QueueFull,
    /// The network failed or the provider is unreachable.
    Network,
    /// The provider did not answer in time.
    Timeout,
    /// The provider failed in a way that may succeed later.
    ServerError,
    /// Local storage refused a write because the origin's quota is exhausted.
    QuotaExceeded,
    /// Local storage failed for another reason.
    Storage,
    /// No sync provider is configured.
    NoProvider,
    /// The engine or database was closed.
    Closed,
    /// An invariant of synclane itself was broken; a bug.
    Internal,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and for exporting the list to other languages.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidChange,
        ErrorCode::InvalidPayload,
        ErrorCode::UnknownTable,
        ErrorCode::ClockSkew,
        ErrorCode::InvalidArgument,
        ErrorCode::CursorExpired,
        ErrorCode::RateLimited,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::Rejected,
        ErrorCode::PayloadTooLarge,
        ErrorCode::QueueFull,
        ErrorCode::Network,
        ErrorCode::Timeout,
        ErrorCode::ServerError,
        ErrorCode::QuotaExceeded,
        ErrorCode::Storage,
        ErrorCode::NoProvider,
        ErrorCode::Closed,
        ErrorCode::Internal,
    ];

    /// The stable wire name, e.g. `cursor_expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidChange => "invalid_change",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::UnknownTable => "unknown_table",
            ErrorCode::ClockSkew => "clock_skew",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::CursorExpired => "cursor_expired",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Rejected => "rejected",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::Network => "network",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ServerError => "server_error",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::Storage => "storage",
            ErrorCode::NoProvider => "no_provider",
            ErrorCode::Closed => "closed",
            ErrorCode::Internal => "internal",
        }
    }

    /// Parses a wire name back into a code.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|code| code.as_str() == name)
    }

    /// Whether retrying the same request later may succeed. Transient errors back off and
    /// retry; permanent ones fail the op at once (validation and auth must not be hammered).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::Network
                | ErrorCode::Timeout
                | ErrorCode::ServerError
                | ErrorCode::Storage
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one error type of synclane: a stable code, a message for people, and for rate limits
/// the delay the provider asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl SyncError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        SyncError { code, message: message.into(), retry_after_ms: None }
    }

    pub fn rate_limited(retry_after_ms: u64) -> Self {
        SyncError {
            code: ErrorCode::RateLimited,
            message: format!("rate limited; retry after {retry_after_ms} ms"),
            retry_after_ms: Some(retry_after_ms),
        }
    }

    pub fn invalid_change(message: impl Into<String>) -> Self {
        SyncError::new(ErrorCode::InvalidChange, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        SyncError::new(ErrorCode::InvalidArgument, message)
    }

    pub fn is_transient(&self) -> bool {
        self.code.is_transient()
    }
}

/// Shorthand used across the core.
pub type SyncResult<T> = Result<T, SyncError>;

/// At most the first `max_chars` characters of `text`, for quoting input of any length in an
/// error message.
pub fn clip(text: &str, max_chars: usize) -> &str {
    // `get` rather than indexing: the cut is on a character boundary, and indexing would bring
    // the standard library's slicing panic, with its formatting, into the browser build.
    text.char_indices().nth(max_chars).and_then(|(i, _)| text.get(..i)).unwrap_or(text)
}

/// A name or value in an error message, in double quotes, as `{:?}` prints an ordinary string:
/// quotes, backslashes and control characters escaped, everything else as it is. Written out
/// because `{:?}` brings the standard library's Unicode printability tables into the browser
/// build (several KB) for messages that never need them.
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_at_most_the_first_characters() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(clip("äöüß", 2), "äö");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn quoted_prints_a_string_as_debug_does() {
        for text in
            ["todos", "", "a \"b\" c", "back\\slash", "line\nbreak\ttab\r", "bell\u{7}", "notizen_ü 日本"]
        {
            assert_eq!(Quoted(text).to_string(), format!("{text:?}"), "{text:?}");
        }
    }

    #[test]
    fn wire_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate wire name {}", code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            // serde uses the same names as as_str, so JSON and the JS boundary agree.
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(code.as_str()));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    #[test]
    fn transient_and_permanent_codes_are_split_as_documented() {
        for code in [ErrorCode::Network, ErrorCode::Timeout, ErrorCode::ServerError, ErrorCode::RateLimited] {
            assert!(code.is_transient(), "{code} should retry");
        }
        for code in [
            ErrorCode::Rejected,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::InvalidChange,
            ErrorCode::InvalidPayload,
            ErrorCode::PayloadTooLarge,
        ] {
            assert!(!code.is_transient(), "{code} must fail at once");
        }
    }

    #[test]
    fn rate_limit_carries_its_delay() {
        let err = SyncError::rate_limited(1500);
        assert_eq!(err.code, ErrorCode::RateLimited);
        assert_eq!(err.retry_after_ms, Some(1500));
        assert!(err.to_string().starts_with("rate_limited:"));
    }
}
