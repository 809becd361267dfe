//! The outbox in IndexedDB: taking a batch to push, settling what the push returned, and the
//! app's retry and discard of failed ops. Every decision is the core's (`select_batch`,
//! `transition`); this file reads and writes entries around it.

use super::records::{from_stored, StoredEntry};
use super::rows::{self, read_totals, record_key, write_totals, OutboxTotals};
use super::schema::{BY_RECORD, PENDING_OPS, SYNC_STATE};
use super::tx::{abort, commit, object_store};
use super::Store;
use crate::idb;
use js_sys::{Array, Reflect};
use synclane_core::change::PendingOp;
use synclane_core::outbox::{
    select_batch, transition, OpState, OutboxConfig, OutboxEntry, PushOutcome, Transition,
};
use synclane_core::{Quoted, SyncError, SyncResult};
use wasm_bindgen::JsValue;
use web_sys::IdbTransaction;

/// How one pushed op ended, as the sync loop reports it.
pub struct Settlement {
    pub seq: u64,
    pub op_id: String,
    pub outcome: PushOutcome,
}

/// What settling did, for events and status.
#[derive(Debug, Default, Clone)]
pub struct SettleReport {
    pub removed: Vec<String>,
    pub retrying: Vec<(String, u64)>,
    pub failed: Vec<String>,
    pub totals: OutboxTotals,
}

fn core_entry(entry: &StoredEntry) -> OutboxEntry<()> {
    OutboxEntry {
        seq: entry.seq.unwrap_or(0),
        op: PendingOp {
            table_name: entry.table_name.clone(),
            pk: entry.pk.clone(),
            op: entry.op,
            payload: None,
            stamp: entry.stamp.clone(),
        },
        state: entry.state,
        attempts: entry.attempts,
        next_attempt_at_ms: entry.next_attempt_at,
        byte_size: entry.byte_size,
        created_at_ms: entry.created_at,
        last_error: entry.last_error.clone(),
    }
}

async fn all_entries(tx: &IdbTransaction) -> SyncResult<Vec<(JsValue, StoredEntry)>> {
    let req =
        object_store(tx, PENDING_OPS)?.get_all().map_err(|e| idb::storage_error("reading the outbox", &e))?;
    let values = idb::request(&req, "reading the outbox").await?;
    Array::from(&values)
        .iter()
        .map(|value| from_stored::<StoredEntry>(value.clone(), "outbox entry").map(|entry| (value, entry)))
        .collect()
}

/// The head of the queue: entries in queue order, read in chunks until they hold a full batch
/// of due ops or the queue ends. `None` when an in-flight entry turns up (the caller then needs
/// the whole queue to know which records are busy).
async fn queue_head(
    tx: &IdbTransaction,
    now_ms: u64,
    config: &OutboxConfig,
) -> SyncResult<Option<Vec<(JsValue, StoredEntry)>>> {
    let pending = object_store(tx, PENDING_OPS)?;
    let chunk = (config.max_batch_ops.saturating_mul(2)).clamp(64, 4096) as u32;
    let mut out = Vec::new();
    let mut after: Option<u64> = None;
    let (mut due, mut due_bytes) = (0usize, 0u64);
    loop {
        let range = match after {
            None => JsValue::NULL,
            Some(seq) => web_sys::IdbKeyRange::lower_bound_with_open(&JsValue::from_f64(seq as f64), true)
                .map_err(|e| idb::storage_error("reading the outbox", &e))?
                .into(),
        };
        let req = pending
            .get_all_with_key_and_limit(&range, chunk)
            .map_err(|e| idb::storage_error("reading the outbox", &e))?;
        let values = Array::from(&idb::request(&req, "reading the outbox").await?);
        for value in values.iter() {
            let entry: StoredEntry = from_stored(value.clone(), "outbox entry")?;
            if entry.state == OpState::InFlight {
                return Ok(None);
            }
            if entry.state == OpState::Pending && entry.next_attempt_at <= now_ms {
                due += 1;
                due_bytes += entry.byte_size;
            }
            after = entry.seq;
            out.push((value, entry));
        }
        if values.length() < chunk
            || due >= config.max_batch_ops
            || due_bytes >= config.max_batch_bytes as u64
        {
            return Ok(Some(out));
        }
    }
}

