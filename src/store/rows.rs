//! synclane's own rows, each written and read back side by side so their field names stay in
//! step: the `_sync_state` rows (device id, cursor, server epoch, outbox totals, staging
//! progress), the conflict log's entries, the changes a rescan stages, and the small forms they
//! share (a stamp, an error, a record's key). How records, tombstones and outbox entries are
//! stored is `records.rs`.
//!
//! Several of these objects are also what the engine hands to JavaScript (the cursor, the
//! outbox totals, the staging progress, a conflict): `results.rs` takes them from here rather
//! than building them a second time. The store never imports `results.rs`.

use super::records::{from_stored, read_stamp, set, Stored};
use super::schema::SYNC_STATE;
use super::tx::object_store;
use crate::idb;
use crate::payload::JsPayload;
use js_sys::Reflect;
use synclane_core::change::SyncChange;
use synclane_core::cursor::{CursorPhase, CursorState};
use synclane_core::hlc::HlcStamp;
use synclane_core::{ChangeStamp, OpKind, SyncError, SyncResult};
use synclane_js::read::{Fields, ReadResult};
use synclane_js::write::Out;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbTransaction;

/// The `_sync_state` row of the device id, created once per database.
pub const DEVICE_STATE: &str = "device";
pub const CURSOR_STATE: &str = "cursor";
/// The `_sync_state` row naming the server data set the cursor counts in (`PullResponse::epoch`).
pub const SERVER_EPOCH: &str = "serverEpoch";
pub const OUTBOX_TOTALS: &str = "outbox";
/// The clock's own row, which databases written before the clock moved into the outbox row
/// still hold: the clock resumes from the later of the two.
pub const LEGACY_CLOCK_STATE: &str = "clock";
const LAST_HLC: &str = "lastHlc";
pub const STAGING_STATE: &str = "staging";

/// Reads a value of `_sync_state`.
pub async fn read_state<T: Stored>(tx: &IdbTransaction, key: &str) -> SyncResult<Option<T>> {
    let req = read_state_request(tx, key)?;
    parse_state(idb::request(&req, "reading sync state").await?, key)
}

/// Issues the read of a value of `_sync_state`, to await with others.
pub fn read_state_request(tx: &IdbTransaction, key: &str) -> SyncResult<web_sys::IdbRequest> {
    object_store(tx, SYNC_STATE)?
        .get(&JsValue::from_str(key))
        .map_err(|e| idb::storage_error("reading sync state", &e))
}

/// Reads the value of `_sync_state` row `key` from the row a request returned.
pub fn parse_state<T: Stored>(row: JsValue, key: &str) -> SyncResult<Option<T>> {
    if row.is_undefined() {
        return Ok(None);
    }
    let inner = Reflect::get(&row, &"value".into()).unwrap_or(JsValue::UNDEFINED);
    from_stored(inner, key).map(Some)
}

/// Writes a value of `_sync_state` (the request completes with the transaction).
pub fn write_state(tx: &IdbTransaction, key: &str, value: &JsValue) -> SyncResult<()> {
    let store = object_store(tx, SYNC_STATE)?;
    let object = js_sys::Object::new();
    set(&object, "key", &JsValue::from_str(key))?;
    set(&object, "value", value)?;
    store.put(&object).map(|_| ()).map_err(|e| idb::storage_error("writing sync state", &e))
}

/// `{ phase, cursor }`.
pub fn cursor(c: &CursorState) -> JsValue {
    Out::new().text("phase", c.phase.as_str()).num("cursor", c.cursor).into_js()
}

impl Stored for CursorState {
    fn read(value: JsValue) -> ReadResult<Self> {
        let f = Fields::of(value)?;
        Ok(CursorState { phase: f.named("phase", CursorPhase::parse)?, cursor: f.uint("cursor")? })
    }
}

/// Writes the cursor row of `_sync_state`.
pub fn write_cursor(tx: &IdbTransaction, c: &CursorState) -> SyncResult<()> {
    write_state(tx, CURSOR_STATE, &cursor(c))
}

/// The epoch of the server row a request returned (`None` before a server named one).
pub fn epoch_from_row(row: &JsValue) -> Option<String> {
    Reflect::get(row, &"value".into()).ok().and_then(|v| v.as_string())
}

