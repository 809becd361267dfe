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
mod tests;
