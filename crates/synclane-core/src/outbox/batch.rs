//! The outbox's limits, and which entries form the next batch to push.

use super::entry::{OpState, OutboxEntry};
use super::retry::RetryPolicy;
use crate::error::{SyncError, SyncResult};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

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
