//! How a core `SyncError` reaches JavaScript: as a real `Error` (so stack traces and
//! `instanceof Error` work) named `SyncError`, with a stable `code` to branch on, and
//! `retryAfterMs` for rate limits.

use js_sys::{Error, Reflect};
use synclane_core::SyncError;
use wasm_bindgen::JsValue;

/// Converts a core error into the JavaScript error the TypeScript wrapper documents.
pub fn to_js_error(err: SyncError) -> JsValue {
    let js = Error::new(&err.message);
    js.set_name("SyncError");
    let object: &JsValue = js.as_ref();
    // Reflect::set only fails on frozen or exotic objects; a fresh Error is neither.
    let _ = Reflect::set(object, &"code".into(), &err.code.as_str().into());
    if let Some(ms) = err.retry_after_ms {
        let _ = Reflect::set(object, &"retryAfterMs".into(), &JsValue::from_f64(ms as f64));
    }
    js.into()
}
