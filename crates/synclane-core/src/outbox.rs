//! The outbox model: what happens to a local write between its capture and its acknowledgement.
//!
//! The browser stores entries in IndexedDB and the simulations keep them in memory, but both
//! make their decisions here: how a new write coalesces with a waiting one, which entries form
//! the next batch, and what a push outcome does to each entry (remove, retry later, fail).
//!
//! Rules:
//! - A write to a record whose op is still waiting (pending or failed) replaces it: the later
//!   op carries the record's whole new state and a higher clock, so put+put = last put,
//!   put+delete = delete, delete+put = put. The entry keeps its place in the queue.
//! - An op being pushed (in flight) is never changed under the push: the new write queues
//!   behind it as its own entry.
//! - Transient errors back off (250, 1000, 3000, 5000 ms by default, then 5000, each with
//!   jitter); after `max_attempts` the op is failed. Permanent errors fail it at once. A failed op
//!   stays until the app retries or discards it: nothing is dropped silently.

use crate::change::{Payload, PendingOp};
use crate::error::{ErrorCode, Quoted, SyncError, SyncResult};
use crate::stamp::{ChangeStamp, OpKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpState {
    /// Waiting to be pushed (possibly not before `next_attempt_at_ms`).
    Pending,
    /// Part of a push whose answer has not arrived.
    InFlight,
    /// Gave up: permanent error or too many attempts. Waits for the app.
    Failed,
}

impl OpState {
    const ALL: [OpState; 3] = [OpState::Pending, OpState::InFlight, OpState::Failed];

    /// The stable wire name, e.g. `inFlight` (as the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            OpState::Pending => "pending",
            OpState::InFlight => "inFlight",
            OpState::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<OpState> {
        OpState::ALL.into_iter().find(|state| state.as_str() == name)
    }
}

/// The retry schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Delay before attempt n+1 after n failures; the last value repeats.
    pub schedule_ms: Vec<u64>,
    /// Each delay is scaled by a factor in [1 - jitter, 1 + jitter] so that many devices
    /// failing at once do not retry in lockstep.
    pub jitter: f64,
    /// Failures after which an op is failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { schedule_ms: vec![250, 1000, 3000, 5000], jitter: 0.2, max_attempts: 8 }
    }
}

impl RetryPolicy {
    /// Checks the policy is usable; a bad one is refused rather than clamped silently.
    pub fn validate(&self) -> SyncResult<()> {
        if self.schedule_ms.is_empty() {
            return Err(SyncError::invalid_argument("retry schedule must not be empty"));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(SyncError::invalid_argument("retry jitter must be between 0 and 1"));
        }
        if self.max_attempts == 0 {
            return Err(SyncError::invalid_argument("maxAttempts must be at least 1"));
        }
        Ok(())
    }

    /// The delay after the `failures`-th failure (1-based). `random` is uniform in [0, 1);
    /// 0.5 gives the nominal delay.
    pub fn delay_ms(&self, failures: u32, random: f64) -> u64 {
        let index = (failures.max(1) as usize - 1).min(self.schedule_ms.len().saturating_sub(1));
        let base = self.schedule_ms.get(index).copied().unwrap_or(0) as f64;
        let random = if random.is_finite() { random.clamp(0.0, 1.0) } else { 0.5 };
        let factor = 1.0 - self.jitter + 2.0 * self.jitter * random;
        (base * factor).round().max(0.0) as u64
    }
}

/// Outbox limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OutboxConfig {
    pub max_batch_ops: usize,
    pub max_batch_bytes: usize,
    /// Bytes of payload the outbox holds before it signals that it is full. Writes are still
    /// accepted (refusing one would lose the user's data); the app is told so it can react.
    pub capacity_bytes: usize,
    pub retry: RetryPolicy,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_batch_ops: 200,
            max_batch_bytes: 512 * 1024,
            capacity_bytes: 32 * 1024 * 1024,
            retry: RetryPolicy::default(),
        }
    }
}

impl OutboxConfig {
    pub fn validate(&self) -> SyncResult<()> {
        if self.max_batch_ops == 0 || self.max_batch_bytes == 0 || self.capacity_bytes == 0 {
            return Err(SyncError::invalid_argument("outbox batch and capacity limits must be positive"));
        }
        self.retry.validate()
    }
}

