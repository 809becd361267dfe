//! The local write path: stamp each op, write the record (or its tombstone) and its coalesced
//! outbox entry in one transaction. Either all of a batch lands or none of it does.

use super::batch::{probe_occupancy, Occupancy, StoreSizes, TimeSlicer};
use super::js_objects::{capture_op, JsRecordKey, JsStrings};
use super::records::{
    from_stored, local_version, op_index, put_local_record, put_new_entry, stamp_to_js, stored_tombstone,
    StoredEntry,
};
use super::rows::{read_state_request, totals_from_row, write_totals, OutboxTotals, OUTBOX_TOTALS};
use super::schema::{BY_RECORD, PENDING_OPS, SYNC_STATE, TOMBSTONES};
use super::tx::{add_store_names, in_tx, object_store, read_result, BatchTables};
use super::Store;
use crate::idb;
use std::collections::HashMap;
use synclane_core::hlc::HlcStamp;
use synclane_core::outbox::{coalesce_with, Coalesce, OpState};
use synclane_core::{next_clock, ChangeStamp, OpKind, SyncResult};
use wasm_bindgen::JsValue;
use web_sys::IdbTransaction;

/// One local write, already checked for shape by the caller.
pub struct LocalWrite {
    pub table: String,
    pub pk: String,
    /// `pk` as the JavaScript string it was read from.
    pub pk_js: JsValue,
    pub op: OpKind,
    /// The app's record for a put.
    pub record: Option<JsValue>,
}

/// The result of a batch.
pub struct WriteOutcome {
    /// What each write became: the TypeScript `CapturedOp`s, in the order of the writes.
    pub captured: js_sys::Array,
    pub totals: OutboxTotals,
}

/// Writes a batch atomically. `stamp` makes the stamp of a write given its clock.
pub async fn write_batch(
    store: &Store,
    writes: Vec<LocalWrite>,
    stamp: &mut dyn FnMut(u64) -> ChangeStamp,
    now_ms: u64,
) -> SyncResult<WriteOutcome> {
    let mut stores = vec![PENDING_OPS, TOMBSTONES, SYNC_STATE];
    add_store_names(&mut stores, writes.iter().map(|w| w.table.as_str()));
    let tx = store.transaction(&stores, true)?;
    in_tx!(&tx, "writing records", write_in(&tx, &store.sizes, writes, stamp, now_ms))
}

/// What the batch knows about one record: its clock, and the newest outbox entry for it,
/// either read from the store or written earlier in this batch (then not yet put).
struct KeyState {
    /// The highest clock seen for the record (`None`: never seen).
    clock: Option<u64>,
    /// Whether the store holds a tombstone for the record (a put must clear it).
    tombstoned: bool,
    newest: Option<StoredEntry>,
    /// The entry this batch will put for the record, with its payload and its stamp as stored.
    queued: Option<(StoredEntry, Option<JsValue>, JsValue)>,
    id: JsRecordKey,
}

/// The reads one record needs, issued before any is awaited so the batch costs one round trip
/// rather than one per write.
struct KeyReads {
    id: JsRecordKey,
    record: Option<web_sys::IdbRequest>,
    tombstone: Option<web_sys::IdbRequest>,
    entries: Option<web_sys::IdbRequest>,
}

