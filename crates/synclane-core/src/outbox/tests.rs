//! The outbox's rules and its in-memory form.

use super::*;
use crate::change::PendingOp;
use crate::error::{ErrorCode, SyncError};
use crate::stamp::{ChangeStamp, OpKind};
use serde_json::{json, Value};

#[test]
fn state_wire_names_are_the_serde_names_and_parse_back() {
    for state in OpState::ALL {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        assert_eq!(OpState::parse(state.as_str()), Some(state));
    }
    assert_eq!(OpState::parse("in_flight"), None);
}

fn op(pk: &str, kind: OpKind, op_id: &str, clock: u64) -> PendingOp<Value> {
    PendingOp {
        table_name: "notes".into(),
        pk: pk.into(),
        op: kind,
        payload: (kind == OpKind::Put).then(|| json!({"id": pk, "body": op_id})),
        stamp: ChangeStamp {
            clock,
            hlc: format!("{clock:016x}-0000000000000001"),
            device_id: "d".into(),
            op_id: op_id.into(),
        },
    }
}

fn outbox() -> Outbox<Value> {
    Outbox::new(OutboxConfig::default()).unwrap()
}

fn transient() -> PushOutcome {
    PushOutcome::Failed(SyncError::new(ErrorCode::Network, "offline"))
}

#[test]
fn coalescing_keeps_only_the_last_op_of_a_waiting_record() {
    for (first, second) in
        [(OpKind::Put, OpKind::Put), (OpKind::Put, OpKind::Delete), (OpKind::Delete, OpKind::Put)]
    {
        let mut ob = outbox();
        ob.capture(op("a", first, "1", 1), 0);
        ob.capture(op("b", OpKind::Put, "b1", 1), 0);
        let outcome = ob.capture(op("a", second, "2", 2), 0);
        assert_eq!(outcome.replaced_op_id.as_deref(), Some("1"));
        assert_eq!(ob.len(), 2);
        let batch = ob.take_batch(0);
        // The coalesced entry kept its place in front of "b".
        assert_eq!(batch.iter().map(|o| o.stamp.op_id.as_str()).collect::<Vec<_>>(), ["2", "b1"]);
        assert_eq!(batch[0].op, second);
    }
}

#[test]
fn an_op_in_flight_is_not_changed_and_the_new_write_waits_behind_it() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    let batch = ob.take_batch(0);
    assert_eq!(batch.len(), 1);
    let outcome = ob.capture(op("a", OpKind::Put, "2", 2), 0);
    assert_eq!(outcome.replaced_op_id, None);
    assert_eq!(ob.get("1").unwrap().state, OpState::InFlight);
    assert_eq!(ob.get("1").unwrap().op.payload, Some(json!({"id": "a", "body": "1"})));
    // The second write is not pushed while the first is in the air.
    assert!(ob.take_batch(0).is_empty());
    ob.settle("1", &PushOutcome::Acknowledged, 1, 0.5);
    assert_eq!(ob.take_batch(1).iter().map(|o| o.stamp.op_id.clone()).collect::<Vec<_>>(), ["2"]);
}

#[test]
fn a_third_write_coalesces_with_the_queued_one_not_the_in_flight_one() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    ob.take_batch(0);
    ob.capture(op("a", OpKind::Put, "2", 2), 0);
    let outcome = ob.capture(op("a", OpKind::Delete, "3", 3), 0);
    assert_eq!(outcome.replaced_op_id.as_deref(), Some("2"));
    assert_eq!(ob.len(), 2);
}

