//! The server side of the protocol, in memory: the reference backend.
//!
//! The rules are written once here and used three ways: by native simulations, by the wasm
//! `MemorySyncServer` that JavaScript tests and the demo run, and as the model the real server
//! follows. Per workspace it keeps:
//! - a version counter that every applied op increments;
//! - the current version of every record (tombstones included), each at the server version it
//!   was stored at; the change log is this set ordered by server version, so it is compacted
//!   per record: a pull returns each record's latest version once;
//! - the op ids it has seen, so a retried push changes nothing (idempotent by `opId`);
//! - each device's cursor and when it was last seen;
//! - a retention floor: tombstones that every active device has pulled and that are older
//!   than the retention are purged from the change log, and a pull from a cursor below the
//!   highest purged version would miss deletions, so it is answered with `cursor_expired`.
//!
//! A purged tombstone leaves its stamp behind (no payload, no log entry). Without it, a write
//! made before the delete by a device that was offline longer than the retention would find
//! no record when it finally arrives and resurrect it; with it, the conflict rule still sees
//! the delete and the late write is superseded.

use crate::change::{
    Payload, PendingOp, PullRequest, PullResponse, PushBatch, PushOpResult, PushResult, PushStatus,
    SyncChange, SyncScope,
};
use crate::conflict::{incoming_wins, VersionRef};
use crate::error::{ErrorCode, SyncError, SyncResult};
use crate::stamp::{ChangeStamp, OpKind};
use crate::validate::{validate_typed_ops, ValidationContext, ValidationLimits};
use std::collections::{BTreeMap, HashMap};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DeviceCursor {
    version: u64,
    seen_at_ms: u64,
}

#[derive(Debug, Clone)]
struct Workspace<P> {
    version: u64,
    records: HashMap<(String, String), StoredVersion<P>>,
    log: BTreeMap<u64, (String, String)>,
    seen_ops: HashMap<String, Option<u64>>,
    devices: HashMap<String, DeviceCursor>,
    floor: u64,
    // Stamps of purged tombstones, so late writes cannot resurrect what they deleted.
    purged: HashMap<(String, String), ChangeStamp>,
}

impl<P> Default for Workspace<P> {
    fn default() -> Self {
        Workspace {
            version: 0,
            records: HashMap::new(),
            log: BTreeMap::new(),
            seen_ops: HashMap::new(),
            devices: HashMap::new(),
            floor: 0,
            purged: HashMap::new(),
        }
    }
}

/// Counts for tests, dashboards and the devtools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkspaceStats {
    pub version: u64,
    pub records: usize,
    pub tombstones: usize,
    pub floor: u64,
    pub devices: usize,
}

/// The in-memory reference backend.
#[derive(Debug, Clone)]
pub struct MemoryServer<P> {
    config: ServerConfig,
    workspaces: HashMap<String, Workspace<P>>,
}

