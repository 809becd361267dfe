//! The core's sync policy and status view-model, for the TypeScript loop: it keeps the policy
//! state and asks these functions; it never interprets timestamps itself.

use crate::error::to_js_error;
use crate::interop::{from_js, to_js};
use synclane_core::policy::{evaluate, PolicyConfig, PolicyState, SyncTrigger};
use synclane_core::status::{derive_status, StatusInput};
use synclane_core::{ErrorCode, SyncError, SyncResult};
use wasm_bindgen::prelude::*;

fn config(value: JsValue) -> SyncResult<PolicyConfig> {
    if value.is_undefined() || value.is_null() {
        Ok(PolicyConfig::default())
    } else {
        from_js(value, "policy config", ErrorCode::InvalidArgument)
    }
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
        let state: PolicyState = from_js(state, "policy state", ErrorCode::InvalidArgument)?;
        let trigger = SyncTrigger::parse(trigger)
            .ok_or_else(|| SyncError::invalid_argument(format!("unknown trigger {trigger:?}")))?;
        let now = crate::interop::version_arg(now_ms.floor(), "nowMs")?;
        to_js(&evaluate(&state, trigger, now, &config(policy_config)?))
    };
    run().map_err(to_js_error)
}

/// The status view-model from `{ policy, progress?, lastError?, failedOps }`.
#[wasm_bindgen(js_name = deriveStatus)]
pub fn derive_status_js(input: JsValue, now_ms: f64, policy_config: JsValue) -> Result<JsValue, JsValue> {
    let run = || -> SyncResult<JsValue> {
        let input: StatusInput = from_js(input, "status input", ErrorCode::InvalidArgument)?;
        let now = crate::interop::version_arg(now_ms.floor(), "nowMs")?;
        to_js(&derive_status(&input, now, &config(policy_config)?))
    };
    run().map_err(to_js_error)
}
