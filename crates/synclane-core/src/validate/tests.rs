//! Validation case by case (each malformation's code, whole batches refused, limits, table
//! names), and as properties over arbitrary JSON: never a panic, always a canonical error.

use super::*;
use crate::change::SyncChange;
use crate::error::{ErrorCode, SyncResult};
use crate::hlc::{ms_to_ntp64, HlcStamp};
use crate::stamp::OpKind;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashSet;

const NOW: u64 = 1_767_225_600_000;

fn hlc_at(ms: u64) -> String {
    HlcStamp { time: ms_to_ntp64(ms), id: 7 }.encode()
}

fn good_change(version: u64) -> Value {
    json!({
        "tableName": "notes", "pk": format!("n{version}"), "op": "put",
        "payload": {"id": format!("n{version}"), "title": "t", "extra": {"nested": true}},
        "serverVersion": version,
        "stamp": {"clock": 1, "hlc": hlc_at(NOW), "deviceId": "dev", "opId": format!("op{version}")}
    })
}

fn tables() -> HashSet<String> {
    ["notes".to_string(), "tags".to_string()].into()
}

fn validate(batch: Value) -> SyncResult<Vec<SyncChange<Value>>> {
    let tables = tables();
    let ctx = ValidationContext::new(Some(&tables), NOW);
    validate_remote_batch(parse_json_batch(&batch)?, &ctx)
}

#[test]
fn a_good_batch_passes_and_keeps_unknown_payload_fields() {
    let changes = validate(json!([good_change(1), good_change(2)])).unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].payload.as_ref().unwrap()["extra"]["nested"], true);
    assert_eq!(changes[1].server_version, 2);
    assert_eq!(changes[1].stamp.op_id, "op2");
}

#[test]
fn snake_case_field_names_are_accepted() {
    let batch = json!([{
        "table_name": "notes", "pk": "a", "op": "delete", "server_version": 4,
        "stamp": {"clock": 2, "hlc": hlc_at(NOW), "device_id": "dev", "op_id": "x"}
    }]);
    let changes = validate(batch).unwrap();
    assert_eq!(changes[0].op, OpKind::Delete);
    assert_eq!(changes[0].payload, None);
    assert_eq!(changes[0].stamp.device_id, "dev");
}

fn expect(batch: Value, code: ErrorCode, needle: &str) {
    let err = validate(batch.clone()).unwrap_err();
    assert_eq!(err.code, code, "{batch}: {err}");
    assert!(err.message.contains(needle), "{err} should mention {needle:?}");
}

#[test]
fn each_malformation_has_its_canonical_code() {
    let with = |patch: &dyn Fn(&mut Value)| {
        let mut change = good_change(1);
        patch(&mut change);
        json!([change])
    };
    expect(json!({"not": "an array"}), ErrorCode::InvalidChange, "array");
    expect(json!([1]), ErrorCode::InvalidChange, "change #0 must be an object");
    expect(with(&|c| c["tableName"] = json!("ghosts")), ErrorCode::UnknownTable, "ghosts");
    expect(with(&|c| c["tableName"] = json!("1; DROP TABLE")), ErrorCode::InvalidChange, "valid table name");
    expect(with(&|c| c["tableName"] = json!(5)), ErrorCode::InvalidChange, "invalid type");
    expect(
        with(&|c| {
            c.as_object_mut().unwrap().remove("pk");
        }),
        ErrorCode::InvalidChange,
        "pk is missing",
    );
    expect(with(&|c| c["pk"] = json!("")), ErrorCode::InvalidChange, "pk must be");
    expect(with(&|c| c["op"] = json!("upsert")), ErrorCode::InvalidChange, "neither");
    expect(with(&|c| c["payload"] = json!([1, 2])), ErrorCode::InvalidPayload, "object");
    expect(with(&|c| c["payload"] = json!("text")), ErrorCode::InvalidPayload, "object");
    expect(with(&|c| c["payload"] = Value::Null), ErrorCode::InvalidPayload, "needs a payload");
    expect(with(&|c| c["payload"]["id"] = json!("other")), ErrorCode::InvalidPayload, "differs");
    expect(with(&|c| c["payload"]["id"] = json!(3)), ErrorCode::InvalidPayload, "string");
    expect(with(&|c| c["serverVersion"] = json!(0)), ErrorCode::InvalidChange, "at least 1");
    expect(with(&|c| c["serverVersion"] = json!(-3)), ErrorCode::InvalidChange, "invalid value");
    expect(with(&|c| c["serverVersion"] = json!(1.5)), ErrorCode::InvalidChange, "invalid type");
    expect(
        with(&|c| {
            c.as_object_mut().unwrap().remove("stamp");
        }),
        ErrorCode::InvalidChange,
        "stamp is missing",
    );
    expect(with(&|c| c["stamp"]["clock"] = json!("5")), ErrorCode::InvalidChange, "invalid type");
    expect(with(&|c| c["stamp"]["clock"] = json!(0)), ErrorCode::InvalidChange, "clock must be");
    expect(with(&|c| c["stamp"]["hlc"] = json!("yesterday")), ErrorCode::InvalidChange, "hlc");
    expect(
        with(&|c| c["stamp"]["hlc"] = json!(hlc_at(NOW + 3 * 86_400_000))),
        ErrorCode::ClockSkew,
        "future",
    );
    expect(with(&|c| c["stamp"]["deviceId"] = json!("")), ErrorCode::InvalidChange, "deviceId");
    expect(with(&|c| c["stamp"]["opId"] = Value::Null), ErrorCode::InvalidChange, "opId is missing");
    expect(with(&|c| c["payload"]["blob"] = json!("x".repeat(2 << 20))), ErrorCode::PayloadTooLarge, "limit");
}

