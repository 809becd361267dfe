//! What a device does when its server lost data: a database replaced by an empty one, a
//! restore from an older backup, an in-memory server that started again.
//!
//! A plain rescan ([`compute_plan`](crate::plan::compute_plan)) trusts the server: every local
//! version without a pending op was settled there, so whatever the server holds now (or no
//! longer holds) is the truth, and a record the server does not know was deleted and its
//! tombstone purged. After a reset that reasoning is false. The server forgot versions it once
//! acknowledged, and the devices are the only copies left. So a reset keeps what the server
//! lost instead of deleting it:
//!
//! - A local version the server does not hold, or that beats the server's under the conflict
//!   rule (an older backup), is **republished**: queued again with its own stamp, unchanged,
//!   so the server applies it like any push and every device converges on it. Tombstones are
//!   republished too, or a device that missed the delete would bring the record back. Pushes
//!   are idempotent by op id, so two devices republishing the same version store it once.
//! - Keys with a pending op are kept, as in every rescan; the op is pushed as it is.
//! - Every other key takes the server's version, as in a plain rescan: the server holds the
//!   same version or a later one that beat it.
//!
//! The cursor then restarts from the server's head ([`crate::cursor::CursorState::complete_reset`]).

use crate::error::SyncError;
use crate::plan::{reconcile, ReconcilePlan, RecordKey, RecordMeta};
use std::collections::HashSet;

/// A rescan after a server reset: the local changes to make, and the local versions to queue
/// again because the server lost them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetPlan {
    /// What changes locally: the plan of a plain rescan over every key that is not
    /// republished. Its `kept_for_rebase` holds the keys with pending ops.
    pub plan: ReconcilePlan,
    /// The local versions (live records and tombstones) to push again, sorted by key.
    pub republish: Vec<RecordMeta>,
}

/// Compares the local set with the full set of a server that was reset. Arguments as for
/// [`crate::plan::compute_plan`]; see the module docs for the rules.
///
/// # Errors
///
/// As [`crate::plan::compute_plan`]: a key twice in `local` or `remote`.
pub fn compute_reset_plan(
    local: &[RecordMeta],
    remote: &[RecordMeta],
    pending: &HashSet<RecordKey>,
) -> Result<ResetPlan, SyncError> {
    let mut republish = Vec::new();
    let plan = reconcile(local, remote, pending, Some(&mut republish))?;
    Ok(ResetPlan { plan, republish })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conflict::compare_versions;
    use crate::plan::{apply_plan, compute_plan};
    use crate::stamp::ChangeStamp;
    use proptest::prelude::*;
    use std::cmp::Ordering;
    use std::collections::HashMap;

    fn meta(pk: &str, clock: u64, device: &str, deleted: bool) -> RecordMeta {
        RecordMeta {
            key: RecordKey::new("notes", pk),
            stamp: ChangeStamp {
                clock,
                hlc: format!("{clock:016}-{device}"),
                device_id: device.into(),
                op_id: format!("{device}-{pk}-{clock}"),
            },
            deleted,
        }
    }

    #[test]
    fn an_empty_server_gets_every_local_version_back_and_nothing_is_deleted() {
        let local = vec![meta("a", 2, "me", false), meta("b", 1, "other", false), meta("c", 3, "me", true)];
        let reset = compute_reset_plan(&local, &[], &HashSet::new()).unwrap();
        assert_eq!(reset.republish, local, "live records and tombstones, whoever wrote them");
        assert!(reset.plan.is_empty(), "a plain rescan would have deleted a and b");
        assert!(!compute_plan(&local, &[], &HashSet::new()).unwrap().deletions.is_empty());
    }

    #[test]
    fn an_older_backup_takes_the_newer_local_versions_and_gives_the_newer_server_ones() {
        let local = vec![
            meta("newer-here", 5, "me", false),
            meta("same", 2, "me", false),
            meta("newer-there", 1, "me", false),
            meta("deleted-here", 4, "me", true),
        ];
        let remote = vec![
            meta("newer-here", 3, "me", false),
            meta("same", 2, "me", false),
            meta("newer-there", 7, "other", false),
            meta("deleted-here", 2, "other", false),
            meta("only-there", 1, "other", false),
        ];
        let reset = compute_reset_plan(&local, &remote, &HashSet::new()).unwrap();
        let keys: Vec<&str> = reset.republish.iter().map(|m| m.key.pk.as_str()).collect();
        assert_eq!(keys, ["deleted-here", "newer-here"]);
        let updated: Vec<&str> = reset.plan.updates.iter().map(|m| m.key.pk.as_str()).collect();
        assert_eq!(updated, ["newer-there"]);
        let created: Vec<&str> = reset.plan.creations.iter().map(|m| m.key.pk.as_str()).collect();
        assert_eq!(created, ["only-there"]);
        assert!(reset.plan.deletions.is_empty());
    }

    #[test]
    fn keys_with_pending_ops_are_kept_and_not_republished() {
        let local = vec![meta("a", 2, "me", false), meta("b", 1, "me", false)];
        let pending: HashSet<RecordKey> = [RecordKey::new("notes", "a")].into();
        let reset = compute_reset_plan(&local, &[], &pending).unwrap();
        assert_eq!(reset.republish, vec![meta("b", 1, "me", false)]);
        assert_eq!(reset.plan.kept_for_rebase, vec![RecordKey::new("notes", "a")]);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let twice = vec![meta("a", 1, "me", false), meta("a", 2, "me", false)];
        assert!(compute_reset_plan(&twice, &[], &HashSet::new()).is_err());
        assert!(compute_reset_plan(&[], &twice, &HashSet::new()).is_err());
    }

    fn arb_set() -> impl Strategy<Value = Vec<RecordMeta>> {
        proptest::collection::btree_map(0u8..12, (1u64..6, 0u8..3, any::<bool>()), 0..10).prop_map(|m| {
            m.into_iter()
                .map(|(pk, (clock, device, deleted))| {
                    meta(&pk.to_string(), clock, &format!("d{device}"), deleted)
                })
                .collect()
        })
    }

    proptest! {
        /// After the swap and once the republished versions reach the server, the server holds
        /// for every key the winner of the local and the server version: nothing either side
        /// had that should win is lost.
        #[test]
        fn after_republishing_every_key_holds_the_winner_of_both_sides(local in arb_set(), remote in arb_set()) {
            let reset = compute_reset_plan(&local, &remote, &HashSet::new()).unwrap();
            let mut server: HashMap<RecordKey, RecordMeta> = remote.iter().map(|m| (m.key.clone(), m.clone())).collect();
            for meta in &reset.republish {
                server.insert(meta.key.clone(), meta.clone());
            }
            for l in &local {
                let held = &server[&l.key];
                prop_assert!(compare_versions(held.version(), l.version()) != Ordering::Less, "the server lost {}", l.key);
            }
            // The device, after its swap, holds the server's version of every key it holds
            // that was not republished.
            let after = apply_plan(&local, &reset.plan);
            for meta in &after {
                if !reset.republish.iter().any(|r| r.key == meta.key) {
                    prop_assert_eq!(Some(meta), remote.iter().find(|r| r.key == meta.key));
                }
            }
        }
    }
}
