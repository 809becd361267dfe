//! What happens to outbox entries after a push: each outcome settled by the core's
//! `transition` (removed, retried later, failed), and the app's retry and discard of failed
//! ops; in-flight ops put back to pending after a restart.

use super::outbox::{all_entries, core_entry, put_entry, remove};
use super::records::{from_stored, StoredEntry};
use super::rows::{read_totals, record_key, write_totals, OutboxTotals};
use super::schema::{BY_RECORD, PENDING_OPS, SYNC_STATE};
use super::tx::{in_tx, object_store};
use super::Store;
use crate::idb;
use synclane_core::outbox::{transition, OpState, OutboxConfig, PushOutcome, Transition};
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

/// Applies push outcomes to in-flight entries, atomically.
pub async fn settle(
    store: &Store,
    settlements: Vec<Settlement>,
    now_ms: u64,
    random: f64,
    config: &OutboxConfig,
) -> SyncResult<SettleReport> {
    let tx = store.transaction(&[PENDING_OPS, SYNC_STATE], true)?;
    in_tx!(&tx, "settling pushed ops", settle_in(&tx, settlements, now_ms, random, config))
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
    in_tx!(&tx, "resolving a failed op", async {
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
    })
}

/// Puts every in-flight op back to pending: after a restart, or when this tab takes over the
/// sync loop, the answer to those pushes is lost; pushing again is safe (dedup by op id).
pub async fn recover_in_flight(store: &Store) -> SyncResult<u32> {
    let tx = store.transaction(&[PENDING_OPS, SYNC_STATE], true)?;
    in_tx!(&tx, "recovering in-flight ops", async {
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
    })
}
