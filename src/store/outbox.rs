//! The outbox in IndexedDB: taking a batch to push and the push preview, and the reads and
//! writes of entries that settling shares (`settle.rs`). Every decision is the core's
//! (`select_batch`); this file reads and writes entries around it.

use super::records::{from_stored, StoredEntry};
use super::rows::{self, read_totals, write_totals, OutboxTotals};
use super::schema::{PENDING_OPS, SYNC_STATE};
use super::tx::{in_tx, object_store};
use super::Store;
use crate::idb;
use js_sys::{Array, Reflect};
use synclane_core::change::PendingOp;
use synclane_core::outbox::{select_batch, OpState, OutboxConfig, OutboxEntry};
use synclane_core::{SyncError, SyncResult};
use wasm_bindgen::JsValue;
use web_sys::IdbTransaction;

/// An entry as the core's outbox rules take it (without its payload).
pub fn core_entry(entry: &StoredEntry) -> OutboxEntry<()> {
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

/// Every entry, in queue order, with the stored object it was read from.
pub async fn all_entries(tx: &IdbTransaction) -> SyncResult<Vec<(JsValue, StoredEntry)>> {
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

/// Puts an entry back with its state, attempts, next attempt and last error updated.
pub fn put_entry(tx: &IdbTransaction, value: &JsValue, entry: &StoredEntry) -> SyncResult<()> {
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
    in_tx!(&tx, "taking a batch", async {
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
    })
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

/// Removes an entry, counting it out of the totals; its op id goes to `removed`.
pub fn remove(
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
