//! Validation and normalization of what arrives from outside: changes from a provider (remote
//! batches) and ops in a push (on the server). Fail closed: a batch with one bad element is
//! refused whole with a canonical error naming the element, and nothing is applied.
//!
//! Field names are accepted in camelCase and snake_case (`tableName` / `table_name`,
//! `serverVersion` / `server_version`, `deviceId` / `device_id`, `opId` / `op_id`), because
//! backends written in other languages emit either. Unknown fields of a change are ignored and
//! the payload is kept as it is, unknown fields included.

use crate::change::{Payload, PayloadId, PendingOp, SyncChange};
use crate::error::{clip, ErrorCode, Quoted, SyncError, SyncResult};

/// How much of a bad value an error message quotes.
const QUOTED_CHARS: usize = 64;
use crate::hlc::{ClockPolicy, HlcStamp};
use crate::stamp::{ChangeStamp, OpKind};
use serde::Deserialize;
use std::collections::HashSet;

/// Size limits applied to incoming data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationLimits {
    pub max_key_bytes: usize,
    pub max_id_bytes: usize,
    pub max_payload_bytes: usize,
    pub max_batch_len: usize,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            max_key_bytes: 512,
            max_id_bytes: 256,
            max_payload_bytes: 1 << 20,
            max_batch_len: 10_000,
        }
    }
}

/// What validation checks against.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext<'a> {
    /// The tables the receiver knows; `None` accepts any well-formed table name (the server).
    pub tables: Option<&'a HashSet<String>>,
    /// The receiver's physical time, to refuse stamps from far in the future.
    pub now_ms: u64,
    pub clock: ClockPolicy,
    pub limits: ValidationLimits,
}

impl<'a> ValidationContext<'a> {
    pub fn new(tables: Option<&'a HashSet<String>>, now_ms: u64) -> Self {
        ValidationContext {
            tables,
            now_ms,
            clock: ClockPolicy::default(),
            limits: ValidationLimits::default(),
        }
    }
}

/// A change or op as it arrived, before any check. Every field is optional so a missing field
/// gets synclane's own message instead of a deserializer's.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawChange<P> {
    #[serde(default, alias = "table_name")]
    pub table_name: Option<String>,
    #[serde(default)]
    pub pk: Option<String>,
    #[serde(default)]
    pub op: Option<String>,
    #[serde(default = "Option::default")]
    pub payload: Option<P>,
    #[serde(default, alias = "server_version")]
    pub server_version: Option<u64>,
    #[serde(default)]
    pub stamp: Option<RawStamp>,
}

/// A stamp as it arrived.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawStamp {
    #[serde(default)]
    pub clock: Option<u64>,
    #[serde(default)]
    pub hlc: Option<String>,
    #[serde(default, alias = "device_id")]
    pub device_id: Option<String>,
    #[serde(default, alias = "op_id")]
    pub op_id: Option<String>,
}

