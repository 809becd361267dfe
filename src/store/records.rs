//! How records, tombstones and outbox entries are laid out in IndexedDB, converted in one place.
//!
//! A record is the app's object plus a `_sync` field with its stamp and, once known, the server
//! version it was stored at. Reads strip `_sync` unless the caller asks for metadata. A deleted
//! record leaves its table and becomes a tombstone in `_tombstones`, keyed by
//! `[tableName, pk]`.

use super::js_objects::{self, JsRecordKey, JsStrings};
use js_sys::{Object, Reflect};
use synclane_core::outbox::OpState;
use synclane_core::{ChangeStamp, ErrorCode, OpKind, SyncError, SyncResult};
use synclane_js::read::{Fields, ReadResult};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbObjectStore;

/// The field that carries sync metadata inside a stored record.
pub const META_FIELD: &str = "_sync";

/// Sync metadata stored with a record or tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMeta {
    pub clock: u64,
    pub hlc: String,
    pub device_id: String,
    pub op_id: String,
    pub server_version: Option<u64>,
}

impl StoredMeta {
    pub fn new(stamp: &ChangeStamp, server_version: Option<u64>) -> Self {
        StoredMeta {
            clock: stamp.clock,
            hlc: stamp.hlc.clone(),
            device_id: stamp.device_id.clone(),
            op_id: stamp.op_id.clone(),
            server_version,
        }
    }

    pub fn stamp(&self) -> ChangeStamp {
        ChangeStamp {
            clock: self.clock,
            hlc: self.hlc.clone(),
            device_id: self.device_id.clone(),
            op_id: self.op_id.clone(),
        }
    }
}

/// A tombstone as stored (written by [`stored_tombstone`]; its `key`, `[tableName, pk]`, is the
/// store's key path and not read back).
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub table_name: String,
    pub pk: String,
    pub meta: StoredMeta,
    pub deleted_at: u64,
}

/// The version the store holds for a record: live, a tombstone, or nothing.
#[derive(Debug, Clone)]
pub enum LocalVersion {
    Live(StoredMeta),
    Deleted(StoredMeta),
    Absent,
}

impl LocalVersion {
    pub fn meta(&self) -> Option<(&StoredMeta, OpKind)> {
        match self {
            LocalVersion::Live(m) => Some((m, OpKind::Put)),
            LocalVersion::Deleted(m) => Some((m, OpKind::Delete)),
            LocalVersion::Absent => None,
        }
    }

    pub fn clock(&self) -> Option<u64> {
        self.meta().map(|(m, _)| m.clock)
    }
}

/// Whether a record lookup found a record with sync metadata (one synclane stored, which has
/// no tombstone beside it).
pub fn has_meta(record: &JsValue) -> bool {
    record.is_object() && Reflect::get(record, &META_FIELD.into()).is_ok_and(|meta| meta.is_object())
}

/// Reads the stored version from a record lookup and a tombstone lookup.
pub fn local_version(record: &JsValue, tombstone: &JsValue) -> Result<LocalVersion, SyncError> {
    if record.is_object() {
        let meta = Reflect::get(record, &META_FIELD.into()).unwrap_or(JsValue::UNDEFINED);
        if meta.is_object() {
            return Ok(LocalVersion::Live(from_stored(meta, "record metadata")?));
        }
        // A record written outside synclane (no metadata) counts as never synced.
        return Ok(LocalVersion::Absent);
    }
    if tombstone.is_object() {
        let t: Tombstone = from_stored(tombstone.clone(), "tombstone")?;
        return Ok(LocalVersion::Deleted(t.meta));
    }
    Ok(LocalVersion::Absent)
}

/// Puts the stored form of a record: a copy of the app's object with `id` and `_sync` set.
/// `meta` comes from [`stamp_to_js`] (or, for a remote change, from its own object).
pub fn put_record(
    store: &IdbObjectStore,
    payload: &JsValue,
    id: &JsRecordKey,
    meta: &JsValue,
) -> SyncResult<()> {
    js_objects::put_record(store, payload, &id.pk, meta, false)
        .map(|_| ())
        .map_err(|e| crate::idb::storage_error("writing a record", &e))
}

