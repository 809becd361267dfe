//! The checks: the limits and context a batch is validated against, and the validation of a
//! remote batch, of a push's ops and of typed ops, element by element.

use super::input::{RawChange, RawStamp};
use crate::change::{Payload, PayloadId, PendingOp, SyncChange};
use crate::error::{clip, ErrorCode, Quoted, SyncError, SyncResult};
use crate::hlc::{ClockPolicy, HlcStamp};
use crate::stamp::{ChangeStamp, OpKind};
use std::collections::HashSet;

/// How much of a bad value an error message quotes.
const QUOTED_CHARS: usize = 64;

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

/// Whether a table name is acceptable: 1 to 64 characters, a letter first, then letters,
/// digits, `_`, `-` or `.`. Internal stores start with `_`, so they can never collide.
pub fn is_valid_table_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
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