/// Whether a table name is acceptable: 1 to 64 characters, a letter first, then letters,
/// digits, `_`, `-` or `.`. Internal stores start with `_`, so they can never collide.
pub fn is_valid_table_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Deserializes a JSON array of changes element by element, so a type error names its element.
pub fn parse_json_batch(value: &serde_json::Value) -> SyncResult<Vec<RawChange<serde_json::Value>>> {
    let items = value.as_array().ok_or_else(|| {
        SyncError::invalid_change(format!("a batch must be an array, got {}", json_kind(value)))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            if !item.is_object() {
                return Err(SyncError::invalid_change(format!(
                    "change #{index} must be an object, got {}",
                    json_kind(item)
                )));
            }
            RawChange::deserialize(item)
                .map_err(|e| SyncError::invalid_change(format!("change #{index}: {e}")))
        })
        .collect()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Validates a batch of remote changes. All or nothing: the first bad change rejects the batch.
/// Server versions must rise strictly within a batch, as the protocol orders pulls ascending.
pub fn validate_remote_batch<P: Payload>(
    raw: Vec<RawChange<P>>,
    ctx: &ValidationContext<'_>,
) -> SyncResult<Vec<SyncChange<P>>> {
    check_batch_len(raw.len(), ctx)?;
    let mut out = Vec::with_capacity(raw.len());
    let mut last_version = 0u64;
    for (index, change) in raw.into_iter().enumerate() {
        let server_version = match change.server_version {
            Some(v) if v >= 1 => v,
            Some(_) => return Err(at(index, ErrorCode::InvalidChange, "serverVersion must be at least 1")),
            None => return Err(at(index, ErrorCode::InvalidChange, "serverVersion is missing")),
        };
        if server_version <= last_version {
            return Err(at(
                index,
                ErrorCode::InvalidChange,
                &format!(
                    "serverVersion {server_version} does not rise above the previous change's {last_version}"
                ),
            ));
        }
        last_version = server_version;
        let common = validate_common(index, change, ctx)?;
        out.push(SyncChange {
            table_name: common.table_name,
            pk: common.pk,
            op: common.op,
            payload: common.payload,
            server_version,
            stamp: common.stamp,
        });
    }
    Ok(out)
}

/// Validates the ops of a push (server side). All or nothing, like remote batches. Op ids must
/// be unique within the batch.
pub fn validate_push_ops<P: Payload>(
    raw: Vec<RawChange<P>>,
    ctx: &ValidationContext<'_>,
) -> SyncResult<Vec<PendingOp<P>>> {
    check_batch_len(raw.len(), ctx)?;
    let mut seen_ops = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, op) in raw.into_iter().enumerate() {
        let common = validate_common(index, op, ctx)?;
        if !seen_ops.insert(common.stamp.op_id.clone()) {
            return Err(at(
                index,
                ErrorCode::InvalidChange,
                &format!("opId {} appears twice in the batch", Quoted(&common.stamp.op_id)),
            ));
        }
        out.push(PendingOp {
            table_name: common.table_name,
            pk: common.pk,
            op: common.op,
            payload: common.payload,
            stamp: common.stamp,
        });
    }
    Ok(out)
}

/// Re-validates already typed ops (for a provider or server that received typed values).
pub fn validate_typed_ops<P: Payload>(ops: &[PendingOp<P>], ctx: &ValidationContext<'_>) -> SyncResult<()> {
    let raw = ops
        .iter()
        .map(|op| RawChange {
            table_name: Some(op.table_name.clone()),
            pk: Some(op.pk.clone()),
            op: Some(op.op.as_str().to_owned()),
            payload: op.payload.clone(),
            server_version: None,
            stamp: Some(RawStamp {
                clock: Some(op.stamp.clock),
                hlc: Some(op.stamp.hlc.clone()),
                device_id: Some(op.stamp.device_id.clone()),
                op_id: Some(op.stamp.op_id.clone()),
            }),
        })
        .collect();
    validate_push_ops(raw, ctx).map(|_| ())
}

fn check_batch_len(len: usize, ctx: &ValidationContext<'_>) -> SyncResult<()> {
    if len > ctx.limits.max_batch_len {
        return Err(SyncError::new(
            ErrorCode::PayloadTooLarge,
            format!("batch of {len} changes exceeds the limit of {}", ctx.limits.max_batch_len),
        ));
    }
    Ok(())
}

struct Common<P> {
    table_name: String,
    pk: String,
    op: OpKind,
    payload: Option<P>,
    stamp: ChangeStamp,
}

fn at(index: usize, code: ErrorCode, message: &str) -> SyncError {
    SyncError::new(code, format!("change #{index}: {message}"))
}