/// [`put_record`] for a local write, which also needs the payload's size for its outbox entry:
/// the UTF-8 length of its JSON (0 for a value JSON cannot express, such as a BigInt).
pub fn put_local_record(
    store: &IdbObjectStore,
    payload: &JsValue,
    id: &JsRecordKey,
    meta: &JsValue,
) -> SyncResult<u64> {
    js_objects::put_record(store, payload, &id.pk, meta, true)
        .map(|size| size as u64)
        .map_err(|e| crate::idb::storage_error("writing a record", &e))
}

/// A stamp as stored in `_sync` and in tombstones (with the server version once known), built
/// once per record and shared by every object that carries it.
pub fn stamp_to_js(stamp: &ChangeStamp, server_version: Option<u64>, strings: &mut JsStrings) -> JsValue {
    js_objects::stored_meta(
        stamp.clock as f64,
        &stamp.hlc,
        &strings.get(&stamp.device_id),
        &stamp.op_id,
        server_version.map(|v| v as f64),
    )
}

/// A record as the app sees it: `_sync` removed unless metadata is asked for.
pub fn app_record(stored: JsValue, with_meta: bool) -> JsValue {
    if with_meta || !stored.is_object() {
        return stored;
    }
    let _ = Reflect::delete_property(stored.unchecked_ref::<Object>(), &META_FIELD.into());
    stored
}

/// An outbox entry as stored in `_pending_ops`.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub seq: Option<u64>,
    pub op_id: String,
    pub table_name: String,
    pub pk: String,
    pub op: OpKind,
    pub stamp: ChangeStamp,
    pub state: OpState,
    pub attempts: u32,
    pub next_attempt_at: u64,
    pub byte_size: u64,
    pub created_at: u64,
    pub last_error: Option<SyncError>,
}

impl StoredEntry {
    /// The bytes an entry counts besides its payload's JSON: its op's own fields, roughly.
    const OP_FIELDS_BYTES: u64 = 64;

    /// A new entry for an op, pending and due now, at `seq` (`None`: a place at the end of the
    /// queue, taken when it is put). Its size is what the outbox totals count: the payload's
    /// JSON (`payload_size`) and the op's fields.
    pub fn pending(
        seq: Option<u64>,
        table_name: String,
        pk: String,
        op: OpKind,
        stamp: ChangeStamp,
        payload_size: u64,
        now_ms: u64,
    ) -> StoredEntry {
        StoredEntry {
            seq,
            op_id: stamp.op_id.clone(),
            table_name,
            pk,
            op,
            stamp,
            state: OpState::Pending,
            attempts: 0,
            next_attempt_at: now_ms,
            byte_size: payload_size + Self::OP_FIELDS_BYTES,
            created_at: now_ms,
            last_error: None,
        }
    }
}

/// Puts the stored object of a new outbox entry (pending, never failed, so without an error),
/// with the payload kept as the JavaScript value it is. `stamp` is the entry's stamp from
/// [`stamp_to_js`].
pub fn put_new_entry(
    store: &IdbObjectStore,
    entry: &StoredEntry,
    payload: Option<&JsValue>,
    id: &JsRecordKey,
    stamp: &JsValue,
) -> SyncResult<()> {
    let state = match entry.state {
        OpState::Pending => 0,
        OpState::InFlight => 1,
        OpState::Failed => 2,
    };
    js_objects::put_entry(
        store,
        entry.seq.map(|s| s as f64),
        &id.table,
        &id.pk,
        op_index(entry.op),
        stamp,
        state,
        entry.attempts,
        entry.next_attempt_at as f64,
        entry.byte_size as f64,
        entry.created_at as f64,
        payload.cloned(),
    )
    .map_err(|e| crate::idb::storage_error("writing the outbox", &e))
}