#[test]
fn batches_respect_count_and_bytes_but_never_stall_on_a_big_op() {
    let mut ob: Outbox<Value> =
        Outbox::new(OutboxConfig { max_batch_ops: 3, max_batch_bytes: 300, ..OutboxConfig::default() })
            .unwrap();
    for i in 0..5 {
        ob.capture(op(&format!("k{i}"), OpKind::Put, &format!("o{i}"), 1), 0);
    }
    assert_eq!(ob.take_batch(0).len(), 3, "count limit");
    let mut big = op("big", OpKind::Put, "big", 1);
    big.payload = Some(json!({"id": "big", "blob": "x".repeat(1000)}));
    let mut ob2: Outbox<Value> =
        Outbox::new(OutboxConfig { max_batch_ops: 10, max_batch_bytes: 300, ..OutboxConfig::default() })
            .unwrap();
    ob2.capture(big, 0);
    ob2.capture(op("small", OpKind::Put, "s", 1), 0);
    let first = ob2.take_batch(0);
    assert_eq!(first.len(), 1, "an oversized op goes alone");
    assert_eq!(first[0].stamp.op_id, "big");
    let mut ob3: Outbox<Value> =
        Outbox::new(OutboxConfig { max_batch_ops: 10, max_batch_bytes: 300, ..OutboxConfig::default() })
            .unwrap();
    for i in 0..6 {
        ob3.capture(op(&format!("k{i}"), OpKind::Put, &format!("o{i}"), 1), 0);
    }
    let per_op = ob3.get("o0").unwrap().byte_size as usize;
    assert_eq!(ob3.take_batch(0).len(), 300 / per_op, "byte limit");
}

#[test]
fn retry_schedule_with_jitter() {
    let policy = RetryPolicy::default();
    let nominal: Vec<u64> = (1..=6).map(|n| policy.delay_ms(n, 0.5)).collect();
    assert_eq!(nominal, [250, 1000, 3000, 5000, 5000, 5000]);
    assert_eq!(policy.delay_ms(2, 0.0), 800);
    assert_eq!(policy.delay_ms(2, 1.0), 1200);
    assert_eq!(policy.delay_ms(2, f64::NAN), 1000);
    assert_eq!(policy.delay_ms(0, 0.5), 250);
    assert!(RetryPolicy { schedule_ms: vec![], ..RetryPolicy::default() }.validate().is_err());
    assert!(RetryPolicy { jitter: 1.5, ..RetryPolicy::default() }.validate().is_err());
    assert!(RetryPolicy { max_attempts: 0, ..RetryPolicy::default() }.validate().is_err());
}

#[test]
fn transient_errors_back_off_then_fail_after_max_attempts() {
    let mut ob: Outbox<Value> = Outbox::new(OutboxConfig {
        retry: RetryPolicy { max_attempts: 4, ..RetryPolicy::default() },
        ..OutboxConfig::default()
    })
    .unwrap();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    let mut now = 0;
    let mut delays = vec![];
    for _ in 0..3 {
        assert_eq!(ob.take_batch(now).len(), 1);
        ob.settle("1", &transient(), now, 0.5);
        let (state, due) = {
            let e = ob.get("1").unwrap();
            (e.state, e.next_attempt_at_ms)
        };
        assert_eq!(state, OpState::Pending);
        delays.push(due - now);
        assert!(ob.take_batch(due - 1).is_empty(), "not due yet");
        now = due;
    }
    assert_eq!(delays, [250, 1000, 3000]);
    ob.take_batch(now);
    ob.settle("1", &transient(), now, 0.5);
    let entry = ob.get("1").unwrap();
    assert_eq!(entry.state, OpState::Failed);
    assert_eq!(entry.attempts, 4);
    assert_eq!(entry.last_error.as_ref().unwrap().code, ErrorCode::Network);
    assert!(ob.take_batch(u64::MAX).is_empty(), "failed ops are not pushed");
    assert_eq!(ob.counts().failed, 1);
}

