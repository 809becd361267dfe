//! Applying a batch of remote changes: every change decided by the core's rule, written with
//! the cursor advance in one transaction. Conflicts are logged in the same transaction.

use super::batch::{probe_occupancy, StoreSizes, TimeSlicer};
use super::js_objects::{self, JsRecordKey, JsStrings};
use super::records::{
    has_meta, local_version, op_index, put_record, stored_tombstone, LocalVersion, StoredMeta, META_FIELD,
};
use super::rows::{
    self, epoch_from_row, parse_state, read_state_request, write_cursor, write_epoch, Conflict, ConflictSide,
    CURSOR_STATE, SERVER_EPOCH,
};
use super::schema::{BY_RECORD, CONFLICTS, PENDING_OPS, SYNC_STATE, TOMBSTONES};
use super::tx::{add_store_names, in_tx, object_store, read_result, BatchTables};
use super::Store;
use crate::idb;
use crate::payload::JsPayload;
use std::collections::HashMap;
use synclane_core::apply::{decide_remote, RemoteDecision};
use synclane_core::change::SyncChange;
use synclane_core::cursor::{CursorPhase, CursorState};
use synclane_core::{OpKind, SyncResult, VersionRef};
use wasm_bindgen::JsValue;
use web_sys::IdbTransaction;

/// What applying a batch did.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    /// The changes written locally, as `{ tableName, pk, op, serverVersion }` objects (built in
    /// JavaScript: the caller adds them to the report it hands out).
    pub applied: js_sys::Array,
    /// The conflicts, as the JavaScript objects logged in the store (added by the caller too).
    pub conflicts: js_sys::Array,
    pub echoes: u32,
    pub identical: u32,
    /// Changes at or below the cursor (duplicate or late deliveries), skipped.
    pub stale: u32,
    pub cursor: CursorState,
    pub cursor_moved: bool,
}

/// Where the batch ends in the change log, and which server data set it comes from.
pub struct PageEnd {
    pub next_cursor: u64,
    pub has_more: bool,
    pub epoch: Option<String>,
}

/// Applies validated changes and advances the cursor, atomically. Without a `page` (the winning
/// versions a push reported), changes are applied whatever the cursor and it does not move.
/// `echoes` says, change by change, whether this device pushed it (its echo cache, read before
/// the transaction). `originals` holds the JavaScript objects the changes were read from, in
/// the same order: the stored objects take their strings from there rather than from the wasm.
pub async fn apply_remote(
    store: &Store,
    changes: Vec<SyncChange<JsPayload>>,
    originals: Vec<JsValue>,
    page: Option<PageEnd>,
    echoes: Vec<bool>,
    now_ms: u64,
) -> SyncResult<ApplyReport> {
    let mut stores = vec![PENDING_OPS, TOMBSTONES, SYNC_STATE, CONFLICTS];
    add_store_names(&mut stores, changes.iter().map(|c| c.table_name.as_str()));
    let tx = store.transaction(&stores, true)?;
    in_tx!(
        &tx,
        "applying remote changes",
        apply_in(&tx, &store.sizes, changes, originals, page, echoes, now_ms)
    )
}

/// What the batch knows about one record: the stored version (updated as the batch writes it),
/// the stored record object, and whether a local op for it waits in the outbox.
struct KeyState {
    local: LocalVersion,
    record: JsValue,
    pending: bool,
    /// Whether the store holds a tombstone for the record (a put must clear it).
    tombstoned: bool,
    /// Whether the table holds an object for the record (with or without sync metadata: an
    /// object written outside synclane counts as never synced, yet a delete must remove it).
    held: bool,
    id: JsRecordKey,
}

/// The reads of one record, and whether its tombstone may need reading.
struct KeyReads {
    record: Option<web_sys::IdbRequest>,
    tombstone: Option<web_sys::IdbRequest>,
    pending: Option<web_sys::IdbRequest>,
    may_be_tombstoned: bool,
    id: JsRecordKey,
}

