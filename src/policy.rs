//! The core's sync policy and status view-model, for the TypeScript loop: it keeps the policy
//! state and asks these functions; it never interprets timestamps itself.

use crate::store::records::read_sync_error;
use synclane_core::policy::{evaluate, PolicyConfig, PolicyState, SyncTrigger};
use synclane_core::status::{derive_status, StatusInput, SyncProgress};
use synclane_core::{ErrorCode, Quoted, SyncError, SyncResult};
use synclane_js::error::to_js_error;
use synclane_js::read::{read_error, read_options, Fields, ReadResult};
use wasm_bindgen::prelude::*;

/// `{ manualCooldownMs?, intervalMs?, localWriteDebounceMs? }`; `undefined` for the defaults.
fn config(value: JsValue) -> SyncResult<PolicyConfig> {
    read_options(value, "policy config", |f| {
        let defaults = PolicyConfig::default();
        Ok(PolicyConfig {
            manual_cooldown_ms: f.opt_uint("manualCooldownMs")?.unwrap_or(defaults.manual_cooldown_ms),
            interval_ms: f.opt_uint("intervalMs")?.unwrap_or(defaults.interval_ms),
            local_write_debounce_ms: f
                .opt_uint("localWriteDebounceMs")?
                .unwrap_or(defaults.local_write_debounce_ms),
        })
    })
}

/// The loop's policy state; what is left out keeps its default.
fn read_policy_state(f: &Fields) -> ReadResult<PolicyState> {
    let defaults = PolicyState::default();
    let flag = |name: &'static str, default: bool| Ok::<_, String>(f.opt_bool(name)?.unwrap_or(default));
    Ok(PolicyState {
        has_provider: flag("hasProvider", defaults.has_provider)?,
        online: flag("online", defaults.online)?,
        syncing: flag("syncing", defaults.syncing)?,
        blocked_until_ms: f.opt_uint("blockedUntilMs")?,
        last_manual_request_ms: f.opt_uint("lastManualRequestMs")?,
        last_sync_completed_ms: f.opt_uint("lastSyncCompletedMs")?,
        last_sync_started_ms: f.opt_uint("lastSyncStartedMs")?,
        pending_ops: f.opt_uint("pendingOps")?.unwrap_or(defaults.pending_ops),
        follower: flag("follower", defaults.follower)?,
    })
}

/// `{ policy, progress?: { current, total }, lastError?, failedOps }`.
fn read_status_input(f: &Fields) -> ReadResult<StatusInput> {
    Ok(StatusInput {
        policy: match f.opt_object("policy")? {
            Some(policy) => read_policy_state(&policy)?,
            None => PolicyState::default(),
        },
        progress: match f.opt_object("progress")? {
            Some(p) => Some(SyncProgress { current: p.uint("current")?, total: p.uint("total")? }),
            None => None,
        },
        last_error: f.opt_object("lastError")?.map(|e| read_sync_error(&e)).transpose()?,
        failed_ops: f.opt_uint("failedOps")?.unwrap_or(0),
    })
}

/// `evaluate(state, trigger, nowMs, config?)`: `{ action: 'start' | 'skip' | 'block', reason,
/// cooldownMs?, blockedUntilMs? }`.
#[wasm_bindgen(js_name = evaluatePolicy)]
pub fn evaluate_policy(
    state: JsValue,
    trigger: &str,
    now_ms: f64,
    policy_config: JsValue,
) -> Result<JsValue, JsValue> {
    let run = || -> SyncResult<JsValue> {
        let state = Fields::of(state)
            .and_then(|f| read_policy_state(&f))
            .map_err(read_error("policy state", ErrorCode::InvalidArgument))?;
        let trigger = SyncTrigger::parse(trigger)
            .ok_or_else(|| SyncError::invalid_argument(format!("unknown trigger {}", Quoted(trigger))))?;
        let now = synclane_js::interop::version_arg(now_ms.floor(), "nowMs")?;
        Ok(crate::results::decision(&evaluate(&state, trigger, now, &config(policy_config)?)))
    };
    run().map_err(to_js_error)
}

/// The status view-model from `{ policy, progress?, lastError?, failedOps }`.
#[wasm_bindgen(js_name = deriveStatus)]
pub fn derive_status_js(input: JsValue, now_ms: f64, policy_config: JsValue) -> Result<JsValue, JsValue> {
    let run = || -> SyncResult<JsValue> {
        let input = Fields::of(input)
            .and_then(|f| read_status_input(&f))
            .map_err(read_error("status input", ErrorCode::InvalidArgument))?;
        let now = synclane_js::interop::version_arg(now_ms.floor(), "nowMs")?;
        Ok(crate::results::status(&derive_status(&input, now, &config(policy_config)?)))
    };
    run().map_err(to_js_error)
}