pub fn op_index(op: OpKind) -> u32 {
    match op {
        OpKind::Put => 0,
        OpKind::Delete => 1,
    }
}

/// The stored form of a record's tombstone (as [`Tombstone`] reads it back). `meta` is a stored
/// stamp, as for [`put_record`].
pub fn stored_tombstone(id: &JsRecordKey, meta: &JsValue, deleted_at: u64) -> JsValue {
    js_objects::stored_tombstone(&id.table, &id.pk, meta, deleted_at as f64)
}

/// A value the engine stored, read back from its JavaScript form. The readers are written by
/// hand over [`Fields`] (see `synclane_js::read` for why not serde); their field names are the
/// ones the writers use.
pub trait Stored: Sized {
    fn read(value: JsValue) -> ReadResult<Self>;
}

pub fn from_stored<T: Stored>(value: JsValue, what: &str) -> Result<T, SyncError> {
    T::read(value).map_err(|problem| unreadable(what, problem))
}

// Out of line, so the many instances of `from_stored` share one error path.
#[inline(never)]
fn unreadable(what: &str, problem: String) -> SyncError {
    SyncError::new(ErrorCode::Storage, format!("stored {what} is unreadable: {problem}"))
}

impl Stored for String {
    fn read(value: JsValue) -> ReadResult<Self> {
        value.as_string().ok_or_else(|| "expected a string".to_string())
    }
}

impl Stored for StoredMeta {
    fn read(value: JsValue) -> ReadResult<Self> {
        read_meta(&Fields::of(value)?)
    }
}

/// A stored stamp: a change stamp's fields and, once known, the server version.
fn read_meta(f: &Fields) -> ReadResult<StoredMeta> {
    let ChangeStamp { clock, hlc, device_id, op_id } = read_stamp(f)?;
    Ok(StoredMeta { clock, hlc, device_id, op_id, server_version: f.opt_uint("serverVersion")? })
}

impl Stored for Tombstone {
    fn read(value: JsValue) -> ReadResult<Self> {
        let f = Fields::of(value)?;
        Ok(Tombstone {
            table_name: f.string("tableName")?,
            pk: f.string("pk")?,
            meta: read_meta(&f.object("meta")?)?,
            deleted_at: f.uint("deletedAt")?,
        })
    }
}

impl Stored for StoredEntry {
    fn read(value: JsValue) -> ReadResult<Self> {
        let f = Fields::of(value)?;
        Ok(StoredEntry {
            seq: f.opt_uint("seq")?,
            op_id: f.string("opId")?,
            table_name: f.string("tableName")?,
            pk: f.string("pk")?,
            op: f.named("op", OpKind::parse)?,
            stamp: read_stamp(&f.object("stamp")?)?,
            state: f.named("state", OpState::parse)?,
            attempts: f.u32("attempts")?,
            next_attempt_at: f.uint("nextAttemptAt")?,
            byte_size: f.uint("byteSize")?,
            created_at: f.uint("createdAt")?,
            last_error: f.opt_object("lastError")?.map(|e| read_sync_error(&e)).transpose()?,
        })
    }
}

pub fn read_stamp(f: &Fields) -> ReadResult<ChangeStamp> {
    Ok(ChangeStamp {
        clock: f.uint("clock")?,
        hlc: f.string("hlc")?,
        device_id: f.string("deviceId")?,
        op_id: f.string("opId")?,
    })
}

/// An error as `SyncError` serialises: `{ code, message, retryAfterMs? }`.
pub fn read_sync_error(f: &Fields) -> ReadResult<SyncError> {
    Ok(SyncError {
        code: f.named("code", ErrorCode::parse)?,
        message: f.string("message")?,
        retry_after_ms: f.opt_uint("retryAfterMs")?,
    })
}

pub fn set(target: &Object, key: &str, value: &JsValue) -> Result<(), SyncError> {
    Reflect::set(target, &key.into(), value)
        .map(|_| ())
        .map_err(|_| SyncError::new(ErrorCode::Internal, format!("could not set {key}")))
}
