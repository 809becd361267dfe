//! The in-memory server: idempotent pushes, the conflict rule, paginated compacted pulls,
//! tombstone purges and the retention floor, device cursors, the epoch.

use super::*;
use crate::change::{PendingOp, PushStatus};
use crate::error::ErrorCode;
use crate::hlc::{ms_to_ntp64, HlcStamp};
use serde_json::{json, Value};

const NOW: u64 = 1_767_225_600_000;
const DAY: u64 = 86_400_000;

fn scope() -> SyncScope {
    SyncScope::new("ws1")
}

fn op(pk: &str, kind: OpKind, clock: u64, device: &str, op_id: &str) -> PendingOp<Value> {
    PendingOp {
        table_name: "notes".into(),
        pk: pk.into(),
        op: kind,
        payload: (kind == OpKind::Put).then(|| json!({"id": pk, "by": op_id})),
        stamp: ChangeStamp {
            clock,
            hlc: HlcStamp { time: ms_to_ntp64(NOW) + clock, id: 1 }.encode(),
            device_id: device.into(),
            op_id: op_id.into(),
        },
    }
}

fn push(server: &mut MemoryServer<Value>, ops: Vec<PendingOp<Value>>) -> PushResult<Value> {
    server.push(PushBatch { scope: scope(), device_id: "dev".into(), ops }, NOW).unwrap()
}

fn pull(server: &mut MemoryServer<Value>, cursor: u64, limit: u32) -> SyncResult<PullResponse<Value>> {
    server.pull(&PullRequest::new(scope(), cursor, limit), NOW)
}

#[test]
fn push_applies_and_is_idempotent_by_op_id() {
    let mut server = MemoryServer::new(ServerConfig::default());
    let first =
        push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
    assert_eq!(
        first.results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [PushStatus::Applied, PushStatus::Applied]
    );
    assert_eq!(first.server_version, 2);
    let again =
        push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
    assert_eq!(again.results[0].status, PushStatus::Duplicate);
    assert_eq!(again.results[0].server_version, Some(1));
    assert_eq!(again.results[0].current, None, "the record is still at this op");
    assert_eq!(again.server_version, 2, "a retried batch changes nothing");
}

#[test]
fn the_conflict_rule_decides_and_losers_are_superseded() {
    let mut server = MemoryServer::new(ServerConfig::default());
    push(&mut server, vec![op("a", OpKind::Put, 2, "A", "new")]);
    let late = push(&mut server, vec![op("a", OpKind::Put, 1, "B", "old")]);
    assert_eq!(late.results[0].status, PushStatus::Superseded);
    assert_eq!(late.results[0].current.as_ref().unwrap().stamp.op_id, "new", "the winner is reported");
    assert_eq!(server.get(&scope(), "notes", "a").unwrap().stamp.op_id, "new");
    let del = push(&mut server, vec![op("a", OpKind::Delete, 3, "B", "del")]);
    assert_eq!(del.results[0].status, PushStatus::Applied);
    let stored = server.get(&scope(), "notes", "a").unwrap();
    assert_eq!((stored.op, stored.payload.clone()), (OpKind::Delete, None));
    assert_eq!(server.stats(&scope()).tombstones, 1);
    let recreate = push(&mut server, vec![op("a", OpKind::Put, 4, "A", "re")]);
    assert_eq!(recreate.results[0].status, PushStatus::Applied);
    assert_eq!(server.live_records(&scope()).len(), 1);
}

#[test]
fn a_bad_op_rejects_the_whole_batch() {
    let mut server = MemoryServer::new(ServerConfig::default());
    let mut bad = op("b", OpKind::Put, 1, "A", "o2");
    bad.payload = Some(json!("not an object"));
    let err = server
        .push(
            PushBatch {
                scope: scope(),
                device_id: "dev".into(),
                ops: vec![op("a", OpKind::Put, 1, "A", "o1"), bad],
            },
            NOW,
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidPayload);
    assert_eq!(server.stats(&scope()), WorkspaceStats::default());
    let err = server
        .push(PushBatch { scope: SyncScope::new(""), device_id: "d".into(), ops: vec![] }, NOW)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}

