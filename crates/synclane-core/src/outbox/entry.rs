//! An outbox entry: where it is in its life, and how a new write joins the entries waiting
//! for its record (coalescing).

use crate::change::PendingOp;
use crate::error::SyncError;
use crate::stamp::{ChangeStamp, OpKind};
use serde::{Deserialize, Serialize};

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
    pub(super) const ALL: [OpState; 3] = [OpState::Pending, OpState::InFlight, OpState::Failed];

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

/// The stamp and op of the newest unacknowledged write of a record, for the next-clock rule.
pub fn newest_stamp<P>(entry: Option<&OutboxEntry<P>>) -> Option<(&ChangeStamp, OpKind)> {
    entry.map(|e| (&e.op.stamp, e.op.op))
}
