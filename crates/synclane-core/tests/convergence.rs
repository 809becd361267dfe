//! Property tests of convergence: whatever order, duplication or batching versions arrive in,
//! replicas that saw the same versions hold the same state, equal to the greatest version of
//! each record by the conflict rule.

use proptest::prelude::*;
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use synclane_core::apply::decide_remote;
use synclane_core::change::{PendingOp, PushBatch, SyncScope};
use synclane_core::hlc::{ms_to_ntp64, HlcStamp};
use synclane_core::server::{MemoryServer, ServerConfig};
use synclane_core::{compare_versions, ChangeStamp, OpKind, VersionRef};

const T0: u64 = 1_767_225_600_000;

fn arb_op() -> impl Strategy<Value = PendingOp<Value>> {
    (0u8..4, 1u64..5, 0u64..3, 0u8..3, any::<bool>(), any::<u32>()).prop_map(
        |(key, clock, tick, device, delete, nonce)| {
            let pk = format!("k{key}");
            let op_id = format!("op-{device}-{key}-{clock}-{tick}-{nonce}");
            PendingOp {
                table_name: "notes".into(),
                pk: pk.clone(),
                op: if delete { OpKind::Delete } else { OpKind::Put },
                payload: (!delete).then(|| json!({"id": pk, "from": op_id})),
                stamp: ChangeStamp {
                    clock,
                    hlc: HlcStamp { time: ms_to_ntp64(T0 + tick), id: u64::from(device) + 1 }.encode(),
                    device_id: format!("d{device}"),
                    op_id,
                },
            }
        },
    )
}

/// The model: the greatest version of each record.
fn model(ops: &[PendingOp<Value>]) -> BTreeMap<String, (String, OpKind)> {
    let mut best: BTreeMap<String, &PendingOp<Value>> = BTreeMap::new();
    for op in ops {
        let replace = best.get(&op.pk).is_none_or(|b| {
            compare_versions(VersionRef::new(&op.stamp, op.op), VersionRef::new(&b.stamp, b.op))
                == Ordering::Greater
        });
        if replace {
            best.insert(op.pk.clone(), op);
        }
    }
    best.into_iter().map(|(k, op)| (k, (op.stamp.op_id.clone(), op.op))).collect()
}

fn server_state(server: &MemoryServer<Value>) -> BTreeMap<String, (String, OpKind)> {
    ["k0", "k1", "k2", "k3"]
        .iter()
        .filter_map(|pk| {
            server
                .get(&SyncScope::new("w"), "notes", pk)
                .map(|v| (pk.to_string(), (v.stamp.op_id.clone(), v.op)))
        })
        .collect()
}

/// Orders `ops` by the permutation keys, duplicating the ones whose flag is set.
fn shuffled(ops: &[PendingOp<Value>], keys: &[(u32, bool)]) -> Vec<PendingOp<Value>> {
    let mut indexed: Vec<(u32, usize, bool)> =
        keys.iter().enumerate().map(|(i, &(k, dup))| (k, i, dup)).collect();
    indexed.sort();
    let mut out = Vec::new();
    for (_, i, dup) in indexed {
        out.push(ops[i].clone());
        if dup {
            out.push(ops[i].clone());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn servers_fed_the_same_ops_in_any_order_converge(
        ops in proptest::collection::vec(arb_op(), 1..24).prop_map(|mut ops| {
            // Op ids are unique per op in the protocol; make sure of it.
            for (i, op) in ops.iter_mut().enumerate() { op.stamp.op_id = format!("{}#{i}", op.stamp.op_id); }
            ops
        }),
        order_a in proptest::collection::vec((any::<u32>(), any::<bool>()), 24),
        order_b in proptest::collection::vec((any::<u32>(), any::<bool>()), 24),
        batch_size in 1usize..6,
    ) {
        let mut states = Vec::new();
        for order in [&order_a, &order_b] {
            let mut server = MemoryServer::new(ServerConfig::default());
            for batch in shuffled(&ops, &order[..ops.len()]).chunks(batch_size) {
                // A batch may hold the same op twice (a duplicated delivery): send one copy
                // per batch, the others in their own batches, as a network would.
                for op in batch {
                    server.push(PushBatch { scope: SyncScope::new("w"), device_id: "d".into(), ops: vec![op.clone()] }, T0).unwrap();
                }
            }
            states.push(server_state(&server));
        }
        prop_assert_eq!(&states[0], &states[1]);
        prop_assert_eq!(&states[0], &model(&ops));
    }

    #[test]
    fn clients_applying_changes_in_any_order_converge(
        ops in proptest::collection::vec(arb_op(), 1..24).prop_map(|mut ops| {
            for (i, op) in ops.iter_mut().enumerate() { op.stamp.op_id = format!("{}#{i}", op.stamp.op_id); }
            ops
        }),
        order_a in proptest::collection::vec((any::<u32>(), any::<bool>()), 24),
        order_b in proptest::collection::vec((any::<u32>(), any::<bool>()), 24),
    ) {
        let mut states = Vec::new();
        for order in [&order_a, &order_b] {
            let mut local: BTreeMap<String, (ChangeStamp, OpKind)> = BTreeMap::new();
            for op in shuffled(&ops, &order[..ops.len()]) {
                let current = local.get(&op.pk).map(|(s, o)| VersionRef::new(s, *o));
                if decide_remote(current, false, VersionRef::new(&op.stamp, op.op), false).writes() {
                    local.insert(op.pk.clone(), (op.stamp.clone(), op.op));
                }
            }
            states.push(local.into_iter().map(|(k, (s, o))| (k, (s.op_id, o))).collect::<BTreeMap<_, _>>());
        }
        prop_assert_eq!(&states[0], &states[1]);
        prop_assert_eq!(&states[0], &model(&ops));
    }
}