impl<P: Payload> MemoryServer<P> {
    pub fn new(config: ServerConfig) -> Self {
        MemoryServer { config, workspaces: HashMap::new() }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    fn workspace_mut(&mut self, scope: &SyncScope) -> SyncResult<&mut Workspace<P>> {
        check_scope(scope)?;
        Ok(self.workspaces.entry(scope.workspace_id.clone()).or_default())
    }

    /// Applies a batch atomically: it is validated whole first, and a bad op rejects the batch
    /// with nothing stored. Each op is then applied, deduplicated or superseded by the
    /// conflict rule.
    pub fn push(&mut self, batch: PushBatch<P>, now_ms: u64) -> SyncResult<PushResult<P>> {
        let mut ctx = ValidationContext::new(None, now_ms);
        ctx.limits = self.config.limits;
        validate_typed_ops(&batch.ops, &ctx)?;
        if batch.device_id.is_empty() {
            return Err(SyncError::invalid_change("deviceId must not be empty"));
        }
        let ws = self.workspace_mut(&batch.scope)?;
        let mut results = Vec::with_capacity(batch.ops.len());
        for op in batch.ops {
            results.push(apply_op(ws, op, now_ms));
        }
        // Pushing keeps a known device active; only pulls (update_cursor) register a cursor.
        if let Some(device) = ws.devices.get_mut(&batch.device_id) {
            device.seen_at_ms = now_ms;
        }
        Ok(PushResult { results, server_version: ws.version })
    }

    /// One page of the changes after `request.cursor`, ascending by server version.
    pub fn pull(&mut self, request: &PullRequest, now_ms: u64) -> SyncResult<PullResponse<P>> {
        if request.limit == 0 {
            return Err(SyncError::invalid_argument("limit must be at least 1"));
        }
        let limit = request.limit.min(self.config.max_pull_limit) as usize;
        let ws = self.workspace_mut(&request.scope)?;
        if request.cursor > ws.version {
            return Err(SyncError::new(
                ErrorCode::CursorExpired,
                format!(
                    "cursor {} is ahead of the server ({}); the server's data was reset",
                    request.cursor, ws.version
                ),
            ));
        }
        // Below the floor a client may have missed purged deletions, unless it holds nothing
        // from before (the first page of a snapshot) or the floor has not risen since its
        // sequence began.
        let fresh_snapshot = request.snapshot && request.cursor == 0;
        let floor_unchanged = request.retention_floor.is_some_and(|seen| seen >= ws.floor);
        if request.cursor < ws.floor && !fresh_snapshot && !floor_unchanged {
            return Err(SyncError::new(
                ErrorCode::CursorExpired,
                format!("cursor {} is below the retention floor {}; rescan from 0", request.cursor, ws.floor),
            ));
        }
        if let Some(device_id) = &request.device_id {
            if let Some(device) = ws.devices.get_mut(device_id) {
                device.seen_at_ms = now_ms;
            }
        }
        let mut changes = Vec::with_capacity(limit.min(ws.log.len()));
        let mut next_cursor = request.cursor;
        let mut has_more = false;
        let mut remaining = 0u64;
        for (&version, key) in ws.log.range(request.cursor + 1..) {
            remaining += 1;
            if changes.len() == limit {
                has_more = true;
                continue;
            }
            next_cursor = version;
            if let Some(tables) = &request.tables {
                if !tables.iter().any(|t| t == &key.0) {
                    continue;
                }
            }
            if let Some(stored) = ws.records.get(key) {
                changes.push(to_change(key, stored));
            }
        }
        if !has_more {
            // Everything up to the head has been delivered, including versions compacted away.
            next_cursor = ws.version;
        }
        Ok(PullResponse { changes, next_cursor, has_more, total: Some(remaining), retention_floor: ws.floor })
    }

    /// Records how far a device has pulled; it never moves backwards.
    pub fn update_cursor(
        &mut self,
        scope: &SyncScope,
        device_id: &str,
        version: u64,
        now_ms: u64,
    ) -> SyncResult<()> {
        if device_id.is_empty() {
            return Err(SyncError::invalid_argument("deviceId must not be empty"));
        }
        let ws = self.workspace_mut(scope)?;
        if version > ws.version {
            return Err(SyncError::invalid_argument(format!(
                "cursor {version} is ahead of the server ({})",
                ws.version
            )));
        }
        let device =
            ws.devices.entry(device_id.to_owned()).or_insert(DeviceCursor { version: 0, seen_at_ms: now_ms });
        device.version = device.version.max(version);
        device.seen_at_ms = now_ms;
        Ok(())
    }

    /// Purges tombstones that are older than the retention and that every active device has
    /// pulled, and raises the retention floor. Returns how many were purged.
    pub fn collect_garbage(&mut self, now_ms: u64) -> usize {
        let config = self.config;
        let mut purged = 0;
        for ws in self.workspaces.values_mut() {
            let active_min = ws
                .devices
                .values()
                .filter(|d| now_ms.saturating_sub(d.seen_at_ms) < config.device_ttl_ms)
                .map(|d| d.version)
                .min()
                .unwrap_or(ws.version);
            let doomed: Vec<u64> = ws
                .log
                .range(..=active_min)
                .filter_map(|(&version, key)| {
                    let stored = ws.records.get(key)?;
                    let old = now_ms.saturating_sub(stored.stored_at_ms) >= config.tombstone_retention_ms;
                    (stored.op == OpKind::Delete && old).then_some(version)
                })
                .collect();
            for version in doomed {
                if let Some(key) = ws.log.remove(&version) {
                    if let Some(tombstone) = ws.records.remove(&key) {
                        ws.purged.insert(key, tombstone.stamp);
                    }
                    ws.floor = ws.floor.max(version);
                    purged += 1;
                }
            }
        }
        purged
    }

    /// The current version of a record, tombstones included.
    pub fn get(&self, scope: &SyncScope, table: &str, pk: &str) -> Option<&StoredVersion<P>> {
        self.workspaces.get(&scope.workspace_id)?.records.get(&(table.to_owned(), pk.to_owned()))
    }

    /// Every live record of a workspace, sorted by (table, pk).
    pub fn live_records(&self, scope: &SyncScope) -> Vec<(String, String, &StoredVersion<P>)> {
        let mut out: Vec<_> = self
            .workspaces
            .get(&scope.workspace_id)
            .map(|ws| {
                ws.records
                    .iter()
                    .filter(|(_, v)| v.op == OpKind::Put)
                    .map(|((t, k), v)| (t.clone(), k.clone(), v))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    pub fn stats(&self, scope: &SyncScope) -> WorkspaceStats {
        self.workspaces
            .get(&scope.workspace_id)
            .map(|ws| WorkspaceStats {
                version: ws.version,
                records: ws.records.values().filter(|v| v.op == OpKind::Put).count(),
                tombstones: ws.records.values().filter(|v| v.op == OpKind::Delete).count(),
                floor: ws.floor,
                devices: ws.devices.len(),
            })
            .unwrap_or_default()
    }

    /// A device's cursor as the server knows it.
    pub fn device_cursor(&self, scope: &SyncScope, device_id: &str) -> Option<u64> {
        self.workspaces.get(&scope.workspace_id)?.devices.get(device_id).map(|d| d.version)
    }
}

fn check_scope(scope: &SyncScope) -> SyncResult<()> {
    if scope.workspace_id.is_empty() || scope.workspace_id.len() > 256 {
        return Err(SyncError::invalid_argument("workspaceId must be 1 to 256 bytes"));
    }
    Ok(())
}

fn apply_op<P: Payload>(ws: &mut Workspace<P>, op: PendingOp<P>, now_ms: u64) -> PushOpResult<P> {
    let op_id = op.stamp.op_id.clone();
    let key = (op.table_name, op.pk);
    if let Some(&first) = ws.seen_ops.get(&op_id) {
        // A retry of an op seen before. If the record has moved on since, report its current
        // version too: the pusher may have kept its op through a rescan and never see it.
        let current = current_change(ws, &key).filter(|c| c.stamp.op_id != op_id);
        return PushOpResult {
            op_id,
            status: PushStatus::Duplicate,
            server_version: first,
            error: None,
            current,
        };
    }
    let current = match ws.records.get(&key) {
        Some(stored) => Some(VersionRef::new(&stored.stamp, stored.op)),
        None => ws.purged.get(&key).map(|stamp| VersionRef::new(stamp, OpKind::Delete)),
    };
    let wins = incoming_wins(VersionRef::new(&op.stamp, op.op), current);
    if !wins {
        ws.seen_ops.insert(op_id.clone(), None);
        let current = current_change(ws, &key);
        return PushOpResult {
            op_id,
            status: PushStatus::Superseded,
            server_version: None,
            error: None,
            current,
        };
    }
    ws.version += 1;
    let version = ws.version;
    if let Some(previous) = ws.records.get(&key) {
        ws.log.remove(&previous.server_version);
    }
    ws.purged.remove(&key);
    ws.log.insert(version, key.clone());
    let payload = if op.op == OpKind::Put { op.payload } else { None };
    ws.records.insert(
        key,
        StoredVersion { op: op.op, payload, stamp: op.stamp, server_version: version, stored_at_ms: now_ms },
    );
    ws.seen_ops.insert(op_id.clone(), Some(version));
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
fn current_change<P: Clone>(ws: &Workspace<P>, key: &(String, String)) -> Option<SyncChange<P>> {
    match ws.records.get(key) {
        Some(stored) => Some(to_change(key, stored)),
        None => ws.purged.get(key).map(|stamp| SyncChange {
            table_name: key.0.clone(),
            pk: key.1.clone(),
            op: OpKind::Delete,
            payload: None,
            server_version: ws.floor.max(1),
            stamp: stamp.clone(),
        }),
    }
}

fn to_change<P: Clone>(key: &(String, String), stored: &StoredVersion<P>) -> SyncChange<P> {
    SyncChange {
        table_name: key.0.clone(),
        pk: key.1.clone(),
        op: stored.op,
        payload: stored.payload.clone(),
        server_version: stored.server_version,
        stamp: stored.stamp.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::{ms_to_ntp64, HlcStamp};
    use serde_json::{json, Value};

    const NOW: u64 = 1_767_225_600_000;
    const DAY: u64 = 86_400_000;

    fn scope() -> SyncScope {
        SyncScope::new("ws1")
    }

    fn op(pk: &str, kind: OpKind, clock: u64, device: &str, op_id: &str) -> PendingOp<Value> {
        PendingOp {
            table_name: "notes".into(),
            pk: pk.into(),
            op: kind,
            payload: (kind == OpKind::Put).then(|| json!({"id": pk, "by": op_id})),
            stamp: ChangeStamp {
                clock,
                hlc: HlcStamp { time: ms_to_ntp64(NOW) + clock, id: 1 }.encode(),
                device_id: device.into(),
                op_id: op_id.into(),
            },
        }
    }

    fn push(server: &mut MemoryServer<Value>, ops: Vec<PendingOp<Value>>) -> PushResult<Value> {
        server.push(PushBatch { scope: scope(), device_id: "dev".into(), ops }, NOW).unwrap()
    }

    fn pull(server: &mut MemoryServer<Value>, cursor: u64, limit: u32) -> SyncResult<PullResponse<Value>> {
        server.pull(&PullRequest::new(scope(), cursor, limit), NOW)
    }

    #[test]
    fn push_applies_and_is_idempotent_by_op_id() {
        let mut server = MemoryServer::new(ServerConfig::default());
        let first =
            push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
        assert_eq!(
            first.results.iter().map(|r| r.status).collect::<Vec<_>>(),
            [PushStatus::Applied, PushStatus::Applied]
        );
        assert_eq!(first.server_version, 2);
        let again =
            push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
        assert_eq!(again.results[0].status, PushStatus::Duplicate);
        assert_eq!(again.results[0].server_version, Some(1));
        assert_eq!(again.results[0].current, None, "the record is still at this op");
        assert_eq!(again.server_version, 2, "a retried batch changes nothing");
    }

    #[test]
    fn the_conflict_rule_decides_and_losers_are_superseded() {
        let mut server = MemoryServer::new(ServerConfig::default());
        push(&mut server, vec![op("a", OpKind::Put, 2, "A", "new")]);
        let late = push(&mut server, vec![op("a", OpKind::Put, 1, "B", "old")]);
        assert_eq!(late.results[0].status, PushStatus::Superseded);
        assert_eq!(late.results[0].current.as_ref().unwrap().stamp.op_id, "new", "the winner is reported");
        assert_eq!(server.get(&scope(), "notes", "a").unwrap().stamp.op_id, "new");
        let del = push(&mut server, vec![op("a", OpKind::Delete, 3, "B", "del")]);
        assert_eq!(del.results[0].status, PushStatus::Applied);
        let stored = server.get(&scope(), "notes", "a").unwrap();
        assert_eq!((stored.op, stored.payload.clone()), (OpKind::Delete, None));
        assert_eq!(server.stats(&scope()).tombstones, 1);
        let recreate = push(&mut server, vec![op("a", OpKind::Put, 4, "A", "re")]);
        assert_eq!(recreate.results[0].status, PushStatus::Applied);
        assert_eq!(server.live_records(&scope()).len(), 1);
    }

    #[test]
    fn a_bad_op_rejects_the_whole_batch() {
        let mut server = MemoryServer::new(ServerConfig::default());
        let mut bad = op("b", OpKind::Put, 1, "A", "o2");
        bad.payload = Some(json!("not an object"));
        let err = server
            .push(
                PushBatch {
                    scope: scope(),
                    device_id: "dev".into(),
                    ops: vec![op("a", OpKind::Put, 1, "A", "o1"), bad],
                },
                NOW,
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPayload);
        assert_eq!(server.stats(&scope()), WorkspaceStats::default());
        let err = server
            .push(PushBatch { scope: SyncScope::new(""), device_id: "d".into(), ops: vec![] }, NOW)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn pull_is_paginated_ascending_and_compacted_per_record() {
        let mut server = MemoryServer::new(ServerConfig::default());
        for i in 0..5 {
            push(&mut server, vec![op(&format!("k{i}"), OpKind::Put, 1, "A", &format!("o{i}"))]);
        }
        // k0 rewritten: its old log entry (version 1) disappears, it reappears at version 6.
        push(&mut server, vec![op("k0", OpKind::Put, 2, "A", "o0b")]);
        let page1 = pull(&mut server, 0, 2).unwrap();
        assert_eq!(page1.changes.iter().map(|c| c.server_version).collect::<Vec<_>>(), [2, 3]);
        assert!(page1.has_more);
        assert_eq!(page1.next_cursor, 3);
        assert_eq!(page1.total, Some(5));
        let page2 = pull(&mut server, 3, 10).unwrap();
        assert_eq!(page2.changes.iter().map(|c| c.pk.as_str()).collect::<Vec<_>>(), ["k3", "k4", "k0"]);
        assert!(!page2.has_more);
        assert_eq!(page2.next_cursor, 6);
        let empty = pull(&mut server, 6, 10).unwrap();
        assert!(empty.changes.is_empty() && !empty.has_more && empty.next_cursor == 6);
        assert_eq!(pull(&mut server, 0, 0).unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(pull(&mut server, 99, 10).unwrap_err().code, ErrorCode::CursorExpired);
    }

    #[test]
    fn table_filters_still_advance_the_cursor() {
        let mut server = MemoryServer::new(ServerConfig::default());
        let mut tag = op("t", OpKind::Put, 1, "A", "t1");
        tag.table_name = "tags".into();
        push(&mut server, vec![tag, op("n", OpKind::Put, 1, "A", "n1")]);
        let response = server
            .pull(
                &PullRequest { tables: Some(vec!["notes".into()]), ..PullRequest::new(scope(), 0, 10) },
                NOW,
            )
            .unwrap();
        assert_eq!(response.changes.len(), 1);
        assert_eq!(response.next_cursor, 2);
    }

    #[test]
    fn tombstones_are_purged_only_when_old_and_pulled_by_every_active_device() {
        let config =
            ServerConfig { tombstone_retention_ms: DAY, device_ttl_ms: 10 * DAY, ..ServerConfig::default() };
        let mut server = MemoryServer::new(config);
        push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
        push(&mut server, vec![op("a", OpKind::Delete, 2, "A", "o3")]);
        server.update_cursor(&scope(), "fast", 3, NOW).unwrap();
        server.update_cursor(&scope(), "slow", 1, NOW).unwrap();
        assert_eq!(server.collect_garbage(NOW + 2 * DAY), 0, "slow device has not pulled the delete");
        server.update_cursor(&scope(), "slow", 3, NOW + 2 * DAY).unwrap();
        assert_eq!(server.collect_garbage(NOW + 2 * DAY), 1);
        assert_eq!(server.stats(&scope()).floor, 3);
        assert!(server.get(&scope(), "notes", "a").is_none());
        // A device that stopped at cursor 2 would miss the delete: expired. So would a device
        // that holds data from cursor 0; only a snapshot (a client holding nothing) is served.
        assert_eq!(pull(&mut server, 2, 10).unwrap_err().code, ErrorCode::CursorExpired);
        assert_eq!(pull(&mut server, 0, 10).unwrap_err().code, ErrorCode::CursorExpired);
        let full =
            server.pull(&PullRequest { snapshot: true, ..PullRequest::new(scope(), 0, 10) }, NOW).unwrap();
        assert_eq!(full.changes.len(), 1);
        assert!(pull(&mut server, 3, 10).is_ok());
        // A full pull that began after the purge pages through cursors below the floor.
        let first =
            server.pull(&PullRequest { snapshot: true, ..PullRequest::new(scope(), 0, 1) }, NOW).unwrap();
        assert_eq!(first.retention_floor, 3);
        let next = PullRequest {
            snapshot: true,
            retention_floor: Some(first.retention_floor),
            ..PullRequest::new(scope(), first.next_cursor, 1)
        };
        assert!(server.pull(&next, NOW).is_ok());
        // But if the floor rises during the sequence, its later pages expire.
        push(&mut server, vec![op("b", OpKind::Delete, 2, "A", "o4")]);
        server.update_cursor(&scope(), "fast", 4, NOW + 2 * DAY).unwrap();
        server.update_cursor(&scope(), "slow", 4, NOW + 2 * DAY).unwrap();
        assert_eq!(server.collect_garbage(NOW + 4 * DAY), 1);
        assert_eq!(server.pull(&next, NOW).unwrap_err().code, ErrorCode::CursorExpired);
        // A write made before the delete, arriving after the purge, does not resurrect it...
        let late = push(&mut server, vec![op("a", OpKind::Put, 1, "B", "late")]);
        assert_eq!(late.results[0].status, PushStatus::Superseded);
        let winner = late.results[0].current.as_ref().unwrap();
        assert_eq!((winner.op, winner.stamp.op_id.as_str()), (OpKind::Delete, "o3"));
        assert!(server.get(&scope(), "notes", "a").is_none());
        // ...while a write that saw the delete (higher clock) re-creates the record.
        let again = push(&mut server, vec![op("a", OpKind::Put, 3, "B", "again")]);
        assert_eq!(again.results[0].status, PushStatus::Applied);
    }

    #[test]
    fn inactive_devices_do_not_hold_back_gc_forever() {
        let config =
            ServerConfig { tombstone_retention_ms: DAY, device_ttl_ms: 3 * DAY, ..ServerConfig::default() };
        let mut server = MemoryServer::new(config);
        push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1")]);
        push(&mut server, vec![op("a", OpKind::Delete, 2, "A", "o2")]);
        server.update_cursor(&scope(), "gone", 0, NOW).unwrap();
        server.update_cursor(&scope(), "here", 2, NOW + 4 * DAY).unwrap();
        assert_eq!(server.collect_garbage(NOW + 4 * DAY), 1);
    }

    #[test]
    fn device_cursors_are_monotonic_and_bounded_by_the_head() {
        let mut server = MemoryServer::new(ServerConfig::default());
        push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
        server.update_cursor(&scope(), "d", 2, NOW).unwrap();
        server.update_cursor(&scope(), "d", 1, NOW).unwrap();
        assert_eq!(server.device_cursor(&scope(), "d"), Some(2));
        assert_eq!(server.update_cursor(&scope(), "d", 3, NOW).unwrap_err().code, ErrorCode::InvalidArgument);
        assert_eq!(server.update_cursor(&scope(), "", 1, NOW).unwrap_err().code, ErrorCode::InvalidArgument);
    }
}
