//! The swap of a rescan: the server's full set, staged page by page (`staging.rs`), reconciled
//! with local data by the core's plan and swapped in with one transaction, pending ops kept;
//! after a server reset, what the server lost is queued again. The same plan, read-only, is
//! `plan({ rescan: true })`.

use super::js_objects::{self, JsStrings};
use super::records::{
    app_record, from_stored, local_version, put_new_entry, put_record, stamp_to_js, stored_tombstone,
    LocalVersion, StoredEntry, Tombstone,
};
use super::rows::{
    epoch_from_row, parse_state, read_state_request, totals_from_row, write_cursor, write_epoch,
    write_totals, StagingState, CURSOR_STATE, OUTBOX_TOTALS, SERVER_EPOCH, STAGING_STATE,
};
use super::schema::{PENDING_OPS, STAGING, SYNC_STATE, TOMBSTONES};
use super::staging::empty_staging;
use super::tx::{in_tx, object_store, read_result, BatchTables};
use super::Store;
use crate::idb;
use crate::payload::JsPayload;
use js_sys::{Array, Reflect};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use synclane_core::change::SyncChange;
use synclane_core::cursor::CursorState;
use synclane_core::plan::{compute_plan, PlanSummary, ReconcilePlan, RecordKey, RecordMeta};
use synclane_core::reset::compute_reset_plan;
use synclane_core::{OpKind, SyncError, SyncResult};
use wasm_bindgen::JsValue;
use web_sys::IdbTransaction;

/// What the swap changed.
#[derive(Debug, Clone)]
pub struct RescanReport {
    pub summary: PlanSummary,
    pub cursor: CursorState,
    /// Keys whose local data changed (for watchers).
    pub changed: Vec<(String, String)>,
    /// Set when the server turned out to have been reset (see `synclane_core::reset`).
    pub reset: Option<ResetReport>,
}

/// What a swap after a server reset kept from the lost data.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResetReport {
    /// The cursor before the reset, counted in the lost data set.
    pub previous_cursor: u64,
    /// Local versions queued again for the server: records and tombstones.
    pub republished_records: u64,
    pub republished_tombstones: u64,
}

/// The local side of a reconciliation: every live record's and tombstone's metadata, and the
/// keys with pending ops.
struct LocalSet {
    metas: Vec<RecordMeta>,
    /// The stored object of each live record, beside its meta (a reset republishes from them).
    records: Vec<JsValue>,
    pending_keys: HashSet<RecordKey>,
}

/// Issues every read first, then awaits them: one round trip.
fn get_all(tx: &IdbTransaction, name: &str) -> SyncResult<web_sys::IdbRequest> {
    object_store(tx, name)?.get_all().map_err(|e| idb::storage_error("reading for a rescan", &e))
}

