//! `SyncClock`: a device's hybrid logical clock for JavaScript, on the browser's clock. Tools and
//! custom providers use it to stamp ops exactly as the engine does.

use synclane_core::hlc::{ClockPolicy, HybridClock, MergeOutcome};
use synclane_js::error::to_js_error;
use synclane_js::interop::now_ms;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct SyncClock {
    inner: HybridClock,
}

#[wasm_bindgen]
impl SyncClock {
    /// A clock for `deviceId` with the default skew policy (5 min drift, 24 h rejection).
    #[wasm_bindgen(constructor)]
    pub fn new(device_id: &str) -> Result<SyncClock, JsValue> {
        let inner =
            HybridClock::new(device_id, Box::new(now_ms), ClockPolicy::default()).map_err(to_js_error)?;
        Ok(SyncClock { inner })
    }

    /// A new stamp string, greater than every stamp this clock made or merged.
    pub fn now(&self) -> String {
        self.inner.now().encode()
    }

    /// Merges a remote stamp. Returns how many milliseconds it was ahead when that exceeded
    /// the drift bound (the skew is reported, the clock stops at the bound), or 0.
    pub fn merge(&self, hlc: &str) -> Result<f64, JsValue> {
        match self.inner.merge(hlc).map_err(to_js_error)? {
            MergeOutcome::Merged => Ok(0.0),
            MergeOutcome::Skewed { ahead_ms } => Ok(ahead_ms as f64),
        }
    }
}
