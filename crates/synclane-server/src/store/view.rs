//! The part of a workspace a push batch touches, loaded from the database before the core's
//! rules run and written back after, in the same transaction.

use std::collections::{HashMap, HashSet};
use synclane_core::server_rules::{PushState, RecordId, StoredVersion};
use synclane_core::{ChangeStamp, OpKind, SyncError, SyncResult};

pub type Payload = serde_json::Value;

/// A row of `sl_records`, as both databases return it and as a push writes it.
pub struct RecordRow {
    pub table_name: String,
    pub pk: String,
    pub op: String,
    pub payload: Option<String>,
    pub clock: i64,
    pub hlc: String,
    pub device_id: String,
    pub op_id: String,
    pub server_version: i64,
    pub stored_at: i64,
    pub purged: bool,
}

impl RecordRow {
    pub fn into_version(self) -> SyncResult<(RecordId, StoredVersion<Payload>, bool)> {
        let op = match self.op.as_str() {
            "put" => OpKind::Put,
            "delete" => OpKind::Delete,
            other => return Err(corrupt(format!("unknown op {other:?}"))),
        };
        let payload = self
            .payload
            .map(|text| serde_json::from_str(&text).map_err(|e| corrupt(format!("stored payload: {e}"))))
            .transpose()?;
        let version = StoredVersion {
            op,
            payload,
            stamp: ChangeStamp {
                clock: to_u64(self.clock),
                hlc: self.hlc,
                device_id: self.device_id,
                op_id: self.op_id,
            },
            server_version: to_u64(self.server_version),
            stored_at_ms: to_u64(self.stored_at),
        };
        Ok(((self.table_name, self.pk), version, self.purged))
    }
}

fn corrupt(message: String) -> SyncError {
    SyncError::new(synclane_core::ErrorCode::ServerError, format!("the database holds a bad row: {message}"))
}

/// Database integers are signed; versions, clocks and times never go below 0.
pub fn to_u64(value: i64) -> u64 {
    value.max(0) as u64
}

pub fn to_i64(value: u64) -> i64 {
    value.min(i64::MAX as u64) as i64
}

/// The push state of one batch.
pub struct PushView {
    pub version: u64,
    pub floor: u64,
    records: HashMap<RecordId, StoredVersion<Payload>>,
    purged: HashMap<RecordId, ChangeStamp>,
    seen: HashMap<String, Option<u64>>,
    /// Records written by the batch, in first-write order.
    dirty: Vec<RecordId>,
    dirty_set: HashSet<RecordId>,
    new_ops: Vec<(String, Option<u64>)>,
}

impl PushView {
    pub fn new(version: u64, floor: u64) -> Self {
        PushView {
            version,
            floor,
            records: HashMap::new(),
            purged: HashMap::new(),
            seen: HashMap::new(),
            dirty: Vec::new(),
            dirty_set: HashSet::new(),
            new_ops: Vec::new(),
        }
    }

    /// Adds a stored row (live, tombstone or purged tombstone).
    pub fn load_record(&mut self, row: RecordRow) -> SyncResult<()> {
        let (key, version, purged) = row.into_version()?;
        if purged {
            self.purged.insert(key, version.stamp);
        } else {
            self.records.insert(key, version);
        }
        Ok(())
    }

    pub fn load_op(&mut self, op_id: String, applied_at: Option<i64>) {
        self.seen.insert(op_id, applied_at.map(to_u64));
    }

    /// The rows to upsert.
    pub fn record_writes(&self) -> SyncResult<Vec<RecordRow>> {
        self.dirty
            .iter()
            .map(|key| {
                let stored = &self.records[key];
                Ok(RecordRow {
                    table_name: key.0.clone(),
                    pk: key.1.clone(),
                    op: stored.op.as_str().to_owned(),
                    payload: stored
                        .payload
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| corrupt(e.to_string()))?,
                    clock: to_i64(stored.stamp.clock),
                    hlc: stored.stamp.hlc.clone(),
                    device_id: stored.stamp.device_id.clone(),
                    op_id: stored.stamp.op_id.clone(),
                    server_version: to_i64(stored.server_version),
                    stored_at: to_i64(stored.stored_at_ms),
                    purged: false,
                })
            })
            .collect()
    }

    /// The op ids to remember, with the version they were applied at (`None`: superseded).
    pub fn op_writes(&self) -> &[(String, Option<u64>)] {
        &self.new_ops
    }
}

impl PushState<Payload> for PushView {
    fn seen_op(&self, op_id: &str) -> Option<Option<u64>> {
        self.seen.get(op_id).copied()
    }

    fn current(&self, key: &RecordId) -> Option<&StoredVersion<Payload>> {
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
        self.seen.insert(op_id.clone(), applied_at);
        self.new_ops.push((op_id, applied_at));
    }

    fn store(&mut self, key: RecordId, version: StoredVersion<Payload>) {
        self.purged.remove(&key);
        if self.dirty_set.insert(key.clone()) {
            self.dirty.push(key.clone());
        }
        self.records.insert(key, version);
    }
}
