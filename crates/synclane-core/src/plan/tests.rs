//! The plan's rules case by case, its order, duplicates refused, and idempotency (also as a
//! property over random sets).

use super::*;
use crate::error::ErrorCode;
use crate::stamp::ChangeStamp;
use proptest::prelude::*;
use std::collections::BTreeMap;
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