async fn write_in(
    tx: &IdbTransaction,
    sizes: &StoreSizes,
    writes: Vec<LocalWrite>,
    stamp: &mut dyn FnMut(u64) -> ChangeStamp,
    now_ms: u64,
) -> SyncResult<WriteOutcome> {
    let err = |what: &'static str| move |e: JsValue| idb::storage_error(what, &e);
    let tombstones = object_store(tx, TOMBSTONES)?;
    let pending = object_store(tx, PENDING_OPS)?;
    let by_record =
        pending.index(BY_RECORD).map_err(|e| idb::storage_error("opening the outbox index", &e))?;
    let tables = BatchTables::open(tx, writes.iter().map(|w| &w.table))?;
    // A batch of several records first asks which stores hold anything, and skips the reads
    // of empty ones. A single write reads at once: its latency matters more than one request.
    let several = {
        let first = writes.first().map(|w| (&w.table, &w.pk));
        writes.iter().any(|w| Some((&w.table, &w.pk)) != first)
    };
    let (occupancy, probed_totals) = if several {
        let (occupancy, totals) = probe_occupancy(tx, sizes, &tombstones, &tables, writes.len()).await?;
        (occupancy, Some(totals))
    } else {
        (Occupancy::assumed_full(), None)
    };
    let totals_req = match probed_totals {
        Some(_) => None,
        None => Some(read_state_request(tx, OUTBOX_TOTALS)?),
    };
    // A small outbox is read whole, in one request, rather than by one index read per record.
    let whole_outbox = match probed_totals {
        Some(totals) if totals.count > 0 && totals.count <= writes.len() as u64 => {
            Some(pending.get_all().map_err(err("reading the outbox"))?)
        }
        _ => None,
    };
    let mut last = totals_req.clone().or(whole_outbox.clone());

    // Every record's reads go out first; the records keep the order of their first write.
    // `slots` gives a record's place in `reads` and `states` (one map type for every batch of
    // the store keeps the wasm smaller than a map per kind of value).
    let mut slots: HashMap<(String, String), usize> = HashMap::new();
    let mut reads: Vec<KeyReads> = Vec::new();
    let mut strings = JsStrings::default();
    for write in &writes {
        let id = (write.table.clone(), write.pk.clone());
        if slots.contains_key(&id) {
            continue;
        }
        let js_id = JsRecordKey { table: strings.get(&write.table), pk: write.pk_js.clone() };
        let key = js_id.key();
        let table = tables.get(&write.table);
        let read = KeyReads {
            record: if occupancy.may_have_record(&id) {
                Some(table.get(&js_id.pk).map_err(err("reading a record"))?)
            } else {
                None
            },
            tombstone: if occupancy.may_have_tombstone(&id) {
                Some(tombstones.get(&key).map_err(err("reading a tombstone"))?)
            } else {
                None
            },
            entries: if occupancy.outbox && whole_outbox.is_none() {
                Some(by_record.get_all_with_key(&key).map_err(err("reading the outbox"))?)
            } else {
                None
            },
            id: js_id,
        };
        last = read.entries.clone().or(read.tombstone.clone()).or(read.record.clone()).or(last);
        reads.push(read);
        slots.insert(id, reads.len() - 1);
    }
    idb::group_done(last.as_ref(), "reading records").await?;
    let mut totals: OutboxTotals = match probed_totals {
        Some(totals) => totals,
        None => totals_from_row(read_result(totals_req, "reading sync state")?)?,
    };
    let mut from_whole: Vec<Option<StoredEntry>> = reads.iter().map(|_| None).collect();
    if let Some(req) = &whole_outbox {
        for value in js_sys::Array::from(&idb::request(req, "reading the outbox").await?).iter() {
            let field =
                |name: &str| js_sys::Reflect::get(&value, &name.into()).ok().and_then(|v| v.as_string());
            let Some(slot) = field("tableName").zip(field("pk")).and_then(|id| slots.get(&id).copied())
            else {
                continue;
            };
            let entry: StoredEntry = from_stored(value, "outbox entry")?;
            if from_whole[slot].as_ref().is_none_or(|newest| newest.seq < entry.seq) {
                from_whole[slot] = Some(entry);
            }
        }
    }
    let mut states: Vec<KeyState> = Vec::with_capacity(reads.len());
    for (r, whole) in reads.into_iter().zip(from_whole) {
        let record = read_result(r.record, "reading a record")?;
        let tombstone = read_result(r.tombstone, "reading a tombstone")?;
        // Not read (the outbox is empty): no entries. `Array.from(undefined)` would throw.
        let entries = read_result(r.entries, "reading the outbox")?;
        let entries =
            if entries.is_undefined() { js_sys::Array::new() } else { js_sys::Array::from(&entries) };
        let newest = entries
            .iter()
            .map(|e| from_stored::<StoredEntry>(e, "outbox entry"))
            .collect::<SyncResult<Vec<_>>>()?
            .into_iter()
            .max_by_key(|e| e.seq.unwrap_or(0))
            .or(whole);
        let clock = local_version(&record, &tombstone)?.clock();
        let tombstoned = tombstone.is_object();
        states.push(KeyState { clock, tombstoned, newest, queued: None, id: r.id });
    }

    let captured = js_sys::Array::new();
    let mut last_hlc = None;
    let mut slicer = TimeSlicer::new(TimeSlicer::LOCAL_BATCH_MS);
    for write in writes {
        slicer.step(tx).await?;
        let id = (write.table.clone(), write.pk.clone());
        let state = &mut states[slots[&id]];
        let table = tables.get(&write.table);
        let stamp = stamp(next_clock(state.clock));
        state.clock = Some(stamp.clock);
        let meta = stamp_to_js(&stamp, None, &mut strings);
        let payload_size = match (&write.op, &write.record) {
            (OpKind::Put, Some(payload)) => {
                let size = put_local_record(table, payload, &state.id, &meta)?;
                if state.tombstoned {
                    tombstones.delete(&state.id.key()).map_err(err("clearing a tombstone"))?;
                    state.tombstoned = false;
                }
                size
            }
            _ => {
                table.delete(&state.id.pk).map_err(err("deleting a record"))?;
                tombstones
                    .put(&stored_tombstone(&state.id, &meta, now_ms))
                    .map_err(err("writing a tombstone"))?;
                state.tombstoned = true;
                0
            }
        };

        let newest = state.queued.as_ref().map(|(e, _, _)| e).or(state.newest.as_ref());
        let decision = coalesce_with(newest.map(|e| (e.state, e.seq.unwrap_or(0), e.op_id.as_str())));
        let (seq, replaced_op_id) = match decision {
            Coalesce::Append => (None, None),
            Coalesce::Replace { replaced_op_id, .. } => {
                let old = newest.map_or(0, |e| e.byte_size);
                totals.bytes = totals.bytes.saturating_sub(old);
                totals.count = totals.count.saturating_sub(1);
                if newest.is_some_and(|e| e.state == OpState::Failed) {
                    totals.failed = totals.failed.saturating_sub(1);
                }
                // The replaced entry keeps its place in the queue (an entry queued earlier in
                // this batch has no place yet and takes one when it is put).
                (newest.and_then(|e| e.seq), Some(replaced_op_id))
            }
        };
        let entry = StoredEntry::pending(
            seq,
            write.table.clone(),
            write.pk.clone(),
            write.op,
            stamp.clone(),
            payload_size,
            now_ms,
        );
        totals.bytes += entry.byte_size;
        totals.count += 1;
        capture_op(&captured, &state.id.table, &state.id.pk, op_index(write.op), &meta, replaced_op_id);
        let payload = if write.op == OpKind::Put { write.record } else { None };
        state.queued = Some((entry, payload, meta));
        last_hlc = Some(stamp.hlc);
    }
    // One outbox entry per record written: later writes in the batch replaced earlier ones.
    for state in &mut states {
        slicer.step(tx).await?;
        if let Some((entry, payload, stamp)) = state.queued.take() {
            put_new_entry(&pending, &entry, payload.as_ref(), &state.id, &stamp)?;
        }
    }
    // The stamps rise through the batch; another tab's clock may have stored a later one.
    let newest = last_hlc.and_then(|hlc| HlcStamp::parse(&hlc).ok());
    totals.last_hlc = totals.last_hlc.max(newest);
    write_totals(tx, &totals)?;
    Ok(WriteOutcome { captured, totals })
}