async fn apply_in(
    tx: &IdbTransaction,
    sizes: &StoreSizes,
    changes: Vec<SyncChange<JsPayload>>,
    originals: Vec<JsValue>,
    page: Option<PageEnd>,
    echoes: Vec<bool>,
    now_ms: u64,
) -> SyncResult<ApplyReport> {
    let err = |what: &'static str| move |e: JsValue| idb::storage_error(what, &e);
    let cursor_req = read_state_request(tx, CURSOR_STATE)?;
    // Read only when the page names its server: a page from a reset server must not apply.
    let epoch_req = match page.as_ref().and_then(|p| p.epoch.as_ref()) {
        Some(_) => Some(read_state_request(tx, SERVER_EPOCH)?),
        None => None,
    };
    let tombstones = object_store(tx, TOMBSTONES)?;
    let pending = object_store(tx, PENDING_OPS)?;
    let by_record =
        pending.index(BY_RECORD).map_err(|e| idb::storage_error("opening the outbox index", &e))?;
    let conflicts_store = object_store(tx, CONFLICTS)?;
    let tables = BatchTables::open(tx, changes.iter().map(|c| &c.table_name))?;
    // Which of the batch's records the stores may hold: records they surely lack are not read.
    let (occupancy, _) = probe_occupancy(tx, sizes, &tombstones, &tables, changes.len()).await?;

    // Every record's reads go out before any is awaited: one round trip for the batch. Stale
    // changes are read too (the cursor's position is known, but reads are cheap next to a
    // second pass). `slots` gives a record's place in `reads` and `states` (the map type of
    // the write path).
    //
    // A record synclane stored has no tombstone (every write of a live version clears it), so
    // a tombstone is read with the record only when the record is known to be absent, and
    // otherwise after the record turns out to be missing: a second, smaller round trip that
    // spares the batch one read per record it already holds.
    let mut slots: HashMap<(String, String), usize> = HashMap::new();
    let mut reads: Vec<KeyReads> = Vec::new();
    let mut strings = JsStrings::default();
    let mut last = Some(cursor_req.clone());
    let pk_field = JsValue::from_str("pk");
    for (change, original) in changes.iter().zip(&originals) {
        let id = (change.table_name.clone(), change.pk.clone());
        if slots.contains_key(&id) {
            continue;
        }
        let may_be_tombstoned = occupancy.may_have_tombstone(&id);
        // The validated pk is the original's `pk`, already a JavaScript string.
        let pk = js_sys::Reflect::get(original, &pk_field)
            .ok()
            .filter(JsValue::is_string)
            .unwrap_or_else(|| JsValue::from_str(&change.pk));
        let js_id = JsRecordKey { table: strings.get(&change.table_name), pk };
        let record = if occupancy.may_have_record(&id) {
            Some(tables.get(&change.table_name).get(&js_id.pk).map_err(err("reading a record"))?)
        } else {
            None
        };
        let read_tombstone = may_be_tombstoned && record.is_none();
        let key = (read_tombstone || occupancy.outbox).then(|| js_id.key());
        let tombstone = match &key {
            Some(key) if read_tombstone => Some(tombstones.get(key).map_err(err("reading a tombstone"))?),
            _ => None,
        };
        let pending = match &key {
            Some(key) if occupancy.outbox => {
                Some(by_record.count_with_key(key).map_err(err("reading the outbox"))?)
            }
            _ => None,
        };
        last = pending.clone().or(tombstone.clone()).or(record.clone()).or(last);
        reads.push(KeyReads { record, tombstone, pending, may_be_tombstoned, id: js_id });
        slots.insert(id, reads.len() - 1);
    }
    idb::group_done(last.as_ref(), "reading records").await?;
    // The cursor and the epoch were read first, so they are answered too.
    let mut cursor: CursorState =
        parse_state(read_result(Some(cursor_req), "reading sync state")?, CURSOR_STATE)?.unwrap_or_default();
    if let Some(req) = epoch_req {
        let known = epoch_from_row(&read_result(Some(req), "reading sync state")?);
        let page_epoch = page.as_ref().and_then(|p| p.epoch.as_deref());
        CursorState::check_epoch(known.as_deref(), page_epoch)?;
        if let (None, Some(epoch)) = (known, page_epoch) {
            write_epoch(tx, epoch)?;
        }
    }
    let mut records = Vec::with_capacity(reads.len());
    let mut last_tombstone = None;
    for read in &mut reads {
        let record = read_result(read.record.take(), "reading a record")?;
        if read.may_be_tombstoned && read.tombstone.is_none() && !has_meta(&record) {
            let req = tombstones.get(&read.id.key()).map_err(err("reading a tombstone"))?;
            last_tombstone = Some(req.clone());
            read.tombstone = Some(req);
        }
        records.push(record);
    }
    idb::group_done(last_tombstone.as_ref(), "reading tombstones").await?;
    let mut states: Vec<KeyState> = Vec::with_capacity(reads.len());
    for (read, record) in reads.into_iter().zip(records) {
        let tombstone = read_result(read.tombstone, "reading a tombstone")?;
        let pending = read_result(read.pending, "reading the outbox")?.as_f64().unwrap_or(0.0) > 0.0;
        let local = local_version(&record, &tombstone)?;
        let tombstoned = tombstone.is_object();
        let held = record.is_object();
        // Kept only while it may need its server version set (see `RemoteDecision::Echo`).
        let record = match &local {
            LocalVersion::Live(meta) if meta.server_version.is_none() => record,
            _ => JsValue::UNDEFINED,
        };
        states.push(KeyState { local, record, pending, tombstoned, held, id: read.id });
    }

    if cursor.phase == CursorPhase::ColdStart && page.is_some() {
        cursor.begin_bootstrap()?;
    }
    let during_bootstrap = cursor.phase == CursorPhase::Bootstrapping;
    let mut report = ApplyReport {
        applied: js_sys::Array::new(),
        conflicts: js_sys::Array::new(),
        echoes: 0,
        identical: 0,
        stale: 0,
        cursor,
        cursor_moved: false,
    };
    let mut slicer = TimeSlicer::new(TimeSlicer::REMOTE_PAGE_MS);
    for ((change, is_echo), original) in changes.into_iter().zip(echoes).zip(originals) {
        slicer.step(tx).await?;
        if page.is_some() && change.server_version <= cursor.cursor {
            report.stale += 1;
            continue;
        }
        let table = tables.get(&change.table_name);
        let state = &mut states[slots[&(change.table_name.clone(), change.pk.clone())]];
        let local_pending = state.pending;
        let local_stamp = state.local.meta().map(|(m, op)| (m.stamp(), op));
        let decision = decide_remote(
            local_stamp.as_ref().map(|(s, op)| VersionRef::new(s, *op)),
            local_pending,
            VersionRef::new(&change.stamp, change.op),
            is_echo,
        );
        let meta = StoredMeta::new(&change.stamp, Some(change.server_version));
        let mut meta_js = || {
            js_objects::remote_meta(
                &original,
                change.stamp.clock as f64,
                &strings.get(&change.stamp.device_id),
                change.server_version as f64,
            )
        };
        let previous = state.local.clone();
        match decision {
            RemoteDecision::Apply | RemoteDecision::ApplyOverPending => {
                let local = write_version(table, &tombstones, state, &change, &meta, &meta_js(), now_ms)?;
                state.tombstoned = matches!(local, LocalVersion::Deleted(_));
                state.held = !state.tombstoned;
                state.local = local;
                // The stored object is needed again only to set the server version of a
                // version written without one, which this one has. Not keeping it lets it die
                // young (a bootstrap page's copies would otherwise outlive the transaction and
                // feed the major collections that stall the page).
                state.record = JsValue::UNDEFINED;
                report.applied.push(&js_objects::applied_change(
                    &state.id.table,
                    &state.id.pk,
                    op_index(change.op),
                    change.server_version as f64,
                ));
            }
            RemoteDecision::Echo | RemoteDecision::Identical => {
                // Same version as stored: remember its server version (tombstone GC needs it).
                if let Some((stored, _)) = state.local.meta() {
                    if stored.op_id == change.stamp.op_id && stored.server_version.is_none() {
                        match &state.local {
                            LocalVersion::Live(_) => {
                                let _ = js_sys::Reflect::set(&state.record, &META_FIELD.into(), &meta_js());
                                table.put(&state.record).map_err(err("updating a record"))?;
                                state.local = LocalVersion::Live(meta.clone());
                            }
                            LocalVersion::Deleted(_) => {
                                tombstones
                                    .put(&stored_tombstone(&state.id, &meta_js(), now_ms))
                                    .map_err(err("writing a tombstone"))?;
                                state.local = LocalVersion::Deleted(meta.clone());
                            }
                            LocalVersion::Absent => {}
                        }
                    }
                }
                if decision == RemoteDecision::Echo {
                    report.echoes += 1;
                } else {
                    report.identical += 1;
                }
            }
            RemoteDecision::KeepLocal => {}
        }
        if decision.is_conflict() {
            if let Some((stored, local_op)) = previous.meta() {
                let conflict = Conflict {
                    table_name: change.table_name.clone(),
                    pk: change.pk.clone(),
                    local: ConflictSide { op: local_op, stamp: stored.stamp() },
                    remote: ConflictSide { op: change.op, stamp: change.stamp.clone() },
                    winner: if decision.writes() { "remote" } else { "local" },
                    local_pending,
                    during_bootstrap,
                    at: now_ms,
                };
                // One object serves the log and the report.
                let logged = rows::conflict(&conflict);
                conflicts_store.add(&logged).map_err(err("logging a conflict"))?;
                report.conflicts.push(&logged);
            }
        }
    }
    if let Some(page) = page {
        let advance = cursor.apply_page(page.next_cursor, page.has_more)?;
        report.cursor_moved = matches!(advance, synclane_core::cursor::Advance::Moved(_));
        write_cursor(tx, &cursor)?;
    }
    report.cursor = cursor;
    Ok(report)
}

/// Writes a remote version; returns what the store now holds for the record.
fn write_version(
    table: &web_sys::IdbObjectStore,
    tombstones: &web_sys::IdbObjectStore,
    state: &KeyState,
    change: &SyncChange<JsPayload>,
    meta: &StoredMeta,
    meta_js: &JsValue,
    now_ms: u64,
) -> SyncResult<LocalVersion> {
    match (&change.op, &change.payload) {
        (OpKind::Put, Some(payload)) => {
            put_record(table, &payload.0, &state.id, meta_js)?;
            if state.tombstoned {
                tombstones
                    .delete(&state.id.key())
                    .map_err(|e| idb::storage_error("clearing a tombstone", &e))?;
            }
            Ok(LocalVersion::Live(meta.clone()))
        }
        _ => {
            // The batch read the record (or knew the store lacks it): a delete of a record the
            // table does not hold is a request spared.
            if state.held {
                table.delete(&state.id.pk).map_err(|e| idb::storage_error("deleting a record", &e))?;
            }
            tombstones
                .put(&stored_tombstone(&state.id, meta_js, now_ms))
                .map_err(|e| idb::storage_error("writing a tombstone", &e))?;
            Ok(LocalVersion::Deleted(meta.clone()))
        }
    }
}