/// Writes the server epoch row of `_sync_state`.
pub fn write_epoch(tx: &IdbTransaction, epoch: &str) -> SyncResult<()> {
    write_state(tx, SERVER_EPOCH, &JsValue::from_str(epoch))
}

/// Running totals of the outbox, kept in `_sync_state` in the same transactions as the entries.
///
/// The row also keeps the newest stamp a local write issued (`lastHlc`), from which the clock
/// resumes after a restart: every local write puts this row anyway, and a row of the clock's own
/// cost each single write one more put (about an eighth of its time). Read and write the row
/// with [`read_totals`], [`totals_from_row`] and [`write_totals`], which carry the stamp over;
/// [`totals`] (also what JavaScript is handed) gives the counts alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxTotals {
    pub count: u64,
    pub bytes: u64,
    /// Entries in the `failed` state (so status need not read the whole outbox).
    pub failed: u64,
    /// Entries in flight (so taking a batch can read the head of the queue only).
    pub in_flight: u64,
    /// The newest stamp a local write issued (`None` before the first one).
    pub last_hlc: Option<HlcStamp>,
}

/// `{ count, bytes, failed, inFlight }`.
pub fn totals(t: &OutboxTotals) -> JsValue {
    Out::new()
        .num("count", t.count)
        .num("bytes", t.bytes)
        .num("failed", t.failed)
        .num("inFlight", t.in_flight)
        .into_js()
}

impl Stored for OutboxTotals {
    fn read(value: JsValue) -> ReadResult<Self> {
        let f = Fields::of(value)?;
        Ok(OutboxTotals {
            count: f.uint("count")?,
            bytes: f.uint("bytes")?,
            failed: f.opt_uint("failed")?.unwrap_or(0),
            in_flight: f.opt_uint("inFlight")?.unwrap_or(0),
            last_hlc: None,
        })
    }
}

/// Reads the outbox row of `_sync_state` from the row a request returned.
pub fn totals_from_row(row: JsValue) -> SyncResult<OutboxTotals> {
    let mut totals: OutboxTotals = parse_state(row.clone(), OUTBOX_TOTALS)?.unwrap_or_default();
    if !row.is_undefined() {
        let value = Reflect::get(&row, &"value".into()).unwrap_or_default();
        let last = Reflect::get(&value, &LAST_HLC.into()).unwrap_or_default();
        // An unreadable stamp only loses the restart hint; the counts are what matter here.
        totals.last_hlc = last.as_string().and_then(|text| HlcStamp::parse(&text).ok());
    }
    Ok(totals)
}

/// Reads the outbox row of `_sync_state`.
pub async fn read_totals(tx: &IdbTransaction) -> SyncResult<OutboxTotals> {
    let req = read_state_request(tx, OUTBOX_TOTALS)?;
    totals_from_row(idb::request(&req, "reading sync state").await?)
}

/// Writes the outbox row of `_sync_state`, its stamp included.
pub fn write_totals(tx: &IdbTransaction, t: &OutboxTotals) -> SyncResult<()> {
    let value = totals(t);
    if let Some(last) = &t.last_hlc {
        set(value.unchecked_ref(), LAST_HLC, &JsValue::from_str(&last.encode()))?;
    }
    write_state(tx, OUTBOX_TOTALS, &value)
}

/// Progress of the staging, kept with the staged pages.
#[derive(Debug, Clone, Default)]
pub struct StagingState {
    /// Where the next page must start (pages are contiguous).
    pub next_cursor: u64,
    /// Changes received so far (a record updated during the rescan may come twice).
    pub received: u64,
    /// What the first page said was there to pull, when the provider says.
    pub expected_total: Option<u64>,
    /// The retention floor the first page reported (sent with the next pages).
    pub retention_floor: u64,
    pub complete: bool,
    /// The server data set the pages come from (the first page's `epoch`; all must agree).
    pub epoch: Option<String>,
}

/// `{ nextCursor, received, expectedTotal: number | null, retentionFloor, complete, epoch? }`.
pub fn staging(s: &StagingState) -> JsValue {
    let out = Out::new()
        .num("nextCursor", s.next_cursor)
        .num("received", s.received)
        .num_or_null("expectedTotal", s.expected_total)
        .num("retentionFloor", s.retention_floor)
        .flag("complete", s.complete);
    match &s.epoch {
        Some(epoch) => out.text("epoch", epoch),
        None => out,
    }
    .into_js()
}

