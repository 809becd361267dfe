//! The JavaScript objects the store writes, built in JavaScript by one call each, and the
//! strings they share, decoded from the wasm once per batch.
//!
//! Building an object from the wasm field by field costs a call across the boundary per field,
//! and every Rust string handed to JavaScript is decoded again on each crossing. In a batch of
//! hundreds of records both were a large share of the wasm's time, more than its decisions.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

// Spread defines properties (never runs a `__proto__` setter, as `Object.assign` would).
// Enums travel as their index in these lists: strings would each be decoded on the way.
#[wasm_bindgen(inline_js = "
const OPS = ['put', 'delete'];
const STATES = ['pending', 'inFlight', 'failed'];
function meta(clock, hlc, deviceId, opId, serverVersion) {
  return serverVersion === undefined ? { clock, hlc, deviceId, opId } : { clock, hlc, deviceId, opId, serverVersion };
}
export function storedRecord(payload, id, clock, hlc, deviceId, opId, serverVersion) {
  return { ...payload, id, _sync: meta(clock, hlc, deviceId, opId, serverVersion) };
}
export function storedTombstone(tableName, pk, clock, hlc, deviceId, opId, serverVersion, deletedAt) {
  return { key: [tableName, pk], tableName, pk, meta: meta(clock, hlc, deviceId, opId, serverVersion), deletedAt };
}
export function storedEntry(seq, opId, tableName, pk, op, clock, hlc, deviceId, stampOpId, state, attempts, nextAttemptAt, byteSize, createdAt, payload) {
  const entry = seq === undefined ? {} : { seq };
  Object.assign(entry, {
    opId, tableName, pk, op: OPS[op], stamp: { clock, hlc, deviceId, opId: stampOpId }, state: STATES[state],
    attempts, nextAttemptAt, byteSize, createdAt,
  });
  if (payload !== undefined) entry.payload = payload;
  return entry;
}
export function appliedChange(tableName, pk, op, serverVersion) {
  return { tableName, pk, op: OPS[op], serverVersion };
}")]
extern "C" {
    #[wasm_bindgen(js_name = storedRecord)]
    pub fn stored_record(
        payload: &JsValue,
        id: &JsValue,
        clock: f64,
        hlc: &str,
        device_id: &JsValue,
        op_id: &str,
        server_version: Option<f64>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = storedTombstone)]
    pub fn stored_tombstone(
        table_name: &JsValue,
        pk: &JsValue,
        clock: f64,
        hlc: &str,
        device_id: &JsValue,
        op_id: &str,
        server_version: Option<f64>,
        deleted_at: f64,
    ) -> JsValue;
    #[wasm_bindgen(js_name = storedEntry)]
    pub fn stored_entry(
        seq: Option<f64>,
        op_id: &str,
        table_name: &JsValue,
        pk: &JsValue,
        op: u32,
        clock: f64,
        hlc: &str,
        device_id: &JsValue,
        stamp_op_id: &str,
        state: u32,
        attempts: u32,
        next_attempt_at: f64,
        byte_size: f64,
        created_at: f64,
        payload: Option<JsValue>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = appliedChange)]
    pub fn applied_change(table_name: &JsValue, pk: &JsValue, op: u32, server_version: f64) -> JsValue;
}

/// The JavaScript copies of a batch's repeated strings (table names, device ids).
#[derive(Default)]
pub struct JsStrings {
    cache: Vec<(String, JsValue)>,
}

impl JsStrings {
    /// Past this many distinct strings, the rest are decoded at each use (a batch from many
    /// devices should not make every lookup long).
    const MAX: usize = 32;

    pub fn get(&mut self, text: &str) -> JsValue {
        if let Some((_, value)) = self.cache.iter().find(|(known, _)| known == text) {
            return value.clone();
        }
        let value = JsValue::from_str(text);
        if self.cache.len() < Self::MAX {
            self.cache.push((text.to_owned(), value.clone()));
        }
        value
    }

    /// A record's identity as JavaScript values.
    pub fn record(&mut self, table: &str, pk: &str) -> JsRecordKey {
        JsRecordKey { table: self.get(table), pk: JsValue::from_str(pk) }
    }
}

/// A record's table and primary key as JavaScript values, decoded once and used by every
/// request and object of the batch that names the record.
#[derive(Clone)]
pub struct JsRecordKey {
    pub table: JsValue,
    pub pk: JsValue,
}

impl JsRecordKey {
    /// The `[tableName, pk]` key of the record's tombstone and outbox index.
    pub fn key(&self) -> JsValue {
        js_sys::Array::of2(&self.table, &self.pk).into()
    }
}
