//! An outbox in memory, built from the rules of the other modules: what simulations and tests
//! use directly, and what the IndexedDB outbox does entry by entry.

use super::batch::{select_batch, OutboxConfig};
use super::entry::{coalesce, Coalesce, OpState, OutboxEntry};
use super::retry::{transition, PushOutcome, Transition};
use crate::change::{Payload, PendingOp};
use crate::error::{ErrorCode, Quoted, SyncError, SyncResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The result of capturing a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOutcome {
    /// The op id this write replaced, if it coalesced.
    pub replaced_op_id: Option<String>,
    /// The outbox holds more than its capacity after this write.
    pub queue_full: bool,
}

/// A summary of the outbox for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxCounts {
    pub pending: u64,
    pub in_flight: u64,
    pub failed: u64,
    pub bytes: u64,
}

/// An in-memory outbox built from the outbox rules. Simulations and tests use it directly; the
/// IndexedDB outbox follows the same rules entry by entry.
#[derive(Debug, Clone)]
pub struct Outbox<P> {
    entries: BTreeMap<u64, OutboxEntry<P>>,
    // (table, pk) -> seqs of that record's entries, oldest first (at most in-flight + waiting).
    by_record: HashMap<(String, String), Vec<u64>>,
    next_seq: u64,
    bytes: u64,
    config: OutboxConfig,
}

impl<P: Payload> Outbox<P> {
    pub fn new(config: OutboxConfig) -> SyncResult<Self> {
        config.validate()?;
        Ok(Outbox { entries: BTreeMap::new(), by_record: HashMap::new(), next_seq: 1, bytes: 0, config })
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// Adds a local write, coalescing with a waiting op for the same record.
    pub fn capture(&mut self, op: PendingOp<P>, now_ms: u64) -> CaptureOutcome {
        let key = (op.table_name.clone(), op.pk.clone());
        let byte_size = op.payload.as_ref().map_or(0, |p| p.byte_size()) as u64 + 64;
        let newest =
            self.by_record.get(&key).and_then(|seqs| seqs.last()).and_then(|seq| self.entries.get(seq));
        let (seq, replaced_op_id) = match coalesce(newest) {
            Coalesce::Append => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.by_record.entry(key).or_default().push(seq);
                (seq, None)
            }
            Coalesce::Replace { replaced_op_id, seq } => {
                if let Some(old) = self.entries.remove(&seq) {
                    self.bytes = self.bytes.saturating_sub(old.byte_size);
                }
                (seq, Some(replaced_op_id))
            }
        };
        self.bytes = self.bytes.saturating_add(byte_size);
        let entry = OutboxEntry {
            seq,
            op,
            state: OpState::Pending,
            attempts: 0,
            next_attempt_at_ms: now_ms,
            byte_size,
            created_at_ms: now_ms,
            last_error: None,
        };
        self.entries.insert(seq, entry);
        CaptureOutcome { replaced_op_id, queue_full: self.bytes > self.config.capacity_bytes as u64 }
    }