#[test]
fn pull_is_paginated_ascending_and_compacted_per_record() {
    let mut server = MemoryServer::new(ServerConfig::default());
    for i in 0..5 {
        push(&mut server, vec![op(&format!("k{i}"), OpKind::Put, 1, "A", &format!("o{i}"))]);
    }
    // k0 rewritten: its old log entry (version 1) disappears, it reappears at version 6.
    push(&mut server, vec![op("k0", OpKind::Put, 2, "A", "o0b")]);
    let page1 = pull(&mut server, 0, 2).unwrap();
    assert_eq!(page1.changes.iter().map(|c| c.server_version).collect::<Vec<_>>(), [2, 3]);
    assert!(page1.has_more);
    assert_eq!(page1.next_cursor, 3);
    assert_eq!(page1.total, Some(5));
    let page2 = pull(&mut server, 3, 10).unwrap();
    assert_eq!(page2.changes.iter().map(|c| c.pk.as_str()).collect::<Vec<_>>(), ["k3", "k4", "k0"]);
    assert!(!page2.has_more);
    assert_eq!(page2.next_cursor, 6);
    let empty = pull(&mut server, 6, 10).unwrap();
    assert!(empty.changes.is_empty() && !empty.has_more && empty.next_cursor == 6);
    assert_eq!(pull(&mut server, 0, 0).unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(pull(&mut server, 99, 10).unwrap_err().code, ErrorCode::CursorExpired);
}

#[test]
fn table_filters_still_advance_the_cursor() {
    let mut server = MemoryServer::new(ServerConfig::default());
    let mut tag = op("t", OpKind::Put, 1, "A", "t1");
    tag.table_name = "tags".into();
    push(&mut server, vec![tag, op("n", OpKind::Put, 1, "A", "n1")]);
    let response = server
        .pull(&PullRequest { tables: Some(vec!["notes".into()]), ..PullRequest::new(scope(), 0, 10) }, NOW)
        .unwrap();
    assert_eq!(response.changes.len(), 1);
    assert_eq!(response.next_cursor, 2);
}

#[test]
fn tombstones_are_purged_only_when_old_and_pulled_by_every_active_device() {
    let config =
        ServerConfig { tombstone_retention_ms: DAY, device_ttl_ms: 10 * DAY, ..ServerConfig::default() };
    let mut server = MemoryServer::new(config);
    push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
    push(&mut server, vec![op("a", OpKind::Delete, 2, "A", "o3")]);
    server.update_cursor(&scope(), "fast", 3, NOW).unwrap();
    server.update_cursor(&scope(), "slow", 1, NOW).unwrap();
    assert_eq!(server.collect_garbage(NOW + 2 * DAY), 0, "slow device has not pulled the delete");
    server.update_cursor(&scope(), "slow", 3, NOW + 2 * DAY).unwrap();
    assert_eq!(server.collect_garbage(NOW + 2 * DAY), 1);
    assert_eq!(server.stats(&scope()).floor, 3);
    assert!(server.get(&scope(), "notes", "a").is_none());
    // A device that stopped at cursor 2 would miss the delete: expired. So would a device
    // that holds data from cursor 0; only a snapshot (a client holding nothing) is served.
    assert_eq!(pull(&mut server, 2, 10).unwrap_err().code, ErrorCode::CursorExpired);
    assert_eq!(pull(&mut server, 0, 10).unwrap_err().code, ErrorCode::CursorExpired);
    let full = server.pull(&PullRequest { snapshot: true, ..PullRequest::new(scope(), 0, 10) }, NOW).unwrap();
    assert_eq!(full.changes.len(), 1);
    assert!(pull(&mut server, 3, 10).is_ok());
    // A full pull that began after the purge pages through cursors below the floor.
    let first = server.pull(&PullRequest { snapshot: true, ..PullRequest::new(scope(), 0, 1) }, NOW).unwrap();
    assert_eq!(first.retention_floor, 3);
    let next = PullRequest {
        snapshot: true,
        retention_floor: Some(first.retention_floor),
        ..PullRequest::new(scope(), first.next_cursor, 1)
    };
    assert!(server.pull(&next, NOW).is_ok());
    // But if the floor rises during the sequence, its later pages expire.
    push(&mut server, vec![op("b", OpKind::Delete, 2, "A", "o4")]);
    server.update_cursor(&scope(), "fast", 4, NOW + 2 * DAY).unwrap();
    server.update_cursor(&scope(), "slow", 4, NOW + 2 * DAY).unwrap();
    assert_eq!(server.collect_garbage(NOW + 4 * DAY), 1);
    assert_eq!(server.pull(&next, NOW).unwrap_err().code, ErrorCode::CursorExpired);
    // A write made before the delete, arriving after the purge, does not resurrect it...
    let late = push(&mut server, vec![op("a", OpKind::Put, 1, "B", "late")]);
    assert_eq!(late.results[0].status, PushStatus::Superseded);
    let winner = late.results[0].current.as_ref().unwrap();
    assert_eq!((winner.op, winner.stamp.op_id.as_str()), (OpKind::Delete, "o3"));
    assert!(server.get(&scope(), "notes", "a").is_none());
    // ...while a write that saw the delete (higher clock) re-creates the record.
    let again = push(&mut server, vec![op("a", OpKind::Put, 3, "B", "again")]);
    assert_eq!(again.results[0].status, PushStatus::Applied);
}

#[test]
fn inactive_devices_do_not_hold_back_gc_forever() {
    let config =
        ServerConfig { tombstone_retention_ms: DAY, device_ttl_ms: 3 * DAY, ..ServerConfig::default() };
    let mut server = MemoryServer::new(config);
    push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1")]);
    push(&mut server, vec![op("a", OpKind::Delete, 2, "A", "o2")]);
    server.update_cursor(&scope(), "gone", 0, NOW).unwrap();
    server.update_cursor(&scope(), "here", 2, NOW + 4 * DAY).unwrap();
    assert_eq!(server.collect_garbage(NOW + 4 * DAY), 1);
}

#[test]
fn device_cursors_are_monotonic_and_bounded_by_the_head() {
    let mut server = MemoryServer::new(ServerConfig::default());
    push(&mut server, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
    server.update_cursor(&scope(), "d", 2, NOW).unwrap();
    server.update_cursor(&scope(), "d", 1, NOW).unwrap();
    assert_eq!(server.device_cursor(&scope(), "d"), Some(2));
    // Ahead of the head: the server lost versions the device pulled, so it must reconcile.
    assert_eq!(server.update_cursor(&scope(), "d", 3, NOW).unwrap_err().code, ErrorCode::CursorExpired);
    assert_eq!(server.update_cursor(&scope(), "", 1, NOW).unwrap_err().code, ErrorCode::InvalidArgument);
}

#[test]
fn every_page_names_the_servers_epoch() {
    let mut plain = MemoryServer::new(ServerConfig::default());
    push(&mut plain, vec![op("a", OpKind::Put, 1, "A", "o1")]);
    assert_eq!(pull(&mut plain, 0, 10).unwrap().epoch, None);
    let mut named = MemoryServer::new(ServerConfig::default()).with_epoch("e1");
    push(&mut named, vec![op("a", OpKind::Put, 1, "A", "o1"), op("b", OpKind::Put, 1, "A", "o2")]);
    assert_eq!(pull(&mut named, 0, 1).unwrap().epoch.as_deref(), Some("e1"));
    assert_eq!(pull(&mut named, 1, 1).unwrap().epoch.as_deref(), Some("e1"));
}
