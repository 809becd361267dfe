//! Reading a batch of remote changes from JavaScript, field by field over
//! `synclane_js::read::Fields`. What a field means is left to the core's validation; this only
//! checks that each one has the type the core's `RawChange` declares, under its camelCase name
//! or the wire's snake_case one.

use crate::payload::JsPayload;
use js_sys::Array;
use synclane_core::validate::{RawChange, RawStamp};
use synclane_core::{SyncError, SyncResult};
use synclane_js::read::{Fields, ReadResult};
use wasm_bindgen::JsValue;

/// A batch as it arrived: an array of change objects. A change of the wrong shape rejects the
/// whole batch with `invalid_change`, naming the change and the field.
pub fn parse_changes(changes: &JsValue) -> SyncResult<Vec<RawChange<JsPayload>>> {
    if !Array::is_array(changes) {
        return Err(SyncError::invalid_change("a batch of changes must be an array"));
    }
    Array::from(changes)
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let change = Fields::of(item)
                .map_err(|_| SyncError::invalid_change(format!("change #{index} must be an object")))?;
            read_change(&change)
                .map_err(|problem| SyncError::invalid_change(format!("change #{index}: {problem}")))
        })
        .collect()
}

fn read_change(change: &Fields) -> ReadResult<RawChange<JsPayload>> {
    let stamp = match change.opt_object("stamp")? {
        Some(stamp) => Some(RawStamp {
            clock: stamp.opt_uint("clock")?,
            hlc: stamp.opt_string("hlc")?,
            device_id: stamp.opt_string_or("deviceId", "device_id")?,
            op_id: stamp.opt_string_or("opId", "op_id")?,
        }),
        None => None,
    };
    Ok(RawChange {
        table_name: change.opt_string_or("tableName", "table_name")?,
        pk: change.opt_string("pk")?,
        op: change.opt_string("op")?,
        payload: change.get("payload").map(JsPayload),
        server_version: change.opt_uint_or("serverVersion", "server_version")?,
        stamp,
    })
}
