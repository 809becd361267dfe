//! The reconciliation plan: what a device must create, update and delete locally so that its
//! database matches the server's full current state.
//!
//! A device whose cursor expired can no longer pull changes incrementally; it downloads the
//! server's whole current set (live records plus the tombstones the server still keeps) and
//! calls [`compute_plan`] to compare it with its local set. The same function backs the
//! dry-run `plan()` shown to apps, so the plan is pure data over record metadata only (no
//! payloads), sorted by key so that two runs over the same input print the same plan.
//!
//! # Why the server wins every key without a pending op
//!
//! Every local version of a record that has no pending op either came from the server or was
//! pushed to it and acknowledged. The server already ran the conflict rule against that
//! version, so whatever it holds now is the outcome of that rule (or of a later write). A local
//! tombstone that would beat the remote live record under [`compare_versions`] is therefore not
//! evidence of a newer local delete: it is a stale view (for example a delete that lost on the
//! server against a concurrent write it never saw locally). So the plan never consults the
//! conflict rule between local and remote; it copies the remote version. Keys with a pending
//! op are the one exception: they are left alone ([`ReconcilePlan::kept_for_rebase`]) and the
//! re-pushed op lets the server apply the conflict rule with full knowledge.
//!
//! # Tombstones
//!
//! - Remote tombstone, local live: a deletion carrying the remote tombstone; applying it stores
//!   that tombstone, so the local clock for the key stays at least the server's.
//! - Remote tombstone, local tombstone with a different version: an update to the remote
//!   tombstone, so local tombstones converge with the server's.
//! - Remote tombstone, local absent: nothing. The device never had the record or already
//!   purged its tombstone; re-importing every server tombstone would undo local garbage
//!   collection for no visible change.
//! - Local live, remote absent: the server deleted the record and purged the tombstone. The
//!   deletion carries the local meta, and applying it removes the record without leaving a
//!   tombstone: there is no server stamp to store, and inventing one would fabricate a version.
//! - Local tombstone, remote absent: nothing; local garbage collection will purge it.
//!
//! [`apply_plan`] follows exactly these rules (a deletion whose meta is a tombstone is stored,
//! one whose meta is live removes the key), which is what makes recomputing the plan after
//! applying it come out empty; [`check_idempotent`] checks that.

use crate::change::SyncChange;
use crate::conflict::{compare_versions, VersionRef};
use crate::error::{Quoted, SyncError};
use crate::stamp::{ChangeStamp, OpKind};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::collections::{BTreeMap, HashMap, HashSet};
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
    fn same_version(&self, other: &RecordMeta) -> bool {
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

/// Indexes a set of metas by key, rejecting duplicates: two versions of one key in a "current
/// state" mean the caller's data is corrupt, and any plan built from it would be a guess.
fn index_unique<'a>(
    metas: &'a [RecordMeta],
    side: &str,
) -> Result<HashMap<&'a RecordKey, &'a RecordMeta>, SyncError> {
    let mut index = HashMap::with_capacity(metas.len());
    for meta in metas {
        if index.insert(&meta.key, meta).is_some() {
            return Err(SyncError::invalid_argument(format!("duplicate key {} in the {side} set", meta.key)));
        }
    }
    Ok(index)
}

/// Compares the local set with the server's full current set and lists what to change locally.
///
/// `remote` is the server's whole current state: live records and the tombstones it still
/// keeps; a key absent from it was deleted and its tombstone purged. `pending` holds the keys
/// with an unpushed local op; they go to `kept_for_rebase` and nowhere else. See the module
/// documentation for the rule on each combination.
///
/// # Errors
///
/// [`ErrorCode::InvalidArgument`](crate::error::ErrorCode::InvalidArgument) when `local` or
/// `remote` holds the same key twice; the message names the key.
pub fn compute_plan(
    local: &[RecordMeta],
    remote: &[RecordMeta],
    pending: &HashSet<RecordKey>,
) -> Result<ReconcilePlan, SyncError> {
    reconcile(local, remote, pending, None)
}

