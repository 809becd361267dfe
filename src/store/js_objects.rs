//! The JavaScript objects the store writes, built (and for records and outbox entries, put) in
//! JavaScript by one call each, and the strings they share, decoded from the wasm once per batch.
//!
//! Building an object from the wasm field by field costs a call across the boundary per field,
//! and every Rust string handed to JavaScript is decoded again on each crossing. In a batch of
//! hundreds of records both were a large share of the wasm's time, more than its decisions.
//! Each call also costs most in a page whose code is still cold (the first large batch after
//! load): there, calls out of the wasm took a sixth of the batch's extra time.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use web_sys::IdbObjectStore;

// Spread defines properties (never runs a `__proto__` setter, as `Object.assign` would).
// Enums travel as their index in these lists: strings would each be decoded on the way.
// A write's metadata object is built once and shared by its record, its outbox entry and the
// op it reports (each put stores its own copy), so its strings cross from the wasm once.
#[wasm_bindgen(inline_js = "
const OPS = ['put', 'delete'];
const STATES = ['pending', 'inFlight', 'failed'];
const NOT_ASCII = /[^\\0-\\x7f]/;
export function storedMeta(clock, hlc, deviceId, opId, serverVersion) {
  return serverVersion === undefined ? { clock, hlc, deviceId, opId } : { clock, hlc, deviceId, opId, serverVersion };
}
// A remote change's metadata, its strings taken from the change object as it arrived (the
// core validated them; op_id is the other spelling serde accepts).
export function remoteMeta(change, clock, deviceId, serverVersion) {
  const stamp = change.stamp;
  return { clock, hlc: stamp.hlc, deviceId, opId: stamp.opId ?? stamp.op_id, serverVersion };
}
// Puts a record with its metadata; with `measure`, returns the payload's size for the outbox
// (its JSON's UTF-8 length, measured without copying the JSON into the wasm).
export function putRecord(store, payload, id, meta, measure) {
  store.put({ ...payload, id, _sync: meta });
  return measure ? jsonBytes(payload) : 0;
}
export function storedTombstone(tableName, pk, meta, deletedAt) {
  return { key: [tableName, pk], tableName, pk, meta, deletedAt };
}
export function putEntry(store, seq, tableName, pk, op, stamp, state, attempts, nextAttemptAt, byteSize, createdAt, payload) {
  const entry = seq === undefined ? {} : { seq };
  Object.assign(entry, {
    opId: stamp.opId, tableName, pk, op: OPS[op], stamp, state: STATES[state],
    attempts, nextAttemptAt, byteSize, createdAt,
  });
  if (payload !== undefined) entry.payload = payload;
  store.put(entry);
}
// Adds the op a local write reports to `list`.
export function captureOp(list, tableName, pk, op, stamp, replacedOpId) {
  const captured = { opId: stamp.opId, tableName, pk, op: OPS[op], clock: stamp.clock, hlc: stamp.hlc };
  if (replacedOpId !== undefined) captured.replacedOpId = replacedOpId;
  list.push(captured);
}
export function appliedChange(tableName, pk, op, serverVersion) {
  return { tableName, pk, op: OPS[op], serverVersion };
}
export function jsonBytes(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    // A BigInt or a cycle: the store can keep it, JSON cannot say its size.
    return 0;
  }
  if (text === undefined) return 0;
  if (!NOT_ASCII.test(text)) return text.length;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // UTF-8: 2 bytes below U+0800, 3 above, 4 for a surrogate pair (counted on its first half).
    if (c >= 0x80) bytes += c < 0x800 ? 1 : c >= 0xdc00 && c < 0xe000 ? 0 : 2;
  }
  return bytes;
}")]
extern "C" {
    /// A stamp as stored (`{ clock, hlc, deviceId, opId, serverVersion? }`).
    #[wasm_bindgen(js_name = storedMeta)]
    pub fn stored_meta(
        clock: f64,
        hlc: &str,
        device_id: &JsValue,
        op_id: &str,
        server_version: Option<f64>,
    ) -> JsValue;
    /// A validated remote change's metadata as stored, from the change's own JavaScript
    /// object (`change` is the object the change was read from).
    #[wasm_bindgen(js_name = remoteMeta)]
    pub fn remote_meta(change: &JsValue, clock: f64, device_id: &JsValue, server_version: f64) -> JsValue;
    /// Puts `{ ...payload, id, _sync: meta }` into `store`; with `measure`, returns the UTF-8
    /// length of the payload's JSON (0 for a value JSON cannot express, such as a BigInt).
    /// One call out of the wasm where there were three: each call costs most while the page's
    /// code is still cold.
    #[wasm_bindgen(js_name = putRecord, catch)]
    pub fn put_record(
        store: &IdbObjectStore,
        payload: &JsValue,
        id: &JsValue,
        meta: &JsValue,
        measure: bool,
    ) -> Result<f64, JsValue>;
    /// The UTF-8 length of a value's JSON, as an outbox entry counts its payload (0 for a value
    /// JSON cannot express, such as a BigInt).
    #[wasm_bindgen(js_name = jsonBytes)]
    pub fn json_bytes(value: &JsValue) -> f64;
    #[wasm_bindgen(js_name = storedTombstone)]
    pub fn stored_tombstone(table_name: &JsValue, pk: &JsValue, meta: &JsValue, deleted_at: f64) -> JsValue;
    /// Puts an outbox entry into `store`; `stamp` is a [`stored_meta`] without a server version.
    #[wasm_bindgen(js_name = putEntry, catch)]
    pub fn put_entry(
        store: &IdbObjectStore,
        seq: Option<f64>,
        table_name: &JsValue,
        pk: &JsValue,
        op: u32,
        stamp: &JsValue,
        state: u32,
        attempts: u32,
        next_attempt_at: f64,
        byte_size: f64,
        created_at: f64,
        payload: Option<JsValue>,
    ) -> Result<(), JsValue>;
    /// Adds the op a local write reports (the TypeScript `CapturedOp`) to `list`.
    #[wasm_bindgen(js_name = captureOp)]
    pub fn capture_op(
        list: &js_sys::Array,
        table_name: &JsValue,
        pk: &JsValue,
        op: u32,
        stamp: &JsValue,
        replaced_op_id: Option<String>,
    );
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