/// One op in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry<P> {
    /// Queue position; a coalesced entry keeps the position of the entry it replaced.
    pub seq: u64,
    pub op: PendingOp<P>,
    pub state: OpState,
    pub attempts: u32,
    pub next_attempt_at_ms: u64,
    pub byte_size: u64,
    pub created_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<SyncError>,
}

impl<P> OutboxEntry<P> {
    pub fn op_id(&self) -> &str {
        &self.op.stamp.op_id
    }
}

/// How a new write joins the outbox, given the newest entry already there for its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coalesce {
    /// No waiting entry for the record (none at all, or the newest is in flight): add one.
    Append,
    /// Replace the waiting entry with this op id, keeping its queue position.
    Replace { replaced_op_id: String, seq: u64 },
}

/// Decides how a new write joins the outbox.
pub fn coalesce<P>(newest_for_record: Option<&OutboxEntry<P>>) -> Coalesce {
    coalesce_with(newest_for_record.map(|e| (e.state, e.seq, e.op_id())))
}

/// [`coalesce`] for stores that keep entries in their own form: the newest entry's state,
/// queue position and op id.
pub fn coalesce_with(newest_for_record: Option<(OpState, u64, &str)>) -> Coalesce {
    match newest_for_record {
        Some((state, seq, op_id)) if state != OpState::InFlight => {
            Coalesce::Replace { replaced_op_id: op_id.to_owned(), seq }
        }
        _ => Coalesce::Append,
    }
}

/// What a push did for one op, as the outbox sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// The server acknowledged the op (applied, duplicate or superseded).
    Acknowledged,
    /// The server refused this op; the error's code says whether a retry may help.
    Failed(SyncError),
}

/// What to do with an entry after a push outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Remove,
    RetryAt { at_ms: u64, attempts: u32, error: SyncError },
    Fail { attempts: u32, error: SyncError },
}

/// Decides an in-flight entry's fate after its push. Rate limits wait for the time the server
/// asked for and do not count as an attempt: the op did nothing wrong.
pub fn transition<P>(
    entry: &OutboxEntry<P>,
    outcome: &PushOutcome,
    now_ms: u64,
    random: f64,
    retry: &RetryPolicy,
) -> Transition {
    match outcome {
        PushOutcome::Acknowledged => Transition::Remove,
        PushOutcome::Failed(error) if error.code == ErrorCode::RateLimited => {
            let wait = error.retry_after_ms.unwrap_or_else(|| retry.delay_ms(entry.attempts.max(1), random));
            Transition::RetryAt {
                at_ms: now_ms.saturating_add(wait),
                attempts: entry.attempts,
                error: error.clone(),
            }
        }
        PushOutcome::Failed(error) => {
            let attempts = entry.attempts.saturating_add(1);
            if !error.is_transient() || attempts >= retry.max_attempts {
                Transition::Fail { attempts, error: error.clone() }
            } else {
                let at_ms = now_ms.saturating_add(retry.delay_ms(attempts, random));
                Transition::RetryAt { at_ms, attempts, error: error.clone() }
            }
        }
    }
}

/// Picks the next batch from entries in queue order: pending entries that are due, up to the
/// count and byte limits (a single entry larger than the byte limit still goes, alone, or it
/// would block the queue forever). Returns indexes into `entries`.
pub fn select_batch<P>(entries: &[&OutboxEntry<P>], now_ms: u64, config: &OutboxConfig) -> Vec<usize> {
    // A set rather than a sorted list: the sort's code, for this one element type, was
    // larger in the browser build than the set's.
    let in_flight_keys: HashSet<(&str, &str)> = entries
        .iter()
        .filter(|e| e.state == OpState::InFlight)
        .map(|e| (e.op.table_name.as_str(), e.op.pk.as_str()))
        .collect();
    let mut chosen = Vec::new();
    let mut bytes = 0usize;
    for (index, entry) in entries.iter().enumerate() {
        if chosen.len() >= config.max_batch_ops {
            break;
        }
        if entry.state != OpState::Pending || entry.next_attempt_at_ms > now_ms {
            continue;
        }
        // A record's later write waits until its earlier one is answered, so the server
        // always sees a record's ops in order.
        if in_flight_keys.contains(&(entry.op.table_name.as_str(), entry.op.pk.as_str())) {
            continue;
        }
        let size = entry.byte_size as usize;
        if !chosen.is_empty() && bytes.saturating_add(size) > config.max_batch_bytes {
            break;
        }
        bytes = bytes.saturating_add(size);
        chosen.push(index);
    }
    chosen
}

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