    /// Takes the next due batch and marks its entries in flight.
    pub fn take_batch(&mut self, now_ms: u64) -> Vec<PendingOp<P>> {
        let ordered: Vec<&OutboxEntry<P>> = self.entries.values().collect();
        let seqs: Vec<u64> =
            select_batch(&ordered, now_ms, &self.config).into_iter().map(|i| ordered[i].seq).collect();
        let mut batch = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(entry) = self.entries.get_mut(&seq) {
                entry.state = OpState::InFlight;
                batch.push(entry.op.clone());
            }
        }
        batch
    }

    /// Applies the outcome of a push to one in-flight op. Unknown op ids are ignored: the op may
    /// have been discarded by the app while the push was in the air.
    pub fn settle(&mut self, op_id: &str, outcome: &PushOutcome, now_ms: u64, random: f64) {
        let Some(seq) = self.seq_of(op_id) else { return };
        let Some(entry) = self.entries.get(&seq) else { return };
        if entry.state != OpState::InFlight {
            return;
        }
        let superseded = self.newer_entry_exists(entry);
        match transition(entry, outcome, now_ms, random, &self.config.retry) {
            Transition::Remove => self.remove(seq),
            // A newer write of the same record is queued: it carries the whole new state and
            // a higher clock, so the failed older op has nothing left to deliver.
            Transition::RetryAt { .. } | Transition::Fail { .. } if superseded => self.remove(seq),
            Transition::RetryAt { at_ms, attempts, error } => {
                if let Some(entry) = self.entries.get_mut(&seq) {
                    entry.state = OpState::Pending;
                    entry.attempts = attempts;
                    entry.next_attempt_at_ms = at_ms;
                    entry.last_error = Some(error);
                }
            }
            Transition::Fail { attempts, error } => {
                if let Some(entry) = self.entries.get_mut(&seq) {
                    entry.state = OpState::Failed;
                    entry.attempts = attempts;
                    entry.last_error = Some(error);
                }
            }
        }
    }

    /// After a restart nothing is in flight any more: the answer was lost with the page, so
    /// those ops go back to pending and are pushed again (the server dedups by op id).
    pub fn recover_in_flight(&mut self) {
        for entry in self.entries.values_mut() {
            if entry.state == OpState::InFlight {
                entry.state = OpState::Pending;
            }
        }
    }

    /// The app asks to try a failed op again now.
    pub fn retry(&mut self, op_id: &str, now_ms: u64) -> SyncResult<()> {
        let entry = self.failed_entry_mut(op_id)?;
        entry.state = OpState::Pending;
        entry.attempts = 0;
        entry.next_attempt_at_ms = now_ms;
        Ok(())
    }

    /// The app gives up on a failed op. Returns it so the caller can report what was dropped.
    pub fn discard(&mut self, op_id: &str) -> SyncResult<OutboxEntry<P>> {
        let seq = self.failed_entry_mut(op_id)?.seq;
        let entry = self.entries.get(&seq).cloned();
        self.remove(seq);
        entry.ok_or_else(|| SyncError::new(ErrorCode::Internal, "entry vanished"))
    }

    fn failed_entry_mut(&mut self, op_id: &str) -> SyncResult<&mut OutboxEntry<P>> {
        let seq = self
            .seq_of(op_id)
            .ok_or_else(|| SyncError::invalid_argument(format!("no op {} in the outbox", Quoted(op_id))))?;
        let entry = self
            .entries
            .get_mut(&seq)
            .ok_or_else(|| SyncError::new(ErrorCode::Internal, "index out of step"))?;
        if entry.state != OpState::Failed {
            return Err(SyncError::invalid_argument(format!(
                "op {} is not failed (it is {:?})",
                Quoted(op_id),
                entry.state
            )));
        }
        Ok(entry)
    }

    fn seq_of(&self, op_id: &str) -> Option<u64> {
        self.entries.values().find(|e| e.op_id() == op_id).map(|e| e.seq)
    }

    fn newer_entry_exists(&self, entry: &OutboxEntry<P>) -> bool {
        let key = (entry.op.table_name.clone(), entry.op.pk.clone());
        self.by_record.get(&key).is_some_and(|seqs| seqs.iter().any(|&s| s != entry.seq))
    }

    fn remove(&mut self, seq: u64) {
        if let Some(entry) = self.entries.remove(&seq) {
            self.bytes = self.bytes.saturating_sub(entry.byte_size);
            let key = (entry.op.table_name, entry.op.pk);
            if let Some(seqs) = self.by_record.get_mut(&key) {
                seqs.retain(|&s| s != seq);
                if seqs.is_empty() {
                    self.by_record.remove(&key);
                }
            }
        }
    }

    /// Entries in queue order.
    pub fn entries(&self) -> impl Iterator<Item = &OutboxEntry<P>> {
        self.entries.values()
    }

    pub fn get(&self, op_id: &str) -> Option<&OutboxEntry<P>> {
        self.seq_of(op_id).and_then(|seq| self.entries.get(&seq))
    }

    /// Whether an op for this record is still unacknowledged (so remote data must not
    /// overwrite it during a rescan).
    pub fn has_record(&self, table: &str, pk: &str) -> bool {
        self.by_record.contains_key(&(table.to_owned(), pk.to_owned()))
    }

    /// The newest unacknowledged op for a record.
    pub fn newest_for(&self, table: &str, pk: &str) -> Option<&OutboxEntry<P>> {
        self.by_record
            .get(&(table.to_owned(), pk.to_owned()))
            .and_then(|s| s.last())
            .and_then(|seq| self.entries.get(seq))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn counts(&self) -> OutboxCounts {
        let mut counts = OutboxCounts { bytes: self.bytes, ..OutboxCounts::default() };
        for entry in self.entries.values() {
            match entry.state {
                OpState::Pending => counts.pending += 1,
                OpState::InFlight => counts.in_flight += 1,
                OpState::Failed => counts.failed += 1,
            }
        }
        counts
    }

    /// The earliest time a pending entry becomes due, to schedule the next flush.
    pub fn next_due_at(&self) -> Option<u64> {
        self.entries.values().filter(|e| e.state == OpState::Pending).map(|e| e.next_attempt_at_ms).min()
    }
}
