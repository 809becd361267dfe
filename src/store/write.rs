//! The local write path: stamp each op, write the record (or its tombstone) and its coalesced
//! outbox entry in one transaction. Either all of a batch lands or none of it does.

use super::records::{
    byte_size, entry_to_js, from_stored, local_version, stored_record, StoredEntry, StoredMeta, Tombstone,
};
use super::schema::{BY_RECORD, PENDING_OPS, SYNC_STATE, TOMBSTONES};
use super::{abort, commit, object_store, read_state, record_key, write_state, Store};
use crate::idb;
use serde::{Deserialize, Serialize};
use synclane_core::outbox::{coalesce_with, Coalesce, OpState};
use synclane_core::{next_clock, ChangeStamp, OpKind, SyncResult};
use wasm_bindgen::JsValue;
use web_sys::IdbTransaction;

/// One local write, already checked for shape by the caller.
pub struct LocalWrite {
    pub table: String,
    pub pk: String,
    pub op: OpKind,
    /// The app's record for a put.
    pub record: Option<JsValue>,
}

/// What a write became.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Captured {
    pub op_id: String,
    pub table_name: String,
    pub pk: String,
    pub op: OpKind,
    pub clock: u64,
    pub hlc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_op_id: Option<String>,
}

/// Running totals of the outbox, kept in `_sync_state` in the same transactions as the entries.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxTotals {
    pub count: u64,
    pub bytes: u64,
}

pub const OUTBOX_TOTALS: &str = "outbox";
pub const CLOCK_STATE: &str = "clock";

/// The result of a batch.
pub struct WriteOutcome {
    pub captured: Vec<Captured>,
    pub totals: OutboxTotals,
}

/// Writes a batch atomically. `stamp` makes the stamp of a write given its clock.
pub async fn write_batch(
    store: &Store,
    writes: Vec<LocalWrite>,
    stamp: &mut dyn FnMut(u64) -> ChangeStamp,
    now_ms: u64,
) -> SyncResult<WriteOutcome> {
    let mut stores: Vec<&str> = writes.iter().map(|w| w.table.as_str()).collect();
    stores.extend([PENDING_OPS, TOMBSTONES, SYNC_STATE]);
    stores.sort_unstable();
    stores.dedup();
    let tx = store.transaction(&stores, true)?;
    match write_in(&tx, writes, stamp, now_ms).await {
        Ok(outcome) => {
            commit(&tx, "writing records").await?;
            Ok(outcome)
        }
        Err(err) => Err(abort(&tx, err)),
    }
}

async fn write_in(
    tx: &IdbTransaction,
    writes: Vec<LocalWrite>,
    stamp: &mut dyn FnMut(u64) -> ChangeStamp,
    now_ms: u64,
) -> SyncResult<WriteOutcome> {
    let tombstones = object_store(tx, TOMBSTONES)?;
    let pending = object_store(tx, PENDING_OPS)?;
    let by_record =
        pending.index(BY_RECORD).map_err(|e| idb::storage_error("opening the outbox index", &e))?;
    let mut totals: OutboxTotals = read_state(tx, OUTBOX_TOTALS).await?.unwrap_or_default();
    let mut captured = Vec::with_capacity(writes.len());
    let mut last_hlc = None;
    for write in writes {
        let table = object_store(tx, &write.table)?;
        let key = record_key(&write.table, &write.pk);
        let pk = JsValue::from_str(&write.pk);
        let err = |what: &'static str| move |e: JsValue| idb::storage_error(what, &e);
        let record_req = table.get(&pk).map_err(err("reading a record"))?;
        let tomb_req = tombstones.get(&key).map_err(err("reading a tombstone"))?;
        let entries_req = by_record.get_all_with_key(&key).map_err(err("reading the outbox"))?;
        let record = idb::request(&record_req, "reading a record").await?;
        let tombstone = idb::request(&tomb_req, "reading a tombstone").await?;
        let entries = idb::request(&entries_req, "reading the outbox").await?;

        let current = local_version(&record, &tombstone)?;
        let stamp = stamp(next_clock(current.clock()));
        let meta = StoredMeta::new(&stamp, None);
        let payload_size = match (&write.op, &write.record) {
            (OpKind::Put, Some(payload)) => {
                let value = stored_record(payload, &write.pk, &meta)?;
                table.put(&value).map_err(err("writing a record"))?;
                tombstones.delete(&key).map_err(err("clearing a tombstone"))?;
                byte_size(payload)
            }
            _ => {
                table.delete(&pk).map_err(err("deleting a record"))?;
                let tombstone = Tombstone {
                    key: (write.table.clone(), write.pk.clone()),
                    table_name: write.table.clone(),
                    pk: write.pk.clone(),
                    meta: meta.clone(),
                    deleted_at: now_ms,
                };
                tombstones.put(&crate::interop::to_js(&tombstone)?).map_err(err("writing a tombstone"))?;
                0
            }
        };

        let newest: Option<StoredEntry> = js_sys::Array::from(&entries)
            .iter()
            .map(|e| from_stored::<StoredEntry>(e, "outbox entry"))
            .collect::<SyncResult<Vec<_>>>()?
            .into_iter()
            .max_by_key(|e| e.seq.unwrap_or(0));
        let decision =
            coalesce_with(newest.as_ref().map(|e| (e.state, e.seq.unwrap_or(0), e.op_id.as_str())));
        let (seq, replaced_op_id) = match decision {
            Coalesce::Append => (None, None),
            Coalesce::Replace { replaced_op_id, seq } => {
                let old = newest.as_ref().map_or(0, |e| e.byte_size);
                totals.bytes = totals.bytes.saturating_sub(old);
                totals.count = totals.count.saturating_sub(1);
                (Some(seq), Some(replaced_op_id))
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
        let payload = if write.op == OpKind::Put { write.record.as_ref() } else { None };
        pending.put(&entry_to_js(&entry, payload)?).map_err(err("writing the outbox"))?;
        totals.bytes += entry.byte_size;
        totals.count += 1;
        last_hlc = Some(stamp.hlc.clone());
        captured.push(Captured {
            op_id: stamp.op_id,
            table_name: write.table,
            pk: write.pk,
            op: write.op,
            clock: stamp.clock,
            hlc: stamp.hlc,
            replaced_op_id,
        });
    }
    write_state(tx, OUTBOX_TOTALS, &totals)?;
    if let Some(hlc) = &last_hlc {
        write_state(tx, CLOCK_STATE, hlc)?;
    }
    Ok(WriteOutcome { captured, totals })
}