fn put_entry(tx: &IdbTransaction, value: &JsValue, entry: &StoredEntry) -> SyncResult<()> {
    // Rewrites the metadata fields and keeps the payload object as it is.
    let set = |key: &str, field: &JsValue| Reflect::set(value, &key.into(), field).map(|_| ());
    let written = set("state", &JsValue::from_str(entry.state.as_str()))
        .and_then(|_| set("attempts", &JsValue::from_f64(f64::from(entry.attempts))))
        .and_then(|_| set("nextAttemptAt", &JsValue::from_f64(entry.next_attempt_at as f64)))
        .and_then(|_| match &entry.last_error {
            Some(error) => set("lastError", &rows::error(error)),
            None => Reflect::delete_property(value.unchecked_ref_object(), &"lastError".into()).map(|_| ()),
        });
    written.map_err(|e| idb::storage_error("updating the outbox", &e))?;
    object_store(tx, PENDING_OPS)?
        .put(value)
        .map(|_| ())
        .map_err(|e| idb::storage_error("updating the outbox", &e))
}

trait AsObject {
    fn unchecked_ref_object(&self) -> &js_sys::Object;
}

impl AsObject for JsValue {
    fn unchecked_ref_object(&self) -> &js_sys::Object {
        wasm_bindgen::JsCast::unchecked_ref(self)
    }
}

/// Takes the next due batch, marks it in flight, and returns `{ seq, op }` items where `op` is
/// the `PendingOp` to push (payload included).
pub async fn take_batch(store: &Store, now_ms: u64, config: &OutboxConfig) -> SyncResult<Array> {
    let tx = store.transaction(&[PENDING_OPS, SYNC_STATE], true)?;
    let result = async {
        let mut totals = read_totals(&tx).await?;
        // With nothing in flight, the batch is the first due entries in queue order: reading the
        // head of the queue decides it. Otherwise every in-flight record must be known.
        let head = if totals.in_flight == 0 { queue_head(&tx, now_ms, config).await? } else { None };
        let entries = match head {
            Some(entries) => entries,
            None => all_entries(&tx).await?,
        };
        let core: Vec<OutboxEntry<()>> = entries.iter().map(|(_, e)| core_entry(e)).collect();
        let refs: Vec<&OutboxEntry<()>> = core.iter().collect();
        let chosen = select_batch(&refs, now_ms, config);
        let batch = Array::new();
        for index in chosen {
            let (value, entry) = &entries[index];
            let mut updated = entry.clone();
            updated.state = OpState::InFlight;
            put_entry(&tx, value, &updated)?;
            let op = js_sys::Object::new();
            for key in ["tableName", "pk", "op", "payload", "stamp"] {
                let field = Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED);
                if !field.is_undefined() {
                    let _ = Reflect::set(&op, &key.into(), &field);
                }
            }
            let item = js_sys::Object::new();
            let _ = Reflect::set(&item, &"seq".into(), &JsValue::from_f64(entry.seq.unwrap_or(0) as f64));
            let _ = Reflect::set(&item, &"op".into(), &op);
            batch.push(&item);
        }
        if batch.length() > 0 {
            totals.in_flight += u64::from(batch.length());
            write_totals(&tx, &totals)?;
        }
        Ok::<_, SyncError>(batch)
    }
    .await;
    match result {
        Ok(batch) => {
            commit(&tx, "taking a batch").await?;
            Ok(batch)
        }
        Err(err) => Err(abort(&tx, err)),
    }
}

/// What the next sync would push: due ops in the batches `take_batch` would form (as if each
/// batch were acknowledged before the next), and the ops it would not push yet.
#[derive(Debug, Default, Clone)]
pub struct PushPreview {
    pub batches: Vec<Vec<StoredEntry>>,
    pub ops: usize,
    pub bytes: u64,
    /// Pending ops backing off until `nextAttemptAt`.
    pub waiting: Vec<StoredEntry>,
    /// Ops that wait for the app's retry or discard.
    pub failed: Vec<StoredEntry>,
    /// Ops pushed by a sync that is running now.
    pub in_flight: Vec<StoredEntry>,
}