impl Stored for StagingState {
    fn read(value: JsValue) -> ReadResult<Self> {
        let f = Fields::of(value)?;
        Ok(StagingState {
            next_cursor: f.uint("nextCursor")?,
            received: f.uint("received")?,
            expected_total: f.opt_uint("expectedTotal")?,
            retention_floor: f.uint("retentionFloor")?,
            complete: f.flag("complete")?,
            epoch: f.opt_string("epoch")?,
        })
    }
}

/// Writes the staging progress row.
pub fn write_staging(tx: &IdbTransaction, state: &StagingState) -> SyncResult<()> {
    write_state(tx, STAGING_STATE, &staging(state))
}

/// A staged change as stored (read back by `Stored for SyncChange`), keyed by
/// `[tableName, pk]`.
pub fn staged_row(change: &SyncChange<JsPayload>) -> JsValue {
    let out = Out::new()
        .set("key", &record_key(&change.table_name, &change.pk))
        .text("tableName", &change.table_name)
        .text("pk", &change.pk)
        .text("op", change.op.as_str())
        .num("serverVersion", change.server_version)
        .set("stamp", &stamp(&change.stamp));
    match &change.payload {
        Some(payload) => out.set("payload", &payload.0),
        None => out,
    }
    .into_js()
}

/// A change staged by a rescan, as [`staged_row`] stored it.
impl Stored for SyncChange<JsPayload> {
    fn read(value: JsValue) -> ReadResult<Self> {
        let f = Fields::of(value)?;
        Ok(SyncChange {
            table_name: f.string("tableName")?,
            pk: f.string("pk")?,
            op: f.named("op", OpKind::parse)?,
            payload: f.get("payload").map(JsPayload),
            server_version: f.uint("serverVersion")?,
            stamp: read_stamp(&f.object("stamp")?)?,
        })
    }
}

/// One side of a conflict.
#[derive(Debug, Clone)]
pub struct ConflictSide {
    pub op: OpKind,
    pub stamp: ChangeStamp,
}

/// A conflict, as logged and reported.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub table_name: String,
    pub pk: String,
    pub local: ConflictSide,
    pub remote: ConflictSide,
    pub winner: &'static str,
    pub local_pending: bool,
    pub during_bootstrap: bool,
    pub at: u64,
}

fn conflict_side(s: &ConflictSide) -> JsValue {
    Out::new().text("op", s.op.as_str()).set("stamp", &stamp(&s.stamp)).into_js()
}

/// A conflict log entry; the same object is reported.
pub fn conflict(c: &Conflict) -> JsValue {
    Out::new()
        .text("tableName", &c.table_name)
        .text("pk", &c.pk)
        .set("local", &conflict_side(&c.local))
        .set("remote", &conflict_side(&c.remote))
        .text("winner", c.winner)
        .flag("localPending", c.local_pending)
        .flag("duringBootstrap", c.during_bootstrap)
        .num("at", c.at)
        .into_js()
}

/// `{ clock, hlc, deviceId, opId }` (read back by `records::read_stamp`).
pub fn stamp(s: &ChangeStamp) -> JsValue {
    Out::new()
        .num("clock", s.clock)
        .text("hlc", &s.hlc)
        .text("deviceId", &s.device_id)
        .text("opId", &s.op_id)
        .into_js()
}

/// `{ code, message, retryAfterMs? }`, as an outbox entry keeps its last error (read back by
/// `records::read_sync_error`).
pub fn error(e: &SyncError) -> JsValue {
    Out::new()
        .text("code", e.code.as_str())
        .text("message", &e.message)
        .opt_num("retryAfterMs", e.retry_after_ms)
        .into_js()
}

/// The `[tableName, pk]` key of a record's tombstone, outbox index entry and staged change.
pub fn record_key(table: &str, pk: &str) -> JsValue {
    js_array_of(&[table, pk]).unchecked_into()
}

fn js_array_of(items: &[&str]) -> js_sys::Array {
    items.iter().map(|s| JsValue::from_str(s)).collect()
}
