//! The protocol's data types (names follow the provider contract: `SyncScope`, `SyncChange`,
//! `PendingOp`, `PushBatch`, `PushResult`, `PullRequest`, `PullResponse`).
//!
//! They are generic over the payload type `P`: the browser keeps payloads as JavaScript values
//! and never copies the user's fields into Rust, the server and the simulations use
//! `serde_json::Value`. The core only asks a payload the questions of [`Payload`].

use crate::error::SyncError;
use crate::stamp::{ChangeStamp, OpKind};
use serde::{Deserialize, Serialize};

/// What the core needs to know about a payload without reading the user's fields.
pub trait Payload: Clone {
    /// Whether the payload is a plain object (a record); anything else is refused.
    fn is_object(&self) -> bool;
    /// Approximate serialized size in bytes, for outbox capacity and size limits.
    fn byte_size(&self) -> usize;
    /// The payload's own `id` field, if any, so a put whose `id` disagrees with its key is refused.
    fn id_field(&self) -> PayloadId;
}

/// The `id` field of a payload, as far as validation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadId {
    Absent,
    Text(String),
    /// Present but not a string.
    NotText,
}

impl Payload for serde_json::Value {
    fn is_object(&self) -> bool {
        self.is_object()
    }

    fn byte_size(&self) -> usize {
        // Counting into a sink avoids allocating the serialized string.
        struct Counter(usize);
        impl std::io::Write for Counter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter(0);
        match serde_json::to_writer(&mut counter, self) {
            Ok(()) => counter.0,
            Err(_) => usize::MAX,
        }
    }

    fn id_field(&self) -> PayloadId {
        match self.get("id") {
            None | Some(serde_json::Value::Null) => PayloadId::Absent,
            Some(serde_json::Value::String(id)) => PayloadId::Text(id.clone()),
            Some(_) => PayloadId::NotText,
        }
    }
}

/// Which workspace a request is about. One database and one cursor per workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncScope {
    #[serde(alias = "workspace_id")]
    pub workspace_id: String,
}

impl SyncScope {
    pub fn new(workspace_id: impl Into<String>) -> Self {
        SyncScope { workspace_id: workspace_id.into() }
    }
}

/// One version of one record as the server hands it out, with its place in the change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncChange<P> {
    pub table_name: String,
    pub pk: String,
    pub op: OpKind,
    /// The record for a put; `None` for a delete.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
    pub server_version: u64,
    pub stamp: ChangeStamp,
}

/// A local write waiting to be pushed, as it travels in a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingOp<P> {
    pub table_name: String,
    pub pk: String,
    pub op: OpKind,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub payload: Option<P>,
    pub stamp: ChangeStamp,
}

/// A batch of local ops for one workspace. The server applies it atomically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushBatch<P> {
    pub scope: SyncScope,
    pub device_id: String,
    pub ops: Vec<PendingOp<P>>,
}

/// What happened to one pushed op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Stored; it is now the current version of its record.
    Applied,
    /// This op id was applied before (a retry): nothing changed, and that is a success.
    Duplicate,
    /// Accepted, but a higher version of the record was already stored, so it lost.
    Superseded,
    /// Refused for good (see `error`); retrying will not help.
    Rejected,
}

impl PushStatus {
    /// Whether the op is done and may leave the outbox.
    pub fn is_acknowledged(self) -> bool {
        !matches!(self, PushStatus::Rejected)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushOpResult<P> {
    pub op_id: String,
    pub status: PushStatus,
    /// The server version the op was stored at (applied), or first stored at (duplicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SyncError>,
    /// For a superseded op, the version that beat it. The pusher applies it at once: the
    /// winner may sit below its cursor (for instance a delete whose tombstone was purged), so
    /// it would never arrive by pulling.
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub current: Option<SyncChange<P>>,
}

/// Per-op results, in the order of the batch's ops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResult<P> {
    pub results: Vec<PushOpResult<P>>,
    /// The server's version counter after the batch.
    pub server_version: u64,
}

/// Ask for the changes after `cursor`, ascending by server version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    pub scope: SyncScope,
    pub cursor: u64,
    pub limit: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The client holds nothing from before this pull sequence (a bootstrap or a rescan that
    /// stages the full set). Its first page (cursor 0) is served whatever the retention floor:
    /// a client with no data cannot miss a deletion.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snapshot: bool,
    /// The `retentionFloor` the first page of this pull sequence reported. Later pages may sit
    /// below the floor as long as the floor has not risen since the sequence began (nothing
    /// the client could have seen has been purged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_floor: Option<u64>,
}

impl PullRequest {
    /// A request for the page after `cursor`.
    pub fn new(scope: SyncScope, cursor: u64, limit: u32) -> Self {
        PullRequest {
            scope,
            cursor,
            limit,
            tables: None,
            device_id: None,
            snapshot: false,
            retention_floor: None,
        }
    }
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse<P> {
    pub changes: Vec<SyncChange<P>>,
    /// The cursor to ask from next. Every change up to it has been delivered.
    pub next_cursor: u64,
    pub has_more: bool,
    /// How many changes were after the request's cursor when the page was cut, when the
    /// provider knows (used for progress and to check staged data before sealing it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The server's retention floor: the highest version of a purged tombstone. Send it back
    /// as `PullRequest::retention_floor` with the next pages of the same sequence.
    #[serde(default)]
    pub retention_floor: u64,
    /// Names the server's data set; a new one means the server's data was replaced (a new or
    /// reset database), so versions counted under an older epoch mean nothing any more. A
    /// device that kept data from another epoch reconciles as after a reset. Optional: a
    /// provider without one is checked by its versions alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_payloads_answer_the_core_questions() {
        let record = json!({"id": "r1", "title": "hello"});
        assert!(record.is_object());
        assert_eq!(record.byte_size(), record.to_string().len());
        assert_eq!(record.id_field(), PayloadId::Text("r1".into()));
        assert_eq!(json!({"title": 1}).id_field(), PayloadId::Absent);
        assert_eq!(json!({"id": 7}).id_field(), PayloadId::NotText);
        assert!(!json!([1, 2]).is_object());
        assert!(!json!("text").is_object());
    }

    #[test]
    fn protocol_types_use_the_documented_field_names() {
        let change = SyncChange {
            table_name: "notes".into(),
            pk: "n1".into(),
            op: OpKind::Put,
            payload: Some(json!({"id": "n1"})),
            server_version: 3,
            stamp: ChangeStamp { clock: 1, hlc: "h".into(), device_id: "d".into(), op_id: "o".into() },
        };
        let value = serde_json::to_value(&change).unwrap();
        assert_eq!(value["tableName"], "notes");
        assert_eq!(value["serverVersion"], 3);
        assert_eq!(value["stamp"]["opId"], "o");
        let back: SyncChange<serde_json::Value> = serde_json::from_value(value).unwrap();
        assert_eq!(back, change);
        let response: PullResponse<serde_json::Value> =
            serde_json::from_value(json!({"changes": [], "nextCursor": 9, "hasMore": false})).unwrap();
        assert_eq!(response.next_cursor, 9);
        assert!(PushStatus::Duplicate.is_acknowledged() && !PushStatus::Rejected.is_acknowledged());
    }
}
