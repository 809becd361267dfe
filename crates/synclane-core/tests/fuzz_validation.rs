//! Fuzzing of everything that validates incoming data, with proptest: remote batches as JSON
//! (valid changes broken by random mutations, and arbitrary JSON), push batches on the server
//! side, and typed pushes into the in-memory server. Properties:
//! - nothing panics, whatever arrives;
//! - all or nothing: a batch passes only if every change in it passes on its own (and server
//!   versions rise), and a refused batch is refused with a typed error;
//! - what passes satisfies every rule the store relies on;
//! - a refused push leaves the server exactly as it was.
//!
//! Cases per property: SYNCLANE_FUZZ_CASES (default 4,000; 4 properties).

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use synclane_core::change::{PendingOp, PushBatch, SyncScope};
use synclane_core::hlc::{ms_to_ntp64, HlcStamp};
use synclane_core::server::{MemoryServer, ServerConfig};
use synclane_core::validate::{
    parse_json_batch, validate_push_ops, validate_remote_batch, ValidationContext,
};
use synclane_core::{ChangeStamp, ErrorCode, OpKind};

const NOW: u64 = 1_767_225_600_123;

fn cases() -> u32 {
    std::env::var("SYNCLANE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4_000)
}

fn tables() -> HashSet<String> {
    ["notes", "tasks"].iter().map(|t| t.to_string()).collect()
}

fn hlc_at(ms: u64, id: u64) -> String {
    HlcStamp { time: ms_to_ntp64(ms), id }.encode()
}

/// A valid change as JSON: `n` numbers it (its server version and op id).
fn valid_change(n: u64, key: u8, delete: bool) -> Value {
    let pk = format!("k{key}");
    let mut change = json!({
        "tableName": if key % 2 == 0 { "notes" } else { "tasks" },
        "pk": pk,
        "op": if delete { "delete" } else { "put" },
        "serverVersion": 100 + n,
        "stamp": { "clock": 1 + n, "hlc": hlc_at(NOW - 1_000 + n, 3), "deviceId": "d1", "opId": format!("op-{n}") },
    });
    if !delete {
        change["payload"] = json!({ "id": pk, "text": format!("v{n}"), "nested": { "list": [1, 2, 3] } });
    }
    change
}

/// Arbitrary JSON, small and deep enough to hit every type.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("")),
        Just(json!("_pending_ops")),
        Just(json!("x'); DROP TABLE sl_records; --")),
        Just(Value::String("z".repeat(700))),
        Just(json!(hlc_at(NOW + 3 * 86_400_000, 9))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Where a mutation strikes: a top-level field, or a field of the stamp or payload.
const PATHS: &[&[&str]] = &[
    &["tableName"],
    &["pk"],
    &["op"],
    &["payload"],
    &["serverVersion"],
    &["stamp"],
    &["stamp", "clock"],
    &["stamp", "hlc"],
    &["stamp", "deviceId"],
    &["stamp", "opId"],
    &["payload", "id"],
];

#[derive(Debug, Clone)]
enum Mutation {
    Remove(usize),
    Replace(usize, Value),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..PATHS.len()).prop_map(Mutation::Remove),
        ((0..PATHS.len()), arb_json()).prop_map(|(p, v)| Mutation::Replace(p, v)),
    ]
}

fn mutate(change: &mut Value, mutation: &Mutation) {
    let (path, value) = match mutation {
        Mutation::Remove(p) => (PATHS[*p], None),
        Mutation::Replace(p, v) => (PATHS[*p], Some(v.clone())),
    };
    let (last, parents) = path.split_last().expect("paths are not empty");
    let mut target = change;
    for key in parents {
        match target.get_mut(*key) {
            Some(next) if next.is_object() => target = next,
            _ => return,
        }
    }
    let Some(object) = target.as_object_mut() else { return };
    match value {
        None => {
            object.remove(*last);
        }
        Some(v) => {
            object.insert((*last).to_string(), v);
        }
    }
}

/// A batch of valid changes with some of them mutated (possibly into still-valid ones).
fn arb_batch() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((0u8..6, any::<bool>(), prop::collection::vec(arb_mutation(), 0..3)), 1..8)
        .prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(n, (key, delete, mutations))| {
                    let mut change = valid_change(n as u64, key, delete);
                    for m in &mutations {
                        mutate(&mut change, m);
                    }
                    change
                })
                .collect()
        })
}

fn ctx(tables: &HashSet<String>) -> ValidationContext<'_> {
    ValidationContext::new(Some(tables), NOW)
}

const REFUSAL_CODES: &[ErrorCode] = &[
    ErrorCode::InvalidChange,
    ErrorCode::InvalidPayload,
    ErrorCode::UnknownTable,
    ErrorCode::ClockSkew,
    ErrorCode::PayloadTooLarge,
];