/// [`compute_plan`], and with `republish` the reset rule of [`crate::reset`]: a local version
/// the server lacks or holds an older version of goes to `republish` (in key order) and is
/// left alone locally. One walk for both, so the browser build carries one copy of it.
pub(crate) fn reconcile(
    local: &[RecordMeta],
    remote: &[RecordMeta],
    pending: &HashSet<RecordKey>,
    mut republish: Option<&mut Vec<RecordMeta>>,
) -> Result<ReconcilePlan, SyncError> {
    let local_index = index_unique(local, "local")?;
    let remote_index = index_unique(remote, "remote")?;
    // Sorted as references, like the keys below, and by the standard library's heap sort: in
    // the browser build its code is a small fraction of the slice sorts' (whose quicksort
    // alone was 2.7 KB), and the plan's sort is never the cost of a rescan.
    let kept_for_rebase = in_key_order(pending.iter());
    let kept_for_rebase: Vec<RecordKey> = kept_for_rebase.into_iter().cloned().collect();
    let mut plan = ReconcilePlan { kept_for_rebase, ..ReconcilePlan::default() };
    let (local, remote) = (local_index, remote_index);

    // Walking the union in key order keeps every list sorted. Hash maps and one sort rather
    // than ordered trees: the trees' code was about 12 KB of the browser build.
    let mut keys = in_key_order(local.keys().chain(remote.keys()).copied());
    keys.dedup();
    for key in keys {
        if pending.contains(key) {
            continue;
        }
        if let (Some(out), Some(local_meta)) = (republish.as_deref_mut(), local.get(key).copied()) {
            let server_lost_it = remote.get(key).is_none_or(|remote_meta| {
                compare_versions(local_meta.version(), remote_meta.version()) == Ordering::Greater
            });
            if server_lost_it {
                out.push(local_meta.clone());
                continue;
            }
        }
        match (local.get(key).copied(), remote.get(key).copied()) {
            (None, None) => {}
            (local_meta, Some(remote_meta)) if !remote_meta.deleted => match local_meta {
                Some(local_meta) if !local_meta.deleted => {
                    if !local_meta.same_version(remote_meta) {
                        plan.updates.push(remote_meta.clone());
                    }
                }
                // Absent or a tombstone: the server's live record wins regardless of the
                // tombstone's stamp (see the module docs).
                _ => plan.creations.push(remote_meta.clone()),
            },
            (Some(local_meta), Some(remote_tombstone)) => {
                if !local_meta.deleted {
                    plan.deletions.push(remote_tombstone.clone());
                } else if !local_meta.same_version(remote_tombstone) {
                    plan.updates.push(remote_tombstone.clone());
                }
            }
            // Remote tombstone for a key the device does not hold: nothing to undo.
            (None, Some(_)) => {}
            (Some(local_meta), None) => {
                if !local_meta.deleted {
                    plan.deletions.push(local_meta.clone());
                }
            }
        }
    }
    Ok(plan)
}

/// Record keys in key order.
fn in_key_order<'a>(keys: impl Iterator<Item = &'a RecordKey>) -> Vec<&'a RecordKey> {
    BinaryHeap::from_iter(keys).into_sorted_vec()
}

/// The local set after applying `plan`, sorted by key.
///
/// Creations and updates store the given meta (inserting or replacing); a deletion stores its
/// meta when it is a tombstone and removes the key when it is live (deletion by absence).
/// `kept_for_rebase` changes nothing. Entries are applied creations, then updates, then
/// deletions, which only matters for hand-made plans naming a key twice.
///
/// Never fails: if `local` holds a key twice (which [`compute_plan`] rejects), the version that
/// wins under the conflict rule is kept, so the result does not depend on input order.
pub fn apply_plan(local: &[RecordMeta], plan: &ReconcilePlan) -> Vec<RecordMeta> {
    let mut state: BTreeMap<RecordKey, RecordMeta> = BTreeMap::new();
    for meta in local {
        match state.get(&meta.key) {
            Some(kept) if compare_versions(meta.version(), kept.version()) != Ordering::Greater => {}
            _ => {
                state.insert(meta.key.clone(), meta.clone());
            }
        }
    }
    for meta in plan.creations.iter().chain(&plan.updates) {
        state.insert(meta.key.clone(), meta.clone());
    }
    for meta in &plan.deletions {
        if meta.deleted {
            state.insert(meta.key.clone(), meta.clone());
        } else {
            state.remove(&meta.key);
        }
    }
    state.into_values().collect()
}

