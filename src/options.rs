//! The options of `EngineCore.open`, read and checked field by field: a misspelt option is
//! refused with `invalid_argument` naming it, never ignored.

use crate::store::schema::TableSpec;
use synclane_core::outbox::{OutboxConfig, RetryPolicy};
use synclane_core::{ErrorCode, SyncResult};
use synclane_js::read::{read_error, Fields, ReadResult};
use wasm_bindgen::JsValue;

/// `clock: { maxDriftMs?, rejectFutureMs? }`.
#[derive(Debug, Default)]
pub struct ClockOptions {
    pub max_drift_ms: Option<u64>,
    pub reject_future_ms: Option<u64>,
}

/// `{ workspaceId, tables, dbName?, deviceId?, clock?, outbox? }`.
#[derive(Debug)]
pub struct OpenOptions {
    pub workspace_id: String,
    pub db_name: Option<String>,
    pub device_id: Option<String>,
    pub tables: Vec<TableSpec>,
    pub clock: Option<ClockOptions>,
    pub outbox: Option<OutboxConfig>,
}

impl OpenOptions {
    pub fn from_js(value: JsValue) -> SyncResult<OpenOptions> {
        read_open_options(value).map_err(read_error("engine options", ErrorCode::InvalidArgument))
    }
}

fn read_open_options(value: JsValue) -> ReadResult<OpenOptions> {
    let f = Fields::of(value)?;
    f.deny_unknown(&["workspaceId", "dbName", "deviceId", "tables", "clock", "outbox"])?;
    let tables = f
        .opt_array("tables", |value, name| TableSpec::read(&Fields::at(value, name)?))?
        .ok_or("missing field `tables`")?;
    let clock = match f.opt_object("clock")? {
        Some(clock) => {
            clock.deny_unknown(&["maxDriftMs", "rejectFutureMs"])?;
            Some(ClockOptions {
                max_drift_ms: clock.opt_uint("maxDriftMs")?,
                reject_future_ms: clock.opt_uint("rejectFutureMs")?,
            })
        }
        None => None,
    };
    Ok(OpenOptions {
        workspace_id: f.string("workspaceId")?,
        db_name: f.opt_string("dbName")?,
        device_id: f.opt_string("deviceId")?,
        tables,
        clock,
        outbox: f.opt_object("outbox")?.map(|outbox| read_outbox_config(&outbox)).transpose()?,
    })
}

/// `outbox: { maxBatchOps?, maxBatchBytes?, capacityBytes?, retry?: { scheduleMs?, jitter?,
/// maxAttempts? } }`; what is left out keeps its default. `OutboxConfig::validate` checks the
/// values.
fn read_outbox_config(f: &Fields) -> ReadResult<OutboxConfig> {
    f.deny_unknown(&["maxBatchOps", "maxBatchBytes", "capacityBytes", "retry"])?;
    let defaults = OutboxConfig::default();
    let size = |name: &'static str, default: usize| -> ReadResult<usize> {
        match f.opt_uint(name)? {
            None => Ok(default),
            Some(v) => usize::try_from(v).map_err(|_| format!("outbox.{name} is too large")),
        }
    };
    let retry = match f.opt_object("retry")? {
        None => defaults.retry.clone(),
        Some(retry) => {
            retry.deny_unknown(&["scheduleMs", "jitter", "maxAttempts"])?;
            let default = RetryPolicy::default();
            RetryPolicy {
                schedule_ms: retry
                    .opt_array("scheduleMs", |value, name| {
                        synclane_js::read::uint(&value)
                            .ok_or_else(|| format!("{name} must be a non-negative integer"))
                    })?
                    .unwrap_or(default.schedule_ms),
                jitter: retry.opt_number("jitter")?.unwrap_or(default.jitter),
                max_attempts: retry.opt_u32("maxAttempts")?.unwrap_or(default.max_attempts),
            }
        }
    };
    Ok(OutboxConfig {
        max_batch_ops: size("maxBatchOps", defaults.max_batch_ops)?,
        max_batch_bytes: size("maxBatchBytes", defaults.max_batch_bytes)?,
        capacity_bytes: size("capacityBytes", defaults.capacity_bytes)?,
        retry,
    })
}