async fn read_local(store: &Store, tx: &IdbTransaction) -> SyncResult<LocalSet> {
    let tomb_req = get_all(tx, TOMBSTONES)?;
    let pending_req = get_all(tx, PENDING_OPS)?;
    let table_reqs: Vec<(String, web_sys::IdbRequest)> = store
        .table_names
        .iter()
        .map(|t| get_all(tx, t).map(|r| (t.clone(), r)))
        .collect::<SyncResult<_>>()?;
    let tombstones = Array::from(&idb::request(&tomb_req, "reading tombstones").await?);
    let pending = Array::from(&idb::request(&pending_req, "reading the outbox").await?);
    let mut metas: Vec<RecordMeta> = Vec::new();
    let mut records = Vec::new();
    for (table, req) in table_reqs {
        for record in Array::from(&idb::request(&req, "reading records").await?).iter() {
            if let LocalVersion::Live(meta) = local_version(&record, &JsValue::UNDEFINED)? {
                let pk =
                    Reflect::get(&record, &"id".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
                metas.push(RecordMeta {
                    key: RecordKey::new(&table, &pk),
                    stamp: meta.stamp(),
                    deleted: false,
                });
                records.push(record);
            }
        }
    }
    for tombstone in tombstones.iter() {
        let t: Tombstone = from_stored(tombstone, "tombstone")?;
        if store.table_names.contains(&t.table_name) {
            metas.push(RecordMeta {
                key: RecordKey::new(&t.table_name, &t.pk),
                stamp: t.meta.stamp(),
                deleted: true,
            });
        }
    }
    let mut pending_keys = HashSet::new();
    for entry in pending.iter() {
        let entry: StoredEntry = from_stored(entry, "outbox entry")?;
        pending_keys.insert(RecordKey::new(&entry.table_name, &entry.pk));
    }
    Ok(LocalSet { metas, records, pending_keys })
}

/// The server's set, one change per key (the last one in server order wins, as pulled pages
/// are ascending), restricted to the workspace's tables.
struct RemoteSet {
    changes: Vec<SyncChange<JsPayload>>,
    /// Where each key's change is in `changes`. Keyed like the record maps of the write and
    /// apply paths, so the wasm holds one map type for them all.
    slots: HashMap<(String, String), usize>,
    /// The changes' metadata, for the plan.
    metas: Vec<RecordMeta>,
}

impl RemoteSet {
    fn new(store: &Store, changes: impl IntoIterator<Item = SyncChange<JsPayload>>) -> RemoteSet {
        let mut kept: Vec<SyncChange<JsPayload>> = Vec::new();
        let mut slots: HashMap<(String, String), usize> = HashMap::new();
        for change in changes {
            if store.table_names.contains(&change.table_name) {
                match slots.entry((change.table_name.clone(), change.pk.clone())) {
                    Entry::Occupied(slot) => kept[*slot.get()] = change,
                    Entry::Vacant(slot) => {
                        slot.insert(kept.len());
                        kept.push(change);
                    }
                }
            }
        }
        let metas = kept.iter().map(RecordMeta::of_change).collect();
        RemoteSet { changes: kept, slots, metas }
    }

    fn get(&self, key: &RecordKey) -> Option<&SyncChange<JsPayload>> {
        let slot = *self.slots.get(&(key.table.clone(), key.pk.clone()))?;
        Some(&self.changes[slot])
    }
}

/// What a rescan would change, given the server's full set: the core's plan against local
/// data, computed in a read-only transaction. Nothing is staged or written.
pub async fn dry_run(store: &Store, changes: Vec<SyncChange<JsPayload>>) -> SyncResult<ReconcilePlan> {
    let mut stores: Vec<&str> = store.table_names.iter().map(String::as_str).collect();
    stores.extend([TOMBSTONES, PENDING_OPS]);
    let tx = store.transaction(&stores, false)?;
    let local = read_local(store, &tx).await?;
    let remote = RemoteSet::new(store, changes);
    compute_plan(&local.metas, &remote.metas, &local.pending_keys)
}

/// Swaps the staged set in: the core's plan against local data, pending ops kept, one
/// transaction; then the cursor goes live at the staged cursor. When the staged set shows the
/// server was reset (`CursorState::server_was_reset`), the reset plan keeps what the server
/// lost and queues it again (`synclane_core::reset`), and the cursor restarts from the
/// server's head.
pub async fn complete(store: &Store, now_ms: u64) -> SyncResult<RescanReport> {
    let mut stores: Vec<&str> = store.table_names.iter().map(String::as_str).collect();
    stores.extend([SYNC_STATE, STAGING, TOMBSTONES, PENDING_OPS]);
    let tx = store.transaction(&stores, true)?;
    in_tx!(&tx, "swapping in a rescan", async {
        // Every read goes out before any is awaited: requests finish in order, so once the
        // local set is read the state rows and the staging are answered too.
        let state_req = read_state_request(&tx, STAGING_STATE)?;
        let cursor_req = read_state_request(&tx, CURSOR_STATE)?;
        let epoch_req = read_state_request(&tx, SERVER_EPOCH)?;
        let staged_req = get_all(&tx, STAGING)?;
        let LocalSet { metas: local, records, pending_keys } = read_local(store, &tx).await?;
        let state: StagingState =
            parse_state(read_result(Some(state_req), "reading sync state")?, STAGING_STATE)?
                .unwrap_or_default();
        if !state.complete {
            return Err(SyncError::invalid_argument("the staged set is not complete"));
        }
        let mut cursor: CursorState =
            parse_state(read_result(Some(cursor_req), "reading sync state")?, CURSOR_STATE)?
                .unwrap_or_default();
        let known_epoch = epoch_from_row(&read_result(Some(epoch_req), "reading sync state")?);
        let reset =
            cursor.server_was_reset(state.next_cursor, known_epoch.as_deref(), state.epoch.as_deref());
        let staged = Array::from(&idb::request(&staged_req, "reading the staging").await?);
        let staged_changes = staged
            .iter()
            .map(|value| from_stored::<SyncChange<JsPayload>>(value, "staged change"))
            .collect::<SyncResult<Vec<_>>>()?;
        let remote = RemoteSet::new(store, staged_changes);
        let (plan, republish) = if reset {
            let reset = compute_reset_plan(&local, &remote.metas, &pending_keys)?;
            (reset.plan, reset.republish)
        } else {
            (compute_plan(&local, &remote.metas, &pending_keys)?, Vec::new())
        };

        let tomb_store = object_store(&tx, TOMBSTONES)?;
        let tables = BatchTables::open(&tx, store.table_names.iter())?;
        let mut changed = Vec::new();
        let mut strings = JsStrings::default();
        for meta in
            plan.creations.iter().chain(&plan.updates).chain(plan.deletions.iter().filter(|m| m.deleted))
        {
            let Some(change) = remote.get(&meta.key) else { continue };
            let table = tables.get(&change.table_name);
            let meta = stamp_to_js(&change.stamp, Some(change.server_version), &mut strings);
            let id = strings.record(&change.table_name, &change.pk);
            match (&change.op, &change.payload) {
                (OpKind::Put, Some(payload)) => {
                    put_record(table, &payload.0, &id, &meta)?;
                    tomb_store
                        .delete(&id.key())
                        .map_err(|e| idb::storage_error("clearing a tombstone", &e))?;
                }
                _ => {
                    table.delete(&id.pk).map_err(|e| idb::storage_error("deleting a record", &e))?;
                    tomb_store
                        .put(&stored_tombstone(&id, &meta, now_ms))
                        .map_err(|e| idb::storage_error("writing a tombstone", &e))?;
                }
            }
            changed.push((change.table_name.clone(), change.pk.clone()));
        }
        for meta in plan.deletions.iter().filter(|m| !m.deleted) {
            // Deleted on the server and its tombstone purged: remove, with no tombstone to invent.
            tables
                .get(&meta.key.table)
                .delete(&JsValue::from_str(&meta.key.pk))
                .map_err(|e| idb::storage_error("deleting a record", &e))?;
            changed.push((meta.key.table.clone(), meta.key.pk.clone()));
        }
        let reset = if reset {
            let mut report =
                republish_versions(&tx, &local, records, &republish, &mut strings, now_ms).await?;
            report.previous_cursor = cursor.cursor;
            cursor.complete_reset(state.next_cursor)?;
            Some(report)
        } else {
            cursor.complete_rescan(state.next_cursor)?;
            None
        };
        write_cursor(&tx, &cursor)?;
        if let Some(epoch) = &state.epoch {
            write_epoch(&tx, epoch)?;
        }
        empty_staging(&tx)?;
        Ok(RescanReport { summary: plan.summary(), cursor, changed, reset })
    })
}

/// Queues the local versions a reset server lost, each as the op that wrote it (its own stamp,
/// so the server's conflict rule and op-id dedup treat it like the original push), in the
/// swap's transaction: they reach the outbox together with the new cursor, or neither does.
/// Payloads come from the records the local set read (`records[i]` is `local[i]`'s object:
/// live records come first), so nothing is read twice.
async fn republish_versions(
    tx: &IdbTransaction,
    local: &[RecordMeta],
    records: Vec<JsValue>,
    republish: &[RecordMeta],
    strings: &mut JsStrings,
    now_ms: u64,
) -> SyncResult<ResetReport> {
    let mut report = ResetReport::default();
    if republish.is_empty() {
        return Ok(report);
    }
    let totals_req = read_state_request(tx, OUTBOX_TOTALS)?;
    // Keyed like the store's other record maps, so the wasm holds one map type for them all.
    let slots: HashMap<(String, String), usize> = local[..records.len()]
        .iter()
        .enumerate()
        .map(|(i, m)| ((m.key.table.clone(), m.key.pk.clone()), i))
        .collect();
    let mut totals = totals_from_row(idb::request(&totals_req, "reading sync state").await?)?;
    let pending = object_store(tx, PENDING_OPS)?;
    for meta in republish {
        let payload = match meta.deleted {
            true => None,
            false => slots
                .get(&(meta.key.table.clone(), meta.key.pk.clone()))
                .map(|&slot| app_record(records[slot].clone(), false)),
        };
        // Counted as a local write counts it: the UTF-8 length of the payload's JSON.
        let payload_size = payload.as_ref().map_or(0, |p| js_objects::json_bytes(p) as u64);
        let entry = StoredEntry::pending(
            None,
            meta.key.table.clone(),
            meta.key.pk.clone(),
            if meta.deleted { OpKind::Delete } else { OpKind::Put },
            meta.stamp.clone(),
            payload_size,
            now_ms,
        );
        let id = strings.record(&meta.key.table, &meta.key.pk);
        let stamp = stamp_to_js(&meta.stamp, None, strings);
        put_new_entry(&pending, &entry, payload.as_ref(), &id, &stamp)?;
        totals.count += 1;
        totals.bytes += entry.byte_size;
        if meta.deleted {
            report.republished_tombstones += 1;
        } else {
            report.republished_records += 1;
        }
    }
    write_totals(tx, &totals)?;
    Ok(report)
}
