//! Conversions between JavaScript values and Rust types, in one place.

use serde::de::DeserializeOwned;
use serde::Serialize;
use synclane_core::{ErrorCode, SyncError};
use wasm_bindgen::JsValue;

/// Reads a JavaScript value into a Rust type. A shape mismatch is the caller's bad input, so it
/// becomes a typed error with `code` (never a panic, never a bare string).
pub fn from_js<T: DeserializeOwned>(value: JsValue, what: &str, code: ErrorCode) -> Result<T, SyncError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| SyncError::new(code, format!("{what}: {e}")))
}

/// Like [`from_js`], but every key of every object is seen by the deserializer, so
/// `deny_unknown_fields` catches misspelt options (reading a struct straight from a JavaScript
/// object only looks up the fields the struct declares).
pub fn from_js_strict<T: DeserializeOwned>(
    value: JsValue,
    what: &str,
    code: ErrorCode,
) -> Result<T, SyncError> {
    let json: serde_json::Value = from_js(value, what, code)?;
    serde_json::from_value(json).map_err(|e| SyncError::new(code, format!("{what}: {e}")))
}

/// Writes a Rust value as plain JavaScript data: objects rather than Maps, numbers rather than
/// BigInts, so apps get the shapes the TypeScript types describe.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, SyncError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| {
        SyncError::new(ErrorCode::Internal, format!("could not convert a result to JavaScript: {e}"))
    })
}

/// The current time in Unix milliseconds, from the browser's clock.
pub fn now_ms() -> u64 {
    js_sys::Date::now().max(0.0) as u64
}

/// Reads a version number given by JavaScript (a non-negative safe integer).
pub fn version_arg(value: f64, name: &str) -> Result<u64, SyncError> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= 9_007_199_254_740_991.0 {
        Ok(value as u64)
    } else {
        Err(SyncError::invalid_argument(format!("{name} must be a non-negative integer, got {value}")))
    }
}
