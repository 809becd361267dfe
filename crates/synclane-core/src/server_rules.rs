//! The server's rules, over whatever storage holds its state.
//!
//! `MemoryServer` (in memory: simulations, the wasm reference backend) and `synclane-server`
//! (SQLite or PostgreSQL) both decide with these functions, so a push, a pull and a purge mean
//! the same thing on every backend we ship. Storage only loads what a decision needs and writes
//! what it produced:
//! - a push is validated whole ([`validate_push`]), then [`apply_push`] runs every op against a
//!   [`PushState`] (the records, purged stamps and op ids the batch touches, and the version
//!   counter) which records what to write;
//! - a pull is checked against the head and the retention floor ([`check_pull`]) and its page
//!   is assembled from the log rows after the cursor ([`assemble_page`]);
//! - tombstone purging takes the horizon every active device has pulled ([`purge_horizon`]) and
//!   purges the tombstones [`is_purgeable`] allows.

use crate::change::{
    Payload, PendingOp, PullRequest, PullResponse, PushBatch, PushOpResult, PushStatus, SyncChange, SyncScope,
};
use crate::conflict::{incoming_wins, VersionRef};
use crate::error::{ErrorCode, SyncError, SyncResult};
use crate::stamp::{ChangeStamp, OpKind};
use crate::validate::{validate_typed_ops, ValidationContext, ValidationLimits};

/// A record's identity on the server: its table and primary key.
pub type RecordId = (String, String);

/// Server rules that can be tuned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// How long a tombstone is kept at least, so slow devices still learn of the delete.
    pub tombstone_retention_ms: u64,
    /// A device not seen for this long no longer holds back tombstone purging; if it comes back
    /// below the floor, it rescans.
    pub device_ttl_ms: u64,
    /// The largest page a pull returns.
    pub max_pull_limit: u32,
    pub limits: ValidationLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 60 * 60 * 1000;
        ServerConfig {
            tombstone_retention_ms: 7 * DAY,
            device_ttl_ms: 30 * DAY,
            max_pull_limit: 1000,
            limits: ValidationLimits::default(),
        }
    }
}

/// One stored version of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVersion<P> {
    pub op: OpKind,
    pub payload: Option<P>,
    pub stamp: ChangeStamp,
    pub server_version: u64,
    pub stored_at_ms: u64,
}

impl<P: Clone> StoredVersion<P> {
    /// This version as a change in a pull page.
    pub fn to_change(&self, key: &RecordId) -> SyncChange<P> {
        SyncChange {
            table_name: key.0.clone(),
            pk: key.1.clone(),
            op: self.op,
            payload: self.payload.clone(),
            server_version: self.server_version,
            stamp: self.stamp.clone(),
        }
    }
}

/// What the push rules read and write. An implementation needs to hold only what the batch
/// touches: the records and purged stamps of its keys and the fate of its op ids.
pub trait PushState<P> {
    /// `Some(Some(v))`: the op was applied at version `v`; `Some(None)`: it was superseded.
    fn seen_op(&self, op_id: &str) -> Option<Option<u64>>;
    /// The current version of a record, tombstones included (not purged ones).
    fn current(&self, key: &RecordId) -> Option<&StoredVersion<P>>;
    /// The stamp of a purged tombstone of the record.
    fn purged(&self, key: &RecordId) -> Option<&ChangeStamp>;
    /// The retention floor.
    fn floor(&self) -> u64;
    /// Takes the next server version (the counter only rises).
    fn next_version(&mut self) -> u64;
    /// Remembers an op id and its fate.
    fn remember_op(&mut self, op_id: String, applied_at: Option<u64>);
    /// Makes `version` the record's current version (its purged stamp, if any, is gone).
    fn store(&mut self, key: RecordId, version: StoredVersion<P>);
}

/// Checks a workspace id.
pub fn check_scope(scope: &SyncScope) -> SyncResult<()> {
    if scope.workspace_id.is_empty() || scope.workspace_id.len() > 256 {
        return Err(SyncError::invalid_argument("workspaceId must be 1 to 256 bytes"));
    }
    Ok(())
}

/// Validates a push batch whole (the client's validation code): any bad op rejects it.
pub fn validate_push<P: Payload>(batch: &PushBatch<P>, config: &ServerConfig, now_ms: u64) -> SyncResult<()> {
    check_scope(&batch.scope)?;
    let mut ctx = ValidationContext::new(None, now_ms);
    ctx.limits = config.limits;
    validate_typed_ops(&batch.ops, &ctx)?;
    if batch.device_id.is_empty() {
        return Err(SyncError::invalid_change("deviceId must not be empty"));
    }
    Ok(())
}

/// Applies a validated batch: each op is applied, deduplicated by op id, or superseded by the
/// conflict rule. One result per op, in order.
pub fn apply_push<P: Payload>(
    state: &mut impl PushState<P>,
    ops: Vec<PendingOp<P>>,
    now_ms: u64,
) -> Vec<PushOpResult<P>> {
    ops.into_iter().map(|op| apply_op(state, op, now_ms)).collect()
}

