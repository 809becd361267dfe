//! Payloads stay JavaScript values: the core asks them only what it needs to know.

use js_sys::{Array, Reflect};
use synclane_core::change::{Payload, PayloadId};
use wasm_bindgen::JsValue;

/// A record payload kept as the JavaScript value it arrived as.
#[derive(Debug, Clone)]
pub struct JsPayload(pub JsValue);

impl Payload for JsPayload {
    fn is_object(&self) -> bool {
        self.0.is_object() && !Array::is_array(&self.0) && !self.0.is_function()
    }

    fn byte_size(&self) -> usize {
        // JSON length is what a provider will send; a value JSON cannot represent counts as huge.
        match js_sys::JSON::stringify(&self.0) {
            Ok(text) => text.length() as usize,
            Err(_) => usize::MAX,
        }
    }

    fn id_field(&self) -> PayloadId {
        match Reflect::get(&self.0, &"id".into()) {
            Ok(id) if id.is_undefined() || id.is_null() => PayloadId::Absent,
            Ok(id) => id.as_string().map_or(PayloadId::NotText, PayloadId::Text),
            Err(_) => PayloadId::Absent,
        }
    }
}
