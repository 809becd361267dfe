//! Reading a batch of remote changes from JavaScript. Every change of every pulled page crosses
//! here, so each field is looked up once by name, with keys made once per page, rather than
//! through serde (whose generic readers were a large share of the module). What a field means
//! is left to the core's validation; this only checks that each one has the type the core's
//! `RawChange` declares.

use crate::payload::JsPayload;
use js_sys::{Array, Reflect};
use synclane_core::validate::{RawChange, RawStamp};
use synclane_core::{SyncError, SyncResult};
use wasm_bindgen::JsValue;

/// Field names as JavaScript strings, made once per batch. The wire's snake_case spellings are
/// accepted too, as the core's `RawChange` declares.
struct Keys {
    table_name: [JsValue; 2],
    pk: JsValue,
    op: JsValue,
    payload: JsValue,
    server_version: [JsValue; 2],
    stamp: JsValue,
    clock: JsValue,
    hlc: JsValue,
    device_id: [JsValue; 2],
    op_id: [JsValue; 2],
}

impl Keys {
    fn new() -> Self {
        let key = JsValue::from_str;
        Keys {
            table_name: [key("tableName"), key("table_name")],
            pk: key("pk"),
            op: key("op"),
            payload: key("payload"),
            server_version: [key("serverVersion"), key("server_version")],
            stamp: key("stamp"),
            clock: key("clock"),
            hlc: key("hlc"),
            device_id: [key("deviceId"), key("device_id")],
            op_id: [key("opId"), key("op_id")],
        }
    }
}

/// A batch as it arrived: an array of change objects. A change of the wrong shape rejects the
/// whole batch with `invalid_change`, naming the change and the field.
pub fn parse_changes(changes: &JsValue) -> SyncResult<Vec<RawChange<JsPayload>>> {
    if !Array::is_array(changes) {
        return Err(SyncError::invalid_change("a batch of changes must be an array"));
    }
    let keys = Keys::new();
    Array::from(changes)
        .iter()
        .enumerate()
        .map(|(index, item)| {
            if !item.is_object() || Array::is_array(&item) {
                return Err(SyncError::invalid_change(format!("change #{index} must be an object")));
            }
            read_change(&item, &keys)
                .map_err(|problem| SyncError::invalid_change(format!("change #{index}: {problem}")))
        })
        .collect()
}

fn read_change(change: &JsValue, keys: &Keys) -> Result<RawChange<JsPayload>, String> {
    let stamp = match present(get(change, &keys.stamp)) {
        None => None,
        Some(stamp) if stamp.is_object() && !Array::is_array(&stamp) => Some(RawStamp {
            clock: integer(&stamp, &keys.clock, "stamp.clock")?,
            hlc: text(get(&stamp, &keys.hlc), "stamp.hlc")?,
            device_id: text(either(&stamp, &keys.device_id), "stamp.deviceId")?,
            op_id: text(either(&stamp, &keys.op_id), "stamp.opId")?,
        }),
        Some(_) => return Err("stamp must be an object".into()),
    };
    Ok(RawChange {
        table_name: text(either(change, &keys.table_name), "tableName")?,
        pk: text(get(change, &keys.pk), "pk")?,
        op: text(get(change, &keys.op), "op")?,
        payload: present(get(change, &keys.payload)).map(JsPayload),
        server_version: integer_value(either(change, &keys.server_version), "serverVersion")?,
        stamp,
    })
}

fn get(object: &JsValue, key: &JsValue) -> JsValue {
    Reflect::get(object, key).unwrap_or(JsValue::UNDEFINED)
}

/// The field under its camelCase name, or else under its snake_case one.
fn either(object: &JsValue, [camel, snake]: &[JsValue; 2]) -> JsValue {
    present(get(object, camel)).unwrap_or_else(|| get(object, snake))
}

/// `undefined` and `null` are an absent field, as they are in JSON.
fn present(value: JsValue) -> Option<JsValue> {
    (!value.is_null_or_undefined()).then_some(value)
}

fn text(value: JsValue, name: &str) -> Result<Option<String>, String> {
    match present(value) {
        None => Ok(None),
        Some(value) => value.as_string().map(Some).ok_or_else(|| format!("{name} must be a string")),
    }
}

fn integer(object: &JsValue, key: &JsValue, name: &str) -> Result<Option<u64>, String> {
    integer_value(get(object, key), name)
}

/// A non-negative integer: a safe-integer number, or a BigInt that fits in 64 bits.
fn integer_value(value: JsValue, name: &str) -> Result<Option<u64>, String> {
    let Some(value) = present(value) else { return Ok(None) };
    synclane_js::read::uint(&value).map(Some).ok_or_else(|| format!("{name} must be a non-negative integer"))
}