#[test]
fn permanent_errors_fail_at_once_and_the_app_can_retry_or_discard() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    ob.capture(op("b", OpKind::Put, "2", 1), 0);
    ob.take_batch(0);
    ob.settle("1", &PushOutcome::Failed(SyncError::new(ErrorCode::Rejected, "schema")), 0, 0.5);
    ob.settle("2", &PushOutcome::Failed(SyncError::new(ErrorCode::Unauthorized, "expired")), 0, 0.5);
    assert_eq!(ob.get("1").unwrap().state, OpState::Failed);
    assert_eq!(ob.get("1").unwrap().attempts, 1);
    assert_eq!(ob.get("2").unwrap().state, OpState::Failed);
    ob.retry("1", 10).unwrap();
    assert_eq!(ob.get("1").unwrap().state, OpState::Pending);
    assert_eq!(ob.take_batch(10).len(), 1);
    let dropped = ob.discard("2").unwrap();
    assert_eq!(dropped.op.pk, "b");
    assert!(ob.get("2").is_none());
    // Retry and discard only apply to failed ops, and unknown ids are typed errors.
    assert_eq!(ob.retry("1", 0).unwrap_err().code, ErrorCode::InvalidArgument);
    assert_eq!(ob.discard("nope").unwrap_err().code, ErrorCode::InvalidArgument);
}

#[test]
fn rate_limits_wait_as_asked_without_spending_an_attempt() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    ob.take_batch(0);
    ob.settle("1", &PushOutcome::Failed(SyncError::rate_limited(7000)), 100, 0.5);
    let entry = ob.get("1").unwrap();
    assert_eq!((entry.state, entry.attempts, entry.next_attempt_at_ms), (OpState::Pending, 0, 7100));
}

#[test]
fn a_failed_in_flight_op_superseded_by_a_newer_write_is_dropped() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    ob.take_batch(0);
    ob.capture(op("a", OpKind::Put, "2", 2), 0);
    ob.settle("1", &transient(), 0, 0.5);
    assert!(ob.get("1").is_none());
    assert_eq!(ob.len(), 1);
    assert_eq!(ob.newest_for("notes", "a").unwrap().op_id(), "2");
}

#[test]
fn a_new_write_replaces_a_failed_op_and_revives_it() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    ob.take_batch(0);
    ob.settle("1", &PushOutcome::Failed(SyncError::new(ErrorCode::Rejected, "no")), 0, 0.5);
    let outcome = ob.capture(op("a", OpKind::Put, "2", 2), 5);
    assert_eq!(outcome.replaced_op_id.as_deref(), Some("1"));
    let entry = ob.get("2").unwrap();
    assert_eq!((entry.state, entry.attempts), (OpState::Pending, 0));
}

#[test]
fn in_flight_ops_return_to_pending_after_a_restart() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    ob.take_batch(0);
    ob.recover_in_flight();
    assert_eq!(ob.get("1").unwrap().state, OpState::Pending);
    assert_eq!(ob.take_batch(0).len(), 1);
}

#[test]
fn capacity_is_signalled_and_bytes_are_tracked() {
    let mut ob: Outbox<Value> =
        Outbox::new(OutboxConfig { capacity_bytes: 250, ..OutboxConfig::default() }).unwrap();
    let first = ob.capture(op("a", OpKind::Put, "1", 1), 0);
    assert!(!first.queue_full);
    let one = ob.counts().bytes;
    ob.capture(op("b", OpKind::Put, "2", 1), 0);
    let full = ob.capture(op("c", OpKind::Put, "3", 1), 0);
    assert!(full.queue_full);
    assert_eq!(ob.len(), 3, "a full queue still keeps the write");
    ob.take_batch(0);
    for id in ["1", "2", "3"] {
        ob.settle(id, &PushOutcome::Acknowledged, 0, 0.5);
    }
    assert_eq!(ob.counts(), OutboxCounts::default());
    assert!(one > 0);
    assert!(Outbox::<Value>::new(OutboxConfig { capacity_bytes: 0, ..OutboxConfig::default() }).is_err());
}

#[test]
fn settling_unknown_or_not_in_flight_ops_changes_nothing() {
    let mut ob = outbox();
    ob.capture(op("a", OpKind::Put, "1", 1), 0);
    ob.settle("1", &PushOutcome::Acknowledged, 0, 0.5);
    ob.settle("ghost", &PushOutcome::Acknowledged, 0, 0.5);
    assert_eq!(ob.len(), 1, "a pending (not in flight) op is not removed by a stray answer");
    assert_eq!(ob.next_due_at(), Some(0));
}