/// Whether the plan for these sets is idempotent: compute it, apply it, recompute against the
/// same remote set and pending keys, and report whether the second plan is empty (keys kept for
/// rebase may remain; they are not work).
///
/// # Errors
///
/// The same as [`compute_plan`].
pub fn check_idempotent(
    local: &[RecordMeta],
    remote: &[RecordMeta],
    pending: &HashSet<RecordKey>,
) -> Result<bool, SyncError> {
    let plan = compute_plan(local, remote, pending)?;
    let after = apply_plan(local, &plan);
    Ok(compute_plan(&after, remote, pending)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn key(table: &str, pk: &str) -> RecordKey {
        RecordKey::new(table, pk)
    }

    fn stamp(clock: u64, device: &str) -> ChangeStamp {
        ChangeStamp {
            clock,
            hlc: format!("{clock:016}-{device}"),
            device_id: device.into(),
            op_id: format!("{device}{clock}"),
        }
    }

    fn live(table: &str, pk: &str, clock: u64) -> RecordMeta {
        RecordMeta { key: key(table, pk), stamp: stamp(clock, "S"), deleted: false }
    }

    fn tomb(table: &str, pk: &str, clock: u64) -> RecordMeta {
        RecordMeta { key: key(table, pk), stamp: stamp(clock, "S"), deleted: true }
    }

    fn no_pending() -> HashSet<RecordKey> {
        HashSet::new()
    }

    fn sorted(keys: &HashSet<RecordKey>) -> Vec<RecordKey> {
        let mut keys: Vec<RecordKey> = keys.iter().cloned().collect();
        keys.sort();
        keys
    }

    fn plan(local: &[RecordMeta], remote: &[RecordMeta], pending: &HashSet<RecordKey>) -> ReconcilePlan {
        compute_plan(local, remote, pending).expect("valid input")
    }

    #[test]
    fn matching_states_give_an_empty_plan() {
        let set = vec![live("todos", "1", 3), tomb("todos", "2", 4), live("notes", "a", 1)];
        let p = plan(&set, &set, &no_pending());
        assert!(p.is_empty());
        assert_eq!(p.len(), 0);
        assert_eq!(p, ReconcilePlan::default());
        assert!(plan(&[], &[], &no_pending()).is_empty());
    }

    #[test]
    fn remote_live_record_missing_locally_is_created() {
        let remote = vec![live("todos", "1", 2)];
        let p = plan(&[], &remote, &no_pending());
        assert_eq!(p.creations, remote);
        assert!(p.updates.is_empty() && p.deletions.is_empty());
    }

    #[test]
    fn remote_live_record_over_a_local_tombstone_is_created_even_if_the_tombstone_is_newer() {
        // The local tombstone would win the conflict rule, but with no pending op the server
        // already settled it: its live record is the truth.
        let local = vec![tomb("todos", "1", 9)];
        let remote = vec![live("todos", "1", 2)];
        let p = plan(&local, &remote, &no_pending());
        assert_eq!(p.creations, remote);
        assert!(p.updates.is_empty() && p.deletions.is_empty());
    }

    #[test]
    fn different_live_version_is_updated_whichever_is_newer() {
        for local_clock in [1, 5] {
            let local = vec![live("todos", "1", local_clock)];
            let remote = vec![live("todos", "1", 3)];
            let p = plan(&local, &remote, &no_pending());
            assert_eq!(p.updates, remote);
            assert!(p.creations.is_empty() && p.deletions.is_empty());
        }
        // Same clock, different writer: still a different version.
        let local = vec![RecordMeta { stamp: stamp(3, "X"), ..live("todos", "1", 3) }];
        let remote = vec![live("todos", "1", 3)];
        assert_eq!(plan(&local, &remote, &no_pending()).updates, remote);
    }

    #[test]
    fn live_record_absent_from_remote_is_deleted_without_a_tombstone() {
        let local = vec![live("todos", "1", 2), live("todos", "2", 1)];
        let remote = vec![live("todos", "2", 1)];
        let p = plan(&local, &remote, &no_pending());
        assert_eq!(p.deletions, vec![live("todos", "1", 2)]);
        assert!(p.creations.is_empty() && p.updates.is_empty());
        assert_eq!(apply_plan(&local, &p), remote);
    }

    #[test]
    fn live_record_with_a_remote_tombstone_is_deleted_and_the_tombstone_stored() {
        let local = vec![live("todos", "1", 2)];
        let remote = vec![tomb("todos", "1", 3)];
        let p = plan(&local, &remote, &no_pending());
        assert_eq!(p.deletions, remote);
        assert!(p.creations.is_empty() && p.updates.is_empty());
        assert_eq!(apply_plan(&local, &p), remote);
    }

    #[test]
    fn tombstone_cases() {
        // Local tombstone, remote absent: kept, nothing to do.
        assert!(plan(&[tomb("t", "1", 2)], &[], &no_pending()).is_empty());
        // Remote tombstone, local absent: not imported.
        assert!(plan(&[], &[tomb("t", "1", 2)], &no_pending()).is_empty());
        // Same tombstone on both sides: nothing.
        assert!(plan(&[tomb("t", "1", 2)], &[tomb("t", "1", 2)], &no_pending()).is_empty());
        // Different tombstones: the remote one replaces the local one.
        let p = plan(&[tomb("t", "1", 2)], &[tomb("t", "1", 4)], &no_pending());
        assert_eq!(p.updates, vec![tomb("t", "1", 4)]);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn pending_keys_are_kept_and_never_touched() {
        let local = vec![live("t", "del-by-absence", 1), live("t", "del-by-tomb", 1), live("t", "upd", 1)];
        let remote = vec![tomb("t", "del-by-tomb", 2), live("t", "upd", 2), live("t", "new", 1)];
        let pending: HashSet<RecordKey> =
            ["del-by-absence", "del-by-tomb", "upd", "new"].iter().map(|pk| key("t", pk)).collect();
        let p = plan(&local, &remote, &pending);
        assert!(p.is_empty());
        assert_eq!(p.kept_for_rebase, sorted(&pending), "every pending key, in key order");
        assert_eq!(p.summary().kept_for_rebase, 4);
        // Applying leaves the local versions of pending keys as they were.
        let mut sorted_local = local.clone();
        sorted_local.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(apply_plan(&local, &p), sorted_local);
    }

    #[test]
    fn complex_scenario_lists_exactly_the_expected_changes() {
        let local = vec![
            live("todos", "same", 1),
            live("todos", "stale", 1),
            live("todos", "gone", 2),
            live("todos", "tombed", 2),
            tomb("todos", "revived", 5),
            tomb("todos", "old-tomb", 1),
            tomb("todos", "local-tomb-only", 1),
            live("todos", "mine", 1),
            live("notes", "gone-too", 1),
        ];
        let remote = vec![
            live("todos", "same", 1),
            live("todos", "stale", 3),
            tomb("todos", "tombed", 3),
            live("todos", "revived", 6),
            tomb("todos", "old-tomb", 2),
            tomb("todos", "remote-tomb-only", 1),
            tomb("todos", "mine", 9),
            live("todos", "fresh", 1),
            live("notes", "fresh", 2),
        ];
        let pending: HashSet<RecordKey> = [key("todos", "mine")].into();
        let p = plan(&local, &remote, &pending);
        assert_eq!(
            p.creations,
            vec![live("notes", "fresh", 2), live("todos", "fresh", 1), live("todos", "revived", 6)]
        );
        assert_eq!(p.updates, vec![tomb("todos", "old-tomb", 2), live("todos", "stale", 3)]);
        assert_eq!(
            p.deletions,
            vec![live("notes", "gone-too", 1), live("todos", "gone", 2), tomb("todos", "tombed", 3)]
        );
        assert_eq!(p.kept_for_rebase, vec![key("todos", "mine")]);
        assert_eq!(p.len(), 8);
        assert_eq!(p.summary(), PlanSummary { creations: 3, updates: 2, deletions: 3, kept_for_rebase: 1 });

        let after = apply_plan(&local, &p);
        assert_eq!(
            after,
            vec![
                live("notes", "fresh", 2),
                live("todos", "fresh", 1),
                tomb("todos", "local-tomb-only", 1),
                live("todos", "mine", 1),
                tomb("todos", "old-tomb", 2),
                live("todos", "revived", 6),
                live("todos", "same", 1),
                live("todos", "stale", 3),
                tomb("todos", "tombed", 3),
            ]
        );
        let again = plan(&after, &remote, &pending);
        assert!(again.is_empty());
        assert_eq!(again.kept_for_rebase, vec![key("todos", "mine")]);
        assert!(check_idempotent(&local, &remote, &pending).unwrap());
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let dup = [live("todos", "1", 1), tomb("todos", "1", 2)];
        for (local, remote, side) in [(&dup[..], &[][..], "local"), (&[][..], &dup[..], "remote")] {
            let err = compute_plan(local, remote, &no_pending()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument);
            assert!(err.message.contains("\"todos\"/\"1\""), "message names the key: {}", err.message);
            assert!(err.message.contains(side), "message names the side: {}", err.message);
            assert_eq!(
                check_idempotent(local, remote, &no_pending()).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
        // Same pk in different tables is not a duplicate.
        assert!(compute_plan(&[live("a", "1", 1), live("b", "1", 1)], &[], &no_pending()).is_ok());
    }

    #[test]
    fn apply_then_recompute_is_empty() {
        let local = vec![live("t", "1", 1), tomb("t", "2", 1), live("t", "3", 1)];
        let remote = vec![live("t", "1", 2), live("t", "2", 2), tomb("t", "3", 2), live("t", "4", 1)];
        let p = plan(&local, &remote, &no_pending());
        assert_eq!(p.len(), 4);
        let after = apply_plan(&local, &p);
        assert!(plan(&after, &remote, &no_pending()).is_empty());
        assert!(check_idempotent(&local, &remote, &no_pending()).unwrap());
    }

    #[test]
    fn applying_twice_gives_the_same_set() {
        let local = vec![live("t", "1", 1), live("t", "gone", 1), tomb("t", "2", 1)];
        let remote = vec![live("t", "1", 2), tomb("t", "2", 3), live("t", "new", 1)];
        let p = plan(&local, &remote, &no_pending());
        let once = apply_plan(&local, &p);
        let twice = apply_plan(&once, &p);
        assert_eq!(once, twice);
    }

    #[test]
    fn repeated_runs_are_stable() {
        let local = vec![live("t", "b", 1), live("t", "a", 1), tomb("u", "c", 1)];
        let remote = vec![live("u", "c", 2), live("t", "b", 2), live("t", "z", 1)];
        let pending: HashSet<RecordKey> = [key("t", "a")].into();
        let first = plan(&local, &remote, &pending);
        for _ in 0..5 {
            assert_eq!(plan(&local, &remote, &pending), first);
        }
        // Input order does not matter either.
        let mut reversed_local = local.clone();
        reversed_local.reverse();
        let mut reversed_remote = remote.clone();
        reversed_remote.reverse();
        assert_eq!(plan(&reversed_local, &reversed_remote, &pending), first);
        // A converged set stays converged over many rounds.
        let mut state = local.clone();
        for _ in 0..3 {
            state = apply_plan(&state, &plan(&state, &remote, &pending));
        }
        assert_eq!(state, apply_plan(&local, &first));
    }

    #[test]
    fn apply_plan_collapses_duplicate_local_keys_by_the_conflict_rule() {
        let newer = live("t", "1", 5);
        let older = live("t", "1", 2);
        let empty = ReconcilePlan::default();
        assert_eq!(apply_plan(&[older.clone(), newer.clone()], &empty), vec![newer.clone()]);
        assert_eq!(apply_plan(&[newer.clone(), older], &empty), vec![newer]);
    }

    #[test]
    fn plan_serializes_in_camel_case() {
        let p = ReconcilePlan { kept_for_rebase: vec![key("t", "1")], ..ReconcilePlan::default() };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "creations": [], "updates": [], "deletions": [],
                "keptForRebase": [{"table": "t", "pk": "1"}]
            })
        );
        let summary = serde_json::to_value(p.summary()).unwrap();
        assert_eq!(
            summary,
            serde_json::json!({"creations": 0, "updates": 0, "deletions": 0, "keptForRebase": 1})
        );
        let meta = serde_json::to_value(tomb("t", "1", 2)).unwrap();
        assert_eq!(meta["deleted"], serde_json::json!(true));
        assert_eq!(meta["stamp"]["deviceId"], serde_json::json!("S"));
        let back: ReconcilePlan = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }

    // Small key, stamp and device spaces so that random local and remote sets collide often
    // (same key, same clock, identical versions).
    fn key_strategy() -> impl Strategy<Value = RecordKey> {
        (prop::sample::select(vec!["a", "b"]), 0u8..5).prop_map(|(table, pk)| key(table, &pk.to_string()))
    }

    fn version_strategy() -> impl Strategy<Value = (ChangeStamp, bool)> {
        (0u64..4, prop::sample::select(vec!["A", "B"]), any::<bool>())
            .prop_map(|(clock, device, deleted)| (stamp(clock, device), deleted))
    }

    fn set_strategy() -> impl Strategy<Value = BTreeMap<RecordKey, (ChangeStamp, bool)>> {
        prop::collection::btree_map(key_strategy(), version_strategy(), 0..10)
    }

    fn to_metas(set: &BTreeMap<RecordKey, (ChangeStamp, bool)>) -> Vec<RecordMeta> {
        set.iter()
            .map(|(key, (stamp, deleted))| RecordMeta {
                key: key.clone(),
                stamp: stamp.clone(),
                deleted: *deleted,
            })
            .collect()
    }

    /// Local set, remote set (sharing some versions with local), pending keys.
    fn scenario() -> impl Strategy<Value = (Vec<RecordMeta>, Vec<RecordMeta>, HashSet<RecordKey>)> {
        let shared = prop::collection::btree_set(key_strategy(), 0..6);
        let pending = prop::collection::btree_set(key_strategy(), 0..4);
        (set_strategy(), set_strategy(), shared, pending, any::<bool>()).prop_map(
            |(local, mut remote, shared, pending, reverse)| {
                // Copy some local versions to the remote so that "already in sync" is common.
                for key in &shared {
                    if let Some(version) = local.get(key) {
                        remote.insert(key.clone(), version.clone());
                    }
                }
                // Input order must not matter.
                let mut local = to_metas(&local);
                if reverse {
                    local.reverse();
                }
                (local, to_metas(&remote), pending.into_iter().collect())
            },
        )
    }

    fn live_versions<'a>(
        metas: &'a [RecordMeta],
        pending: &HashSet<RecordKey>,
    ) -> BTreeMap<&'a RecordKey, &'a ChangeStamp> {
        metas.iter().filter(|m| !m.deleted && !pending.contains(&m.key)).map(|m| (&m.key, &m.stamp)).collect()
    }

    proptest! {
        #[test]
        fn prop_plans_are_idempotent((local, remote, pending) in scenario()) {
            prop_assert!(check_idempotent(&local, &remote, &pending).unwrap());
            // And applying the same plan twice changes nothing more.
            let p = compute_plan(&local, &remote, &pending).unwrap();
            let once = apply_plan(&local, &p);
            prop_assert_eq!(apply_plan(&once, &p), once);
        }

        #[test]
        fn prop_pending_keys_are_only_kept((local, remote, pending) in scenario()) {
            let p = compute_plan(&local, &remote, &pending).unwrap();
            for meta in p.creations.iter().chain(&p.updates).chain(&p.deletions) {
                prop_assert!(!pending.contains(&meta.key), "pending key {} in the plan", meta.key);
            }
            prop_assert_eq!(&p.kept_for_rebase, &sorted(&pending));
            // Each list is sorted and no key appears twice across the lists.
            let mut keys: Vec<&RecordKey> =
                p.creations.iter().chain(&p.updates).chain(&p.deletions).map(|m| &m.key).collect();
            for list in [&p.creations, &p.updates, &p.deletions] {
                prop_assert!(list.windows(2).all(|w| w[0].key < w[1].key));
            }
            let total = keys.len();
            keys.sort();
            keys.dedup();
            prop_assert_eq!(keys.len(), total);
            // Pending keys keep their local version after applying.
            let after = apply_plan(&local, &p);
            let before_pending: HashSet<&RecordMeta> = local.iter().filter(|m| pending.contains(&m.key)).collect();
            let after_pending: HashSet<&RecordMeta> = after.iter().filter(|m| pending.contains(&m.key)).collect();
            prop_assert_eq!(before_pending, after_pending);
        }

        #[test]
        fn prop_live_sets_match_the_remote_after_applying((local, remote, pending) in scenario()) {
            let p = compute_plan(&local, &remote, &pending).unwrap();
            let after = apply_plan(&local, &p);
            prop_assert_eq!(live_versions(&after, &pending), live_versions(&remote, &pending));
        }
    }
}
