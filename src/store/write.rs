//! The local write path: stamp each op, write the record (or its tombstone) and its coalesced
//! outbox entry in one transaction. Either all of a batch lands or none of it does.

use super::js_objects::{capture_op, JsRecordKey, JsStrings};
use super::records::{
    from_stored, local_version, op_index, put_local_record, put_new_entry, set, stamp_to_js,
    stored_tombstone, StoredEntry,
};
use super::schema::{BY_RECORD, PENDING_OPS, SYNC_STATE, TOMBSTONES};
use super::{
    abort, add_store_names, commit, object_store, parse_state, probe_occupancy, read_result,
    read_state_request, write_state, BatchTables, Occupancy, Store, StoreSizes, TimeSlicer,
};
use crate::idb;
use std::collections::HashMap;
use synclane_core::hlc::HlcStamp;
use synclane_core::outbox::{coalesce_with, Coalesce, OpState};
use synclane_core::{next_clock, ChangeStamp, OpKind, SyncResult};
use synclane_js::read::{Fields, ReadResult};
use wasm_bindgen::{JsCast, JsValue};
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

/// Running totals of the outbox, kept in `_sync_state` in the same transactions as the entries.
///
/// The row also keeps the newest stamp a local write issued (`lastHlc`), from which the clock
/// resumes after a restart: every local write puts this row anyway, and a row of the clock's own
/// cost each single write one more put (about an eighth of its time). Read and write the row
/// with [`read_totals`], [`totals_from_row`] and [`write_totals`], which carry the stamp over;
/// `results::totals` (what JavaScript is handed) gives the counts alone.
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

impl super::records::Stored for OutboxTotals {
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

pub const OUTBOX_TOTALS: &str = "outbox";
/// The clock's own row, which databases written before the clock moved into the outbox row
/// still hold: the clock resumes from the later of the two.
pub const LEGACY_CLOCK_STATE: &str = "clock";
const LAST_HLC: &str = "lastHlc";

/// Reads the outbox row of `_sync_state` from the row a request returned.
pub fn totals_from_row(row: JsValue) -> SyncResult<OutboxTotals> {
    let mut totals: OutboxTotals = parse_state(row.clone(), OUTBOX_TOTALS)?.unwrap_or_default();
    if !row.is_undefined() {
        let value = js_sys::Reflect::get(&row, &"value".into()).unwrap_or_default();
        let last = js_sys::Reflect::get(&value, &LAST_HLC.into()).unwrap_or_default();
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
pub fn write_totals(tx: &IdbTransaction, totals: &OutboxTotals) -> SyncResult<()> {
    let value = crate::results::totals(totals);
    if let Some(last) = &totals.last_hlc {
        set(value.unchecked_ref(), LAST_HLC, &JsValue::from_str(&last.encode()))?;
    }
    write_state(tx, OUTBOX_TOTALS, &value)
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
    match write_in(&tx, &store.sizes, writes, stamp, now_ms).await {
        Ok(outcome) => {
            commit(&tx, "writing records").await?;
            Ok(outcome)
        }
        Err(err) => Err(abort(&tx, err)),
    }
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
        let entry = StoredEntry {
            seq,
            op_id: stamp.op_id.clone(),
            table_name: write.table.clone(),
            pk: write.pk.clone(),
            op: write.op,
            stamp: stamp.clone(),
            state: OpState::Pending,
            attempts: 0,
            next_attempt_at: now_ms,
            byte_size: payload_size + 64,
            created_at: now_ms,
            last_error: None,
        };
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