/// Computes the push preview in a read-only transaction; nothing is marked.
pub async fn preview(store: &Store, now_ms: u64, config: &OutboxConfig) -> SyncResult<PushPreview> {
    let tx = store.transaction(&[PENDING_OPS], false)?;
    let mut remaining: Vec<StoredEntry> = all_entries(&tx).await?.into_iter().map(|(_, e)| e).collect();
    let mut preview = PushPreview::default();
    loop {
        let core: Vec<OutboxEntry<()>> = remaining.iter().map(core_entry).collect();
        let refs: Vec<&OutboxEntry<()>> = core.iter().collect();
        let chosen = select_batch(&refs, now_ms, config);
        if chosen.is_empty() {
            break;
        }
        let mut batch = Vec::with_capacity(chosen.len());
        for index in chosen.into_iter().rev() {
            batch.push(remaining.remove(index));
        }
        batch.reverse();
        preview.ops += batch.len();
        preview.bytes += batch.iter().map(|e| e.byte_size).sum::<u64>();
        preview.batches.push(batch);
    }
    for entry in remaining {
        match entry.state {
            OpState::Pending => preview.waiting.push(entry),
            OpState::Failed => preview.failed.push(entry),
            OpState::InFlight => preview.in_flight.push(entry),
        }
    }
    Ok(preview)
}

/// Applies push outcomes to in-flight entries, atomically.
pub async fn settle(
    store: &Store,
    settlements: Vec<Settlement>,
    now_ms: u64,
    random: f64,
    config: &OutboxConfig,
) -> SyncResult<SettleReport> {
    let tx = store.transaction(&[PENDING_OPS, SYNC_STATE], true)?;
    let result = settle_in(&tx, settlements, now_ms, random, config).await;
    match result {
        Ok(report) => {
            commit(&tx, "settling pushed ops").await?;
            Ok(report)
        }
        Err(err) => Err(abort(&tx, err)),
    }
}

async fn settle_in(
    tx: &IdbTransaction,
    settlements: Vec<Settlement>,
    now_ms: u64,
    random: f64,
    config: &OutboxConfig,
) -> SyncResult<SettleReport> {
    let pending = object_store(tx, PENDING_OPS)?;
    let by_record =
        pending.index(BY_RECORD).map_err(|e| idb::storage_error("opening the outbox index", &e))?;
    let mut totals = read_totals(tx).await?;
    let mut report = SettleReport::default();
    // Two round trips for the whole batch: every entry, then every record's entry count.
    let entry_reqs = settlements
        .iter()
        .map(|s| {
            pending
                .get(&JsValue::from_f64(s.seq as f64))
                .map_err(|e| idb::storage_error("reading the outbox", &e))
        })
        .collect::<SyncResult<Vec<_>>>()?;
    let mut found = Vec::with_capacity(settlements.len());
    for (settlement, req) in settlements.into_iter().zip(entry_reqs) {
        let value = idb::request(&req, "reading the outbox").await?;
        if value.is_undefined() {
            continue; // discarded by the app while the push was in the air
        }
        let entry: StoredEntry = from_stored(value.clone(), "outbox entry")?;
        if entry.op_id != settlement.op_id || entry.state != OpState::InFlight {
            continue; // not the op that was pushed
        }
        let count_req = by_record
            .count_with_key(&record_key(&entry.table_name, &entry.pk))
            .map_err(|e| idb::storage_error("reading the outbox", &e))?;
        found.push((settlement, value, entry, count_req));
    }
    // Counts were read before this loop removes anything: a record whose older entry is removed
    // earlier in the same batch has one entry fewer than its count says.
    // Keyed like the record maps of the write and apply paths, so the wasm holds one map type.
    let mut removed_per_record: std::collections::HashMap<(String, String), usize> = Default::default();
    for (settlement, value, entry, count_req) in found {
        // Every outcome takes the entry out of flight (removed, back to pending, or failed).
        totals.in_flight = totals.in_flight.saturating_sub(1);
        let record = (entry.table_name.clone(), entry.pk.clone());
        let count = idb::request(&count_req, "reading the outbox").await?.as_f64().unwrap_or(0.0);
        let removed_earlier = removed_per_record.get(&record).copied().unwrap_or(0);
        let superseded = count - removed_earlier as f64 > 1.0;
        let removed_before = report.removed.len();
        let decision = transition(&core_entry(&entry), &settlement.outcome, now_ms, random, &config.retry);
        match decision {
            Transition::Remove => remove(&pending, &entry, &mut totals, &mut report.removed)?,
            // A newer write of the record is queued and carries its whole state: the failed
            // older op has nothing left to deliver.
            Transition::RetryAt { .. } | Transition::Fail { .. } if superseded => {
                remove(&pending, &entry, &mut totals, &mut report.removed)?
            }
            Transition::RetryAt { at_ms, attempts, error } => {
                let mut updated = entry.clone();
                updated.state = OpState::Pending;
                updated.attempts = attempts;
                updated.next_attempt_at = at_ms;
                updated.last_error = Some(error);
                put_entry(tx, &value, &updated)?;
                report.retrying.push((entry.op_id.clone(), at_ms));
            }
            Transition::Fail { attempts, error } => {
                let mut updated = entry.clone();
                updated.state = OpState::Failed;
                updated.attempts = attempts;
                updated.last_error = Some(error);
                put_entry(tx, &value, &updated)?;
                totals.failed += 1;
                report.failed.push(entry.op_id.clone());
            }
        }
        if report.removed.len() > removed_before {
            removed_per_record.insert(record, removed_earlier + 1);
        }
    }
    write_totals(tx, &totals)?;
    report.totals = totals;
    Ok(report)
}

