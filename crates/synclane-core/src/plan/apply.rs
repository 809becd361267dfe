//! Applying a plan to a local set, and the check that a plan applied and recomputed is empty.

use super::compute::compute_plan;
use super::model::{ReconcilePlan, RecordKey, RecordMeta};
use crate::conflict::compare_versions;
use crate::error::SyncError;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

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