fn apply_op<P: Payload>(state: &mut impl PushState<P>, op: PendingOp<P>, now_ms: u64) -> PushOpResult<P> {
    let op_id = op.stamp.op_id.clone();
    let key = (op.table_name, op.pk);
    if let Some(first) = state.seen_op(&op_id) {
        // A retry of an op seen before. If the record has moved on since, report its current
        // version too: the pusher may have kept its op through a rescan and never see it.
        let current = current_change(state, &key).filter(|c| c.stamp.op_id != op_id);
        return PushOpResult {
            op_id,
            status: PushStatus::Duplicate,
            server_version: first,
            error: None,
            current,
        };
    }
    let current = match state.current(&key) {
        Some(stored) => Some(VersionRef::new(&stored.stamp, stored.op)),
        None => state.purged(&key).map(|stamp| VersionRef::new(stamp, OpKind::Delete)),
    };
    if !incoming_wins(VersionRef::new(&op.stamp, op.op), current) {
        state.remember_op(op_id.clone(), None);
        let current = current_change(state, &key);
        return PushOpResult {
            op_id,
            status: PushStatus::Superseded,
            server_version: None,
            error: None,
            current,
        };
    }
    let version = state.next_version();
    let payload = if op.op == OpKind::Put { op.payload } else { None };
    state.store(
        key,
        StoredVersion { op: op.op, payload, stamp: op.stamp, server_version: version, stored_at_ms: now_ms },
    );
    state.remember_op(op_id.clone(), Some(version));
    PushOpResult {
        op_id,
        status: PushStatus::Applied,
        server_version: Some(version),
        error: None,
        current: None,
    }
}

/// The current version of a record as a change, purged tombstones included (reported at the
/// retention floor, since they have no log entry any more).
fn current_change<P: Clone>(state: &impl PushState<P>, key: &RecordId) -> Option<SyncChange<P>> {
    match state.current(key) {
        Some(stored) => Some(stored.to_change(key)),
        None => state.purged(key).map(|stamp| SyncChange {
            table_name: key.0.clone(),
            pk: key.1.clone(),
            op: OpKind::Delete,
            payload: None,
            server_version: state.floor().max(1),
            stamp: stamp.clone(),
        }),
    }
}

/// Checks a pull against the workspace's head and retention floor; returns the page size to
/// read (the request's limit, capped).
pub fn check_pull(request: &PullRequest, head: u64, floor: u64, config: &ServerConfig) -> SyncResult<usize> {
    check_scope(&request.scope)?;
    if request.limit == 0 {
        return Err(SyncError::invalid_argument("limit must be at least 1"));
    }
    if request.cursor > head {
        return Err(SyncError::new(
            ErrorCode::CursorExpired,
            format!("cursor {} is ahead of the server ({head}); the server's data was reset", request.cursor),
        ));
    }
    // Below the floor a client may have missed purged deletions, unless it holds nothing from
    // before (the first page of a snapshot) or the floor has not risen since its sequence began.
    let fresh_snapshot = request.snapshot && request.cursor == 0;
    let floor_unchanged = request.retention_floor.is_some_and(|seen| seen >= floor);
    if request.cursor < floor && !fresh_snapshot && !floor_unchanged {
        return Err(SyncError::new(
            ErrorCode::CursorExpired,
            format!("cursor {} is below the retention floor {floor}; rescan from 0", request.cursor),
        ));
    }
    Ok(request.limit.min(config.max_pull_limit) as usize)
}

/// Builds a pull page from the log rows after the cursor, ascending by server version: at most
/// `limit + 1` of them (one more than the page tells whether there is more). `remaining`
/// counts every row after the cursor. Rows of tables the request did not ask for still move
/// the cursor.
pub fn assemble_page<P: Clone>(
    request: &PullRequest,
    rows: Vec<(RecordId, StoredVersion<P>)>,
    limit: usize,
    remaining: u64,
    head: u64,
    floor: u64,
) -> PullResponse<P> {
    let has_more = rows.len() > limit;
    let mut changes = Vec::with_capacity(rows.len().min(limit));
    let mut next_cursor = request.cursor;
    for (key, stored) in rows.into_iter().take(limit) {
        next_cursor = stored.server_version;
        if let Some(tables) = &request.tables {
            if !tables.iter().any(|t| t == &key.0) {
                continue;
            }
        }
        changes.push(stored.to_change(&key));
    }
    if !has_more {
        // Everything up to the head has been delivered, including versions compacted away.
        next_cursor = head;
    }
    PullResponse {
        changes,
        next_cursor,
        has_more,
        total: Some(remaining),
        retention_floor: floor,
        epoch: None,
    }
}

/// Checks a device cursor report.
pub fn check_cursor_update(scope: &SyncScope, device_id: &str, version: u64, head: u64) -> SyncResult<()> {
    check_scope(scope)?;
    if device_id.is_empty() {
        return Err(SyncError::invalid_argument("deviceId must not be empty"));
    }
    if version > head {
        // Only a server that lost versions it once handed out is behind a device: the device
        // has to reconcile (as a pull says), not give up on a bad argument.
        return Err(SyncError::new(
            ErrorCode::CursorExpired,
            format!("cursor {version} is ahead of the server ({head}); the server's data was reset"),
        ));
    }
    Ok(())
}

/// The highest server version every active device has pulled: tombstones at or below it may
/// be purged. Devices not seen for the TTL do not count; with none active it is the head.
pub fn purge_horizon(
    devices: impl IntoIterator<Item = (u64, u64)>,
    head: u64,
    now_ms: u64,
    config: &ServerConfig,
) -> u64 {
    devices
        .into_iter()
        .filter(|&(_, seen_at_ms)| now_ms.saturating_sub(seen_at_ms) < config.device_ttl_ms)
        .map(|(version, _)| version)
        .min()
        .unwrap_or(head)
}

/// Whether a stored version is a tombstone that may be purged now.
pub fn is_purgeable<P>(stored: &StoredVersion<P>, horizon: u64, now_ms: u64, config: &ServerConfig) -> bool {
    stored.op == OpKind::Delete
        && stored.server_version <= horizon
        && now_ms.saturating_sub(stored.stored_at_ms) >= config.tombstone_retention_ms
}