proptest! {
    #![proptest_config(Config { cases: cases(), ..Config::default() })]

    #[test]
    fn remote_batches_are_all_or_nothing_and_what_passes_obeys_every_rule(batch in arb_batch()) {
        let tables = tables();
        let value = Value::Array(batch.clone());
        let whole = parse_json_batch(&value).and_then(|raw| validate_remote_batch(raw, &ctx(&tables)));
        // Each change on its own (server versions are rising by construction unless mutated).
        let singles: Vec<_> = batch
            .iter()
            .map(|c| parse_json_batch(&Value::Array(vec![c.clone()])).and_then(|raw| validate_remote_batch(raw, &ctx(&tables))))
            .collect();
        match &whole {
            Ok(changes) => {
                prop_assert!(singles.iter().all(Result::is_ok), "the batch passed but a change alone did not");
                prop_assert_eq!(changes.len(), batch.len());
                let mut last = 0;
                for c in changes {
                    prop_assert!(tables.contains(&c.table_name));
                    prop_assert!(!c.pk.is_empty() && c.pk.len() <= 512);
                    prop_assert!(c.server_version > last);
                    last = c.server_version;
                    prop_assert!(c.stamp.clock >= 1);
                    prop_assert!(HlcStamp::parse(&c.stamp.hlc).is_ok());
                    prop_assert!(!c.stamp.device_id.is_empty() && !c.stamp.op_id.is_empty());
                    match c.op {
                        OpKind::Put => {
                            let payload = c.payload.as_ref().expect("a put has a payload");
                            prop_assert!(payload.is_object());
                            prop_assert_eq!(payload.get("id").and_then(Value::as_str).unwrap_or(&c.pk), c.pk.as_str());
                        }
                        OpKind::Delete => {}
                    }
                }
            }
            Err(e) => {
                prop_assert!(REFUSAL_CODES.contains(&e.code), "unexpected code {:?}: {}", e.code, e.message);
                let versions_rise = batch.windows(2).all(|w| {
                    matches!((w[0]["serverVersion"].as_u64(), w[1]["serverVersion"].as_u64()), (Some(a), Some(b)) if b > a)
                });
                prop_assert!(singles.iter().any(Result::is_err) || !versions_rise, "the batch was refused though every change passes: {}", e.message);
            }
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_is_refused_with_a_typed_error(value in arb_json()) {
        let tables = tables();
        for input in [value.clone(), Value::Array(vec![value.clone()]), json!([valid_change(0, 0, false), value])] {
            if let Err(e) = parse_json_batch(&input).and_then(|raw| validate_remote_batch(raw, &ctx(&tables))) {
                prop_assert!(REFUSAL_CODES.contains(&e.code), "unexpected code {:?}", e.code);
            }
            let _ = parse_json_batch(&input).and_then(|raw| validate_push_ops(raw, &ValidationContext::new(None, NOW)));
        }
    }

    #[test]
    fn server_side_push_validation_is_all_or_nothing(batch in arb_batch()) {
        let server_ctx = ValidationContext::new(None, NOW);
        let value = Value::Array(batch.clone());
        let whole = parse_json_batch(&value).and_then(|raw| validate_push_ops(raw, &server_ctx));
        let singles_ok = batch
            .iter()
            .all(|c| parse_json_batch(&Value::Array(vec![c.clone()])).and_then(|raw| validate_push_ops(raw, &server_ctx)).is_ok());
        if whole.is_ok() {
            prop_assert!(singles_ok);
        } else if let Err(e) = &whole {
            prop_assert!(REFUSAL_CODES.contains(&e.code), "unexpected code {:?}", e.code);
        }
    }

    #[test]
    fn a_refused_push_leaves_the_server_exactly_as_it_was(
        bad in prop::collection::vec((0u8..8, any::<u8>()), 1..4),
        good in 1usize..5,
    ) {
        let mut server: MemoryServer<Value> = MemoryServer::new(ServerConfig::default());
        let scope = SyncScope { workspace_id: "w".into() };
        let op = |n: usize, key: u8| PendingOp {
            table_name: "notes".into(),
            pk: format!("k{key}"),
            op: OpKind::Put,
            payload: Some(json!({ "id": format!("k{key}"), "n": n })),
            stamp: ChangeStamp { clock: 1 + n as u64, hlc: hlc_at(NOW, 2), device_id: "d".into(), op_id: format!("op-{n}") },
        };
        let seed: Vec<_> = (0..3).map(|n| op(n, n as u8)).collect();
        server.push(PushBatch { scope: scope.clone(), device_id: "d".into(), ops: seed }, NOW).expect("the seed push is valid");
        let before = format!("{server:?}");
        let mut ops: Vec<_> = (0..good).map(|n| op(10 + n, (n % 4) as u8)).collect();
        for (kind, x) in bad {
            let mut o = op(100 + usize::from(x), x % 6);
            match kind {
                0 => o.pk = String::new(),
                1 => o.table_name = "_pending_ops".into(),
                2 => o.payload = Some(json!([x])),
                3 => o.stamp.hlc = format!("{x}"),
                4 => o.stamp.clock = 0,
                5 => o.stamp.op_id = "op-10".into(), // a duplicate op id within the batch
                6 => o.stamp.hlc = hlc_at(NOW + 3 * 86_400_000, 2),
                _ => o.payload = Some(json!({ "id": "someone-else" })),
            }
            ops.insert(usize::from(x) % (ops.len() + 1), o);
        }
        let outcome = server.push(PushBatch { scope, device_id: "d".into(), ops }, NOW);
        prop_assert!(outcome.is_err(), "a batch holding a bad op was accepted");
        prop_assert_eq!(format!("{server:?}"), before, "a refused push changed the server");
    }
}

/// The generator is not vacuous: its batches are refused often, and accepted often enough that
/// the all-or-nothing property compares both sides.
#[test]
fn the_mutated_batches_mix_refusals_and_acceptances() {
    use proptest::strategy::ValueTree;
    let tables = tables();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = arb_batch();
    let (mut refused, mut accepted) = (0, 0);
    for _ in 0..2_000 {
        let batch = strategy.new_tree(&mut runner).expect("a batch").current();
        match parse_json_batch(&Value::Array(batch)).and_then(|raw| validate_remote_batch(raw, &ctx(&tables)))
        {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    println!("fuzzed batches: {refused} refused, {accepted} accepted of 2000");
    assert!(refused > 600, "{refused} refused");
    assert!(accepted > 100, "{accepted} accepted");
}