#[test]
fn one_bad_change_rejects_the_whole_batch_and_names_it() {
    let mut bad = good_change(3);
    bad["op"] = json!("merge");
    let err = validate(json!([good_change(1), good_change(2), bad])).unwrap_err();
    assert!(err.message.starts_with("change #2:"), "{err}");
}

#[test]
fn server_versions_must_rise_within_a_batch() {
    let err = validate(json!([good_change(2), good_change(2)])).unwrap_err();
    assert!(err.message.contains("does not rise"));
    assert!(validate(json!([good_change(3), good_change(1)])).is_err());
}

#[test]
fn stamps_ahead_within_tolerance_are_accepted() {
    let mut change = good_change(1);
    change["stamp"]["hlc"] = json!(hlc_at(NOW + 10 * 60 * 1000));
    assert!(validate(json!([change])).is_ok(), "a device ten minutes ahead must still sync");
}

#[test]
fn oversized_batches_are_refused() {
    let tables = tables();
    let mut ctx = ValidationContext::new(Some(&tables), NOW);
    ctx.limits.max_batch_len = 1;
    let raw = parse_json_batch(&json!([good_change(1), good_change(2)])).unwrap();
    assert_eq!(validate_remote_batch(raw, &ctx).unwrap_err().code, ErrorCode::PayloadTooLarge);
}

#[test]
fn push_ops_need_no_server_version_but_unique_op_ids() {
    let ctx = ValidationContext::new(None, NOW);
    let mut a = good_change(1);
    a.as_object_mut().unwrap().remove("serverVersion");
    let ops = validate_push_ops(parse_json_batch(&json!([a.clone()])).unwrap(), &ctx).unwrap();
    assert_eq!(ops[0].stamp.op_id, "op1");
    validate_typed_ops(&ops, &ctx).unwrap();
    let err = validate_push_ops(parse_json_batch(&json!([a.clone(), a])).unwrap(), &ctx).unwrap_err();
    assert!(err.message.contains("appears twice"));
}

#[test]
fn table_names() {
    for good in ["notes", "Notes_2", "a.b-c", &"x".repeat(64)] {
        assert!(is_valid_table_name(good), "{good}");
    }
    for bad in ["", "_pending_ops", "1abc", "a b", "notes;", "é", &"x".repeat(65)] {
        assert!(!is_valid_table_name(bad), "{bad}");
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![Just("put"), Just("delete"), Just("notes"), Just("tableName"), Just("stamp")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("tableName".to_string()),
                    Just("pk".to_string()),
                    Just("op".to_string()),
                    Just("payload".to_string()),
                    Just("serverVersion".to_string()),
                    Just("stamp".to_string()),
                    Just("clock".to_string()),
                    Just("hlc".to_string()),
                    Just("deviceId".to_string()),
                    Just("opId".to_string()),
                    ".{0,6}".prop_map(String::from),
                ],
                inner,
                0..7
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    #[test]
    fn arbitrary_input_never_panics_and_errors_are_canonical(batch in arb_json()) {
        match validate(batch) {
            Ok(changes) => {
                for c in changes {
                    prop_assert!(tables().contains(&c.table_name));
                    prop_assert!(c.server_version >= 1 && c.stamp.clock >= 1);
                }
            }
            Err(err) => prop_assert!(ErrorCode::ALL.contains(&err.code) && !err.message.is_empty()),
        }
    }

    #[test]
    fn mutating_one_field_of_a_good_change_never_panics(field in 0usize..9, replacement in arb_json()) {
        let mut change = good_change(1);
        match field {
            0 => change["tableName"] = replacement,
            1 => change["pk"] = replacement,
            2 => change["op"] = replacement,
            3 => change["payload"] = replacement,
            4 => change["serverVersion"] = replacement,
            5 => change["stamp"] = replacement,
            6 => change["stamp"]["clock"] = replacement,
            7 => change["stamp"]["hlc"] = replacement,
            _ => change["stamp"]["opId"] = replacement,
        }
        let _ = validate(json!([change]));
    }
}
