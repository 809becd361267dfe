//! The plan's data: a record's key and version metadata, the plan's lists and their counts.

use crate::change::SyncChange;
use crate::conflict::VersionRef;
use crate::error::Quoted;
use crate::stamp::{ChangeStamp, OpKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies a record across the whole database: its table and its primary key.
///
/// Ordered by table then primary key; plans are sorted by this order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordKey {
    /// The table the record lives in.
    pub table: String,
    /// The record's primary key within its table.
    pub pk: String,
}

impl RecordKey {
    /// Builds a key from a table name and a primary key.
    pub fn new(table: impl Into<String>, pk: impl Into<String>) -> Self {
        RecordKey { table: table.into(), pk: pk.into() }
    }
}

impl fmt::Display for RecordKey {
    /// `table/pk`, quoted with Rust escapes so that keys containing `/` stay unambiguous in
    /// error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Quoted(&self.table), Quoted(&self.pk))
    }
}

/// One version of a record as the plan sees it: key, stamp and whether it is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordMeta {
    /// Which record this version belongs to.
    pub key: RecordKey,
    /// The sync metadata of this version.
    pub stamp: ChangeStamp,
    /// `true` for a tombstone (the record was deleted), `false` for a live record.
    pub deleted: bool,
}

impl RecordMeta {
    /// The version a change carries.
    pub fn of_change<P>(change: &SyncChange<P>) -> RecordMeta {
        RecordMeta {
            key: RecordKey::new(&change.table_name, &change.pk),
            stamp: change.stamp.clone(),
            deleted: change.op == OpKind::Delete,
        }
    }

    /// The op that produced this version.
    pub fn op(&self) -> OpKind {
        if self.deleted {
            OpKind::Delete
        } else {
            OpKind::Put
        }
    }

    /// This version as the conflict rule sees it.
    pub fn version(&self) -> VersionRef<'_> {
        VersionRef::new(&self.stamp, self.op())
    }

    /// Whether two metas describe the same version (same stamp and same tombstone flag).
    /// The key is not compared: callers compare versions of one key.
    pub(super) fn same_version(&self, other: &RecordMeta) -> bool {
        self.deleted == other.deleted && self.stamp == other.stamp
    }
}

/// What reconciling the local set against the server's full set does, key by key.
///
/// Each list is sorted by key and a key appears in at most one list. Creations, updates and
/// tombstone deletions carry the remote meta to store; a deletion by absence carries the local
/// meta of the record being removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcilePlan {
    /// Remote live records the device has no live record for (absent or a local tombstone).
    pub creations: Vec<RecordMeta>,
    /// Remote versions replacing a different local version of the same kind: a live record
    /// over a live record, or a tombstone over a tombstone.
    pub updates: Vec<RecordMeta>,
    /// Local live records to remove: the remote tombstone when the server still has one (it is
    /// stored), or the local meta when the server no longer knows the key (it is dropped).
    pub deletions: Vec<RecordMeta>,
    /// Every key with a pending local op; the plan leaves these alone so the re-pushed op can
    /// be settled by the conflict rule on the server. Not work: see [`ReconcilePlan::is_empty`].
    pub kept_for_rebase: Vec<RecordKey>,
}

/// Counts of a plan, for status displays and dry runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    /// Number of records the plan creates.
    pub creations: usize,
    /// Number of records the plan replaces with a different version.
    pub updates: usize,
    /// Number of live records the plan removes.
    pub deletions: usize,
    /// Number of keys left alone because they have pending ops.
    pub kept_for_rebase: usize,
}

impl ReconcilePlan {
    /// Whether the plan changes nothing locally. Keys kept for rebase are not work: a plan that
    /// only keeps pending keys is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many local changes the plan makes (creations, updates and deletions).
    pub fn len(&self) -> usize {
        self.creations.len() + self.updates.len() + self.deletions.len()
    }

    /// The plan's counts.
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            creations: self.creations.len(),
            updates: self.updates.len(),
            deletions: self.deletions.len(),
            kept_for_rebase: self.kept_for_rebase.len(),
        }
    }
}
