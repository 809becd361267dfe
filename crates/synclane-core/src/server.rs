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

use crate::change::{Payload, PullRequest, PullResponse, PushBatch, PushResult, SyncScope};
use crate::error::SyncResult;
use crate::server_rules::{
    apply_push, assemble_page, check_cursor_update, check_pull, check_scope, is_purgeable, purge_horizon,
    validate_push, PushState, RecordId,
};
use crate::stamp::{ChangeStamp, OpKind};
use std::collections::{BTreeMap, HashMap};

pub use crate::server_rules::{ServerConfig, StoredVersion};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DeviceCursor {
    version: u64,
    seen_at_ms: u64,
}

#[derive(Debug, Clone)]
struct Workspace<P> {
    version: u64,
    records: HashMap<RecordId, StoredVersion<P>>,
    log: BTreeMap<u64, RecordId>,
    seen_ops: HashMap<String, Option<u64>>,
    devices: HashMap<String, DeviceCursor>,
    floor: u64,
    // Stamps of purged tombstones, so late writes cannot resurrect what they deleted.
    purged: HashMap<RecordId, ChangeStamp>,
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

impl<P> PushState<P> for Workspace<P> {
    fn seen_op(&self, op_id: &str) -> Option<Option<u64>> {
        self.seen_ops.get(op_id).copied()
    }

    fn current(&self, key: &RecordId) -> Option<&StoredVersion<P>> {
        self.records.get(key)
    }

    fn purged(&self, key: &RecordId) -> Option<&ChangeStamp> {
        self.purged.get(key)
    }

    fn floor(&self) -> u64 {
        self.floor
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn remember_op(&mut self, op_id: String, applied_at: Option<u64>) {
        self.seen_ops.insert(op_id, applied_at);
    }

    fn store(&mut self, key: RecordId, version: StoredVersion<P>) {
        if let Some(previous) = self.records.get(&key) {
            self.log.remove(&previous.server_version);
        }
        self.purged.remove(&key);
        self.log.insert(version.server_version, key.clone());
        self.records.insert(key, version);
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
    /// Names this server's data set in every pull page (see `PullResponse::epoch`).
    epoch: Option<String>,
}

impl<P: Payload> MemoryServer<P> {
    pub fn new(config: ServerConfig) -> Self {
        MemoryServer { config, workspaces: HashMap::new(), epoch: None }
    }

    /// A server that names its data set `epoch` in pull pages: a new server made with
    /// another epoch is recognised by devices as a reset one. It should be unique per data set
    /// (random, say); the core draws no randomness itself.
    pub fn with_epoch(mut self, epoch: impl Into<String>) -> Self {
        self.epoch = Some(epoch.into());
        self
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
        validate_push(&batch, &self.config, now_ms)?;
        let ws = self.workspace_mut(&batch.scope)?;
        let results = apply_push(ws, batch.ops, now_ms);
        // Pushing keeps a known device active; only pulls (update_cursor) register a cursor.
        if let Some(device) = ws.devices.get_mut(&batch.device_id) {
            device.seen_at_ms = now_ms;
        }
        Ok(PushResult { results, server_version: ws.version })
    }

    /// One page of the changes after `request.cursor`, ascending by server version.
    pub fn pull(&mut self, request: &PullRequest, now_ms: u64) -> SyncResult<PullResponse<P>> {
        let config = self.config;
        let ws = self.workspace_mut(&request.scope)?;
        let limit = check_pull(request, ws.version, ws.floor, &config)?;
        if let Some(device_id) = &request.device_id {
            if let Some(device) = ws.devices.get_mut(device_id) {
                device.seen_at_ms = now_ms;
            }
        }
        let after = ws.log.range(request.cursor + 1..);
        let remaining = after.clone().count() as u64;
        let rows = after
            .take(limit + 1)
            .filter_map(|(_, key)| ws.records.get(key).map(|stored| (key.clone(), stored.clone())))
            .collect();
        let page = assemble_page(request, rows, limit, remaining, ws.version, ws.floor);
        Ok(PullResponse { epoch: self.epoch.clone(), ..page })
    }

    /// Records how far a device has pulled; it never moves backwards.
    pub fn update_cursor(
        &mut self,
        scope: &SyncScope,
        device_id: &str,
        version: u64,
        now_ms: u64,
    ) -> SyncResult<()> {
        let ws = self.workspace_mut(scope)?;
        check_cursor_update(scope, device_id, version, ws.version)?;
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
            let horizon = purge_horizon(
                ws.devices.values().map(|d| (d.version, d.seen_at_ms)),
                ws.version,
                now_ms,
                &config,
            );
            let doomed: Vec<u64> = ws
                .log
                .range(..=horizon)
                .filter_map(|(&version, key)| {
                    let stored = ws.records.get(key)?;
                    is_purgeable(stored, horizon, now_ms, &config).then_some(version)
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

    /// The stamp the server keeps of a record's purged tombstone, if it purged one.
    pub fn purged_stamp(&self, scope: &SyncScope, table: &str, pk: &str) -> Option<&ChangeStamp> {
        self.workspaces.get(&scope.workspace_id)?.purged.get(&(table.to_owned(), pk.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{PendingOp, PushStatus};
    use crate::error::ErrorCode;
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
        // Ahead of the head: the server lost versions the device pulled, so it must reconcile.
        assert_eq!(server.update_cursor(&scope(), "d", 3, NOW).unwrap_err().code, ErrorCode::CursorExpired);
        assert_eq!(server.update_cursor(&scope(), "", 1, NOW).unwrap_err().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn every_page_names_the_servers_epoch() {
        let mut plain = MemoryServer::new(ServerConfig::default());
        push(&mut plain, vec![op("a", OpKind::Put, 1, "A", "o1")]);
        assert_eq!(pull(&mut plain, 0, 10).unwrap().epoch, None);
        let mut named = MemoryServer::new(ServerConfig::default()).with_epoch("e1");
        push(&mut named, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
        assert_eq!(pull(&mut named, 0, 1).unwrap().epoch.as_deref(), Some("e1"));
        assert_eq!(pull(&mut named, 1, 1).unwrap().epoch.as_deref(), Some("e1"));
    }
}