fn validate_common<P: Payload>(
    index: usize,
    raw: RawChange<P>,
    ctx: &ValidationContext<'_>,
) -> SyncResult<Common<P>> {
    let limits = &ctx.limits;
    let table_name =
        raw.table_name.ok_or_else(|| at(index, ErrorCode::InvalidChange, "tableName is missing"))?;
    if !is_valid_table_name(&table_name) {
        return Err(at(
            index,
            ErrorCode::InvalidChange,
            &format!("tableName {} is not a valid table name", Quoted(clip(&table_name, QUOTED_CHARS))),
        ));
    }
    if let Some(tables) = ctx.tables {
        if !tables.contains(&table_name) {
            return Err(at(
                index,
                ErrorCode::UnknownTable,
                &format!("unknown table {}", Quoted(&table_name)),
            ));
        }
    }
    let pk = raw.pk.ok_or_else(|| at(index, ErrorCode::InvalidChange, "pk is missing"))?;
    if pk.is_empty() || pk.len() > limits.max_key_bytes {
        return Err(at(
            index,
            ErrorCode::InvalidChange,
            &format!("pk must be 1 to {} bytes", limits.max_key_bytes),
        ));
    }
    let op_name = raw.op.ok_or_else(|| at(index, ErrorCode::InvalidChange, "op is missing"))?;
    let op = OpKind::parse(&op_name).ok_or_else(|| {
        at(
            index,
            ErrorCode::InvalidChange,
            &format!("op {} is neither \"put\" nor \"delete\"", Quoted(clip(&op_name, QUOTED_CHARS))),
        )
    })?;
    let payload = match op {
        OpKind::Delete => None,
        OpKind::Put => {
            let payload =
                raw.payload.ok_or_else(|| at(index, ErrorCode::InvalidPayload, "a put needs a payload"))?;
            if !payload.is_object() {
                return Err(at(index, ErrorCode::InvalidPayload, "payload must be an object"));
            }
            let size = payload.byte_size();
            if size > limits.max_payload_bytes {
                return Err(at(
                    index,
                    ErrorCode::PayloadTooLarge,
                    &format!("payload of {size} bytes exceeds the limit of {}", limits.max_payload_bytes),
                ));
            }
            match payload.id_field() {
                PayloadId::Absent => {}
                PayloadId::Text(id) if id == pk => {}
                PayloadId::Text(id) => {
                    return Err(at(
                        index,
                        ErrorCode::InvalidPayload,
                        &format!(
                            "payload id {} differs from pk {}",
                            Quoted(clip(&id, QUOTED_CHARS)),
                            Quoted(clip(&pk, QUOTED_CHARS))
                        ),
                    ))
                }
                PayloadId::NotText => {
                    return Err(at(index, ErrorCode::InvalidPayload, "payload id must be a string"))
                }
            }
            Some(payload)
        }
    };
    let stamp = raw.stamp.ok_or_else(|| at(index, ErrorCode::InvalidChange, "stamp is missing"))?;
    let clock = match stamp.clock {
        Some(clock) if clock >= 1 => clock,
        Some(_) => return Err(at(index, ErrorCode::InvalidChange, "stamp.clock must be at least 1")),
        None => return Err(at(index, ErrorCode::InvalidChange, "stamp.clock is missing")),
    };
    let hlc = stamp.hlc.ok_or_else(|| at(index, ErrorCode::InvalidChange, "stamp.hlc is missing"))?;
    let parsed = HlcStamp::parse(&hlc).map_err(|e| at(index, e.code, &e.message))?;
    let ahead_ms = parsed.physical_ms().saturating_sub(ctx.now_ms);
    if ahead_ms > ctx.clock.reject_future_ms {
        return Err(at(
            index,
            ErrorCode::ClockSkew,
            &format!(
                "stamp is {ahead_ms} ms in the future, beyond the allowed {} ms",
                ctx.clock.reject_future_ms
            ),
        ));
    }
    let device_id = required_id(index, "stamp.deviceId", stamp.device_id, limits)?;
    let op_id = required_id(index, "stamp.opId", stamp.op_id, limits)?;
    Ok(Common { table_name, pk, op, payload, stamp: ChangeStamp { clock, hlc, device_id, op_id } })
}

fn required_id(
    index: usize,
    field: &str,
    value: Option<String>,
    limits: &ValidationLimits,
) -> SyncResult<String> {
    match value {
        Some(id) if !id.is_empty() && id.len() <= limits.max_id_bytes => Ok(id),
        Some(_) => Err(at(
            index,
            ErrorCode::InvalidChange,
            &format!("{field} must be 1 to {} bytes", limits.max_id_bytes),
        )),
        None => Err(at(index, ErrorCode::InvalidChange, &format!("{field} is missing"))),
    }
}

/// Shortens untrusted text before it goes into an error message.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlc::ms_to_ntp64;
    use proptest::prelude::*;
    use serde_json::{json, Value};

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
        expect(
            with(&|c| c["tableName"] = json!("1; DROP TABLE")),
            ErrorCode::InvalidChange,
            "valid table name",
        );
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
        expect(
            with(&|c| c["payload"]["blob"] = json!("x".repeat(2 << 20))),
            ErrorCode::PayloadTooLarge,
            "limit",
        );
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
}
