//! Computing the plan: the local set against the server's full set, key by key in key order
//! (the rules are in the module documentation of `plan`).

use super::model::{ReconcilePlan, RecordKey, RecordMeta};
use crate::conflict::compare_versions;
use crate::error::SyncError;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

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
