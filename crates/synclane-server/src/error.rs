//! Errors as HTTP answers: the core's canonical codes in a JSON body, with the status PROTOCOL.md
//! gives each, and `Retry-After` on rate limits.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use synclane_core::{ErrorCode, SyncError};

#[derive(Debug)]
pub struct ApiError(pub SyncError);

impl ApiError {
    pub fn unauthorized(message: &str) -> Self {
        ApiError(SyncError::new(ErrorCode::Unauthorized, message))
    }

    pub fn forbidden(message: &str) -> Self {
        ApiError(SyncError::new(ErrorCode::Forbidden, message))
    }

    pub fn rate_limited(retry_after_ms: u64) -> Self {
        let mut error = SyncError::new(ErrorCode::RateLimited, "too many requests for this token");
        error.retry_after_ms = Some(retry_after_ms);
        ApiError(error)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError(SyncError::new(ErrorCode::PayloadTooLarge, message))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError(SyncError::new(ErrorCode::InvalidArgument, message))
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError(SyncError::new(ErrorCode::ServerError, message))
    }

    pub fn status(&self) -> StatusCode {
        match self.0.code {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::CursorExpired => StatusCode::GONE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServerError | ErrorCode::Storage | ErrorCode::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(error: SyncError) -> Self {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = %self.0.code, message = %self.0.message, "request failed");
        }
        let body = serde_json::json!({ "error": self.0 });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(ms) = self.0.retry_after_ms {
            let seconds = ms.div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
