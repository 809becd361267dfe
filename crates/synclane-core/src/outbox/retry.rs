//! The retry schedule, and what a push outcome does to an entry: removed, retried later with
//! backoff and jitter, or failed.

use super::entry::OutboxEntry;
use crate::error::{ErrorCode, SyncError, SyncResult};
use serde::{Deserialize, Serialize};

/// The retry schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Delay before attempt n+1 after n failures; the last value repeats.
    pub schedule_ms: Vec<u64>,
    /// Each delay is scaled by a factor in [1 - jitter, 1 + jitter] so that many devices
    /// failing at once do not retry in lockstep.
    pub jitter: f64,
    /// Failures after which an op is failed.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { schedule_ms: vec![250, 1000, 3000, 5000], jitter: 0.2, max_attempts: 8 }
    }
}

impl RetryPolicy {
    /// Checks the policy is usable; a bad one is refused rather than clamped silently.
    pub fn validate(&self) -> SyncResult<()> {
        if self.schedule_ms.is_empty() {
            return Err(SyncError::invalid_argument("retry schedule must not be empty"));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(SyncError::invalid_argument("retry jitter must be between 0 and 1"));
        }
        if self.max_attempts == 0 {
            return Err(SyncError::invalid_argument("maxAttempts must be at least 1"));
        }
        Ok(())
    }

    /// The delay after the `failures`-th failure (1-based). `random` is uniform in [0, 1);
    /// 0.5 gives the nominal delay.
    pub fn delay_ms(&self, failures: u32, random: f64) -> u64 {
        let index = (failures.max(1) as usize - 1).min(self.schedule_ms.len().saturating_sub(1));
        let base = self.schedule_ms.get(index).copied().unwrap_or(0) as f64;
        let random = if random.is_finite() { random.clamp(0.0, 1.0) } else { 0.5 };
        let factor = 1.0 - self.jitter + 2.0 * self.jitter * random;
        (base * factor).round().max(0.0) as u64
    }
}

/// What a push did for one op, as the outbox sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    /// The server acknowledged the op (applied, duplicate or superseded).
    Acknowledged,
    /// The server refused this op; the error's code says whether a retry may help.
    Failed(SyncError),
}

/// What to do with an entry after a push outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Remove,
    RetryAt { at_ms: u64, attempts: u32, error: SyncError },
    Fail { attempts: u32, error: SyncError },
}

/// Decides an in-flight entry's fate after its push. Rate limits wait for the time the server
/// asked for and do not count as an attempt: the op did nothing wrong.
pub fn transition<P>(
    entry: &OutboxEntry<P>,
    outcome: &PushOutcome,
    now_ms: u64,
    random: f64,
    retry: &RetryPolicy,
) -> Transition {
    match outcome {
        PushOutcome::Acknowledged => Transition::Remove,
        PushOutcome::Failed(error) if error.code == ErrorCode::RateLimited => {
            let wait = error.retry_after_ms.unwrap_or_else(|| retry.delay_ms(entry.attempts.max(1), random));
            Transition::RetryAt {
                at_ms: now_ms.saturating_add(wait),
                attempts: entry.attempts,
                error: error.clone(),
            }
        }
        PushOutcome::Failed(error) => {
            let attempts = entry.attempts.saturating_add(1);
            if !error.is_transient() || attempts >= retry.max_attempts {
                Transition::Fail { attempts, error: error.clone() }
            } else {
                let at_ms = now_ms.saturating_add(retry.delay_ms(attempts, random));
                Transition::RetryAt { at_ms, attempts, error: error.clone() }
            }
        }
    }
}