fn remove(
    pending: &web_sys::IdbObjectStore,
    entry: &StoredEntry,
    totals: &mut OutboxTotals,
    removed: &mut Vec<String>,
) -> SyncResult<()> {
    pending
        .delete(&JsValue::from_f64(entry.seq.unwrap_or(0) as f64))
        .map_err(|e| idb::storage_error("removing from the outbox", &e))?;
    totals.count = totals.count.saturating_sub(1);
    totals.bytes = totals.bytes.saturating_sub(entry.byte_size);
    removed.push(entry.op_id.clone());
    Ok(())
}

/// What the app can do with a failed op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedOpAction {
    Retry,
    Discard,
}

/// Retries or discards a failed op by op id. Returns the entry's stored value.
pub async fn resolve_failed(
    store: &Store,
    op_id: &str,
    action: FailedOpAction,
    now_ms: u64,
) -> SyncResult<JsValue> {
    let tx = store.transaction(&[PENDING_OPS, SYNC_STATE], true)?;
    let result = async {
        let entries = all_entries(&tx).await?;
        let (value, entry) = entries
            .into_iter()
            .find(|(_, e)| e.op_id == op_id)
            .ok_or_else(|| SyncError::invalid_argument(format!("no op {} in the outbox", Quoted(op_id))))?;
        if entry.state != OpState::Failed {
            return Err(SyncError::invalid_argument(format!("op {} is not failed", Quoted(op_id))));
        }
        let mut totals = read_totals(&tx).await?;
        match action {
            FailedOpAction::Retry => {
                let mut updated = entry.clone();
                updated.state = OpState::Pending;
                updated.attempts = 0;
                updated.next_attempt_at = now_ms;
                put_entry(&tx, &value, &updated)?;
            }
            FailedOpAction::Discard => {
                let pending = object_store(&tx, PENDING_OPS)?;
                remove(&pending, &entry, &mut totals, &mut Vec::new())?;
            }
        }
        totals.failed = totals.failed.saturating_sub(1);
        write_totals(&tx, &totals)?;
        Ok::<_, SyncError>(value)
    }
    .await;
    match result {
        Ok(value) => {
            commit(&tx, "resolving a failed op").await?;
            Ok(value)
        }
        Err(err) => Err(abort(&tx, err)),
    }
}

/// Puts every in-flight op back to pending: after a restart, or when this tab takes over the
/// sync loop, the answer to those pushes is lost; pushing again is safe (dedup by op id).
pub async fn recover_in_flight(store: &Store) -> SyncResult<u32> {
    let tx = store.transaction(&[PENDING_OPS, SYNC_STATE], true)?;
    let result = async {
        let mut totals = read_totals(&tx).await?;
        let mut count = 0;
        for (value, entry) in all_entries(&tx).await? {
            if entry.state == OpState::InFlight {
                let mut updated = entry.clone();
                updated.state = OpState::Pending;
                put_entry(&tx, &value, &updated)?;
                count += 1;
            }
        }
        totals.in_flight = 0;
        write_totals(&tx, &totals)?;
        Ok::<_, SyncError>(count)
    }
    .await;
    match result {
        Ok(count) => {
            commit(&tx, "recovering in-flight ops").await?;
            Ok(count)
        }
        Err(err) => Err(abort(&tx, err)),
    }
}