/// An in-memory outbox built from the rules above. Simulations and tests use it directly; the
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

/// The stamp and op of the newest unacknowledged write of a record, for the next-clock rule.
pub fn newest_stamp<P>(entry: Option<&OutboxEntry<P>>) -> Option<(&ChangeStamp, OpKind)> {
    entry.map(|e| (&e.op.stamp, e.op.op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn state_wire_names_are_the_serde_names_and_parse_back() {
        for state in OpState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(OpState::parse(state.as_str()), Some(state));
        }
        assert_eq!(OpState::parse("in_flight"), None);
    }

    fn op(pk: &str, kind: OpKind, op_id: &str, clock: u64) -> PendingOp<Value> {
        PendingOp {
            table_name: "notes".into(),
            pk: pk.into(),
            op: kind,
            payload: (kind == OpKind::Put).then(|| json!({"id": pk, "body": op_id})),
            stamp: ChangeStamp {
                clock,
                hlc: format!("{clock:016x}-0000000000000001"),
                device_id: "d".into(),
                op_id: op_id.into(),
            },
        }
    }

    fn outbox() -> Outbox<Value> {
        Outbox::new(OutboxConfig::default()).unwrap()
    }

    fn transient() -> PushOutcome {
        PushOutcome::Failed(SyncError::new(ErrorCode::Network, "offline"))
    }

    #[test]
    fn coalescing_keeps_only_the_last_op_of_a_waiting_record() {
        for (first, second) in
            [(OpKind::Put, OpKind::Put), (OpKind::Put, OpKind::Delete), (OpKind::Delete, OpKind::Put)]
        {
            let mut ob = outbox();
            ob.capture(op("a", first, "1", 1), 0);
            ob.capture(op("b", OpKind::Put, "b1", 1), 0);
            let outcome = ob.capture(op("a", second, "2", 2), 0);
            assert_eq!(outcome.replaced_op_id.as_deref(), Some("1"));
            assert_eq!(ob.len(), 2);
            let batch = ob.take_batch(0);
            // The coalesced entry kept its place in front of "b".
            assert_eq!(batch.iter().map(|o| o.stamp.op_id.as_str()).collect::<Vec<_>>(), ["2", "b1"]);
            assert_eq!(batch[0].op, second);
        }
    }

    #[test]
    fn an_op_in_flight_is_not_changed_and_the_new_write_waits_behind_it() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        let batch = ob.take_batch(0);
        assert_eq!(batch.len(), 1);
        let outcome = ob.capture(op("a", OpKind::Put, "2", 2), 0);
        assert_eq!(outcome.replaced_op_id, None);
        assert_eq!(ob.get("1").unwrap().state, OpState::InFlight);
        assert_eq!(ob.get("1").unwrap().op.payload, Some(json!({"id": "a", "body": "1"})));
        // The second write is not pushed while the first is in the air.
        assert!(ob.take_batch(0).is_empty());
        ob.settle("1", &PushOutcome::Acknowledged, 1, 0.5);
        assert_eq!(ob.take_batch(1).iter().map(|o| o.stamp.op_id.clone()).collect::<Vec<_>>(), ["2"]);
    }

    #[test]
    fn a_third_write_coalesces_with_the_queued_one_not_the_in_flight_one() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        ob.take_batch(0);
        ob.capture(op("a", OpKind::Put, "2", 2), 0);
        let outcome = ob.capture(op("a", OpKind::Delete, "3", 3), 0);
        assert_eq!(outcome.replaced_op_id.as_deref(), Some("2"));
        assert_eq!(ob.len(), 2);
    }

    #[test]
    fn batches_respect_count_and_bytes_but_never_stall_on_a_big_op() {
        let mut ob: Outbox<Value> =
            Outbox::new(OutboxConfig { max_batch_ops: 3, max_batch_bytes: 300, ..OutboxConfig::default() })
                .unwrap();
        for i in 0..5 {
            ob.capture(op(&format!("k{i}"), OpKind::Put, &format!("o{i}"), 1), 0);
        }
        assert_eq!(ob.take_batch(0).len(), 3, "count limit");
        let mut big = op("big", OpKind::Put, "big", 1);
        big.payload = Some(json!({"id": "big", "blob": "x".repeat(1000)}));
        let mut ob2: Outbox<Value> =
            Outbox::new(OutboxConfig { max_batch_ops: 10, max_batch_bytes: 300, ..OutboxConfig::default() })
                .unwrap();
        ob2.capture(big, 0);
        ob2.capture(op("small", OpKind::Put, "s", 1), 0);
        let first = ob2.take_batch(0);
        assert_eq!(first.len(), 1, "an oversized op goes alone");
        assert_eq!(first[0].stamp.op_id, "big");
        let mut ob3: Outbox<Value> =
            Outbox::new(OutboxConfig { max_batch_ops: 10, max_batch_bytes: 300, ..OutboxConfig::default() })
                .unwrap();
        for i in 0..6 {
            ob3.capture(op(&format!("k{i}"), OpKind::Put, &format!("o{i}"), 1), 0);
        }
        let per_op = ob3.get("o0").unwrap().byte_size as usize;
        assert_eq!(ob3.take_batch(0).len(), 300 / per_op, "byte limit");
    }

    #[test]
    fn retry_schedule_with_jitter() {
        let policy = RetryPolicy::default();
        let nominal: Vec<u64> = (1..=6).map(|n| policy.delay_ms(n, 0.5)).collect();
        assert_eq!(nominal, [250, 1000, 3000, 5000, 5000, 5000]);
        assert_eq!(policy.delay_ms(2, 0.0), 800);
        assert_eq!(policy.delay_ms(2, 1.0), 1200);
        assert_eq!(policy.delay_ms(2, f64::NAN), 1000);
        assert_eq!(policy.delay_ms(0, 0.5), 250);
        assert!(RetryPolicy { schedule_ms: vec![], ..RetryPolicy::default() }.validate().is_err());
        assert!(RetryPolicy { jitter: 1.5, ..RetryPolicy::default() }.validate().is_err());
        assert!(RetryPolicy { max_attempts: 0, ..RetryPolicy::default() }.validate().is_err());
    }

    #[test]
    fn transient_errors_back_off_then_fail_after_max_attempts() {
        let mut ob: Outbox<Value> = Outbox::new(OutboxConfig {
            retry: RetryPolicy { max_attempts: 4, ..RetryPolicy::default() },
            ..OutboxConfig::default()
        })
        .unwrap();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        let mut now = 0;
        let mut delays = vec![];
        for _ in 0..3 {
            assert_eq!(ob.take_batch(now).len(), 1);
            ob.settle("1", &transient(), now, 0.5);
            let (state, due) = {
                let e = ob.get("1").unwrap();
                (e.state, e.next_attempt_at_ms)
            };
            assert_eq!(state, OpState::Pending);
            delays.push(due - now);
            assert!(ob.take_batch(due - 1).is_empty(), "not due yet");
            now = due;
        }
        assert_eq!(delays, [250, 1000, 3000]);
        ob.take_batch(now);
        ob.settle("1", &transient(), now, 0.5);
        let entry = ob.get("1").unwrap();
        assert_eq!(entry.state, OpState::Failed);
        assert_eq!(entry.attempts, 4);
        assert_eq!(entry.last_error.as_ref().unwrap().code, ErrorCode::Network);
        assert!(ob.take_batch(u64::MAX).is_empty(), "failed ops are not pushed");
        assert_eq!(ob.counts().failed, 1);
    }

    #[test]
    fn permanent_errors_fail_at_once_and_the_app_can_retry_or_discard() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        ob.capture(op("b", OpKind::Put, "2", 1), 0);
        ob.take_batch(0);
        ob.settle("1", &PushOutcome::Failed(SyncError::new(ErrorCode::Rejected, "schema")), 0, 0.5);
        ob.settle("2", &PushOutcome::Failed(SyncError::new(ErrorCode::Unauthorized, "expired")), 0, 0.5);
        assert_eq!(ob.get("1").unwrap().state, OpState::Failed);
        assert_eq!(ob.get("1").unwrap().attempts, 1);
        assert_eq!(ob.get("2").unwrap().state, OpState::Failed);
        ob.retry("1", 10).unwrap();
        assert_eq!(ob.get("1").unwrap().state, OpState::Pending);
        assert_eq!(ob.take_batch(10).len(), 1);
        let dropped = ob.discard("2").unwrap();
        assert_eq!(dropped.op.pk, "b");
        assert!(ob.get("2").is_none());
        // Retry and discard only apply to failed ops, and unknown ids are typed errors.
        assert_eq!(ob.retry("1", 0).unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(ob.discard("nope").unwrap_err().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn rate_limits_wait_as_asked_without_spending_an_attempt() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        ob.take_batch(0);
        ob.settle("1", &PushOutcome::Failed(SyncError::rate_limited(7000)), 100, 0.5);
        let entry = ob.get("1").unwrap();
        assert_eq!((entry.state, entry.attempts, entry.next_attempt_at_ms), (OpState::Pending, 0, 7100));
    }

    #[test]
    fn a_failed_in_flight_op_superseded_by_a_newer_write_is_dropped() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        ob.take_batch(0);
        ob.capture(op("a", OpKind::Put, "2", 2), 0);
        ob.settle("1", &transient(), 0, 0.5);
        assert!(ob.get("1").is_none());
        assert_eq!(ob.len(), 1);
        assert_eq!(ob.newest_for("notes", "a").unwrap().op_id(), "2");
    }

    #[test]
    fn a_new_write_replaces_a_failed_op_and_revives_it() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        ob.take_batch(0);
        ob.settle("1", &PushOutcome::Failed(SyncError::new(ErrorCode::Rejected, "no")), 0, 0.5);
        let outcome = ob.capture(op("a", OpKind::Put, "2", 2), 5);
        assert_eq!(outcome.replaced_op_id.as_deref(), Some("1"));
        let entry = ob.get("2").unwrap();
        assert_eq!((entry.state, entry.attempts), (OpState::Pending, 0));
    }

    #[test]
    fn in_flight_ops_return_to_pending_after_a_restart() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        ob.take_batch(0);
        ob.recover_in_flight();
        assert_eq!(ob.get("1").unwrap().state, OpState::Pending);
        assert_eq!(ob.take_batch(0).len(), 1);
    }

    #[test]
    fn capacity_is_signalled_and_bytes_are_tracked() {
        let mut ob: Outbox<Value> =
            Outbox::new(OutboxConfig { capacity_bytes: 250, ..OutboxConfig::default() }).unwrap();
        let first = ob.capture(op("a", OpKind::Put, "1", 1), 0);
        assert!(!first.queue_full);
        let one = ob.counts().bytes;
        ob.capture(op("b", OpKind::Put, "2", 1), 0);
        let full = ob.capture(op("c", OpKind::Put, "3", 1), 0);
        assert!(full.queue_full);
        assert_eq!(ob.len(), 3, "a full queue still keeps the write");
        ob.take_batch(0);
        for id in ["1", "2", "3"] {
            ob.settle(id, &PushOutcome::Acknowledged, 0, 0.5);
        }
        assert_eq!(ob.counts(), OutboxCounts::default());
        assert!(one > 0);
        assert!(Outbox::<Value>::new(OutboxConfig { capacity_bytes: 0, ..OutboxConfig::default() }).is_err());
    }

    #[test]
    fn settling_unknown_or_not_in_flight_ops_changes_nothing() {
        let mut ob = outbox();
        ob.capture(op("a", OpKind::Put, "1", 1), 0);
        ob.settle("1", &PushOutcome::Acknowledged, 0, 0.5);
        ob.settle("ghost", &PushOutcome::Acknowledged, 0, 0.5);
        assert_eq!(ob.len(), 1, "a pending (not in flight) op is not removed by a stray answer");
        assert_eq!(ob.next_due_at(), Some(0));
    }
}
