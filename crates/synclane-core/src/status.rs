//! The status view-model: the one small, serializable picture of sync that a UI shows.
//!
//! A UI should depend on [`SyncStatus`] alone, never on the engine's internals, so that the
//! engine can change without breaking apps. The view-model is derived purely from state by
//! [`derive_status`]; whether syncing is possible right now comes from the same
//! [`policy::evaluate`](crate::policy::evaluate) that decides real syncs, so the "sync now"
//! button can never disagree with what pressing it would do.
//!
//! Errors reach the user only through [`normalize_error`], which turns every [`ErrorCode`]
//! into a short fixed sentence. Raw messages from providers and servers (stack traces, HTTP
//! bodies, internal identifiers) are for logs, not for people, and never pass through here.

use crate::policy::{evaluate, PolicyConfig, PolicyState, SyncTrigger};
use crate::{ErrorCode, SyncError};
use serde::{Deserialize, Serialize};

/// The one-word state of sync, in order of what matters most to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatusState {
    /// Nothing is running and the last sync, if any, succeeded.
    Idle,
    /// A sync is running.
    Syncing,
    /// Sync cannot run: the provider rate-limited us, or there is no provider.
    Blocked,
    /// The last sync failed; see `last_sync_error`.
    Error,
}

impl SyncStatusState {
    /// The stable wire name, e.g. `syncing`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatusState::Idle => "idle",
            SyncStatusState::Syncing => "syncing",
            SyncStatusState::Blocked => "blocked",
            SyncStatusState::Error => "error",
        }
    }
}

/// How far the running sync has come, in units the engine chooses (ops, batches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    /// Units done.
    pub current: u64,
    /// Units in all; may grow while the sync runs.
    pub total: u64,
}

/// A failure as a user may see it: the stable code to branch on, and a plain sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusError {
    /// The code of the underlying error.
    pub code: ErrorCode,
    /// A short sentence for people, fixed per code (see [`user_message`]).
    pub message: String,
}

/// Everything a UI needs to show about sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The one-word state.
    pub state: SyncStatusState,
    /// Whether a manual sync requested now would start (enables a "sync now" button).
    pub can_sync_now: bool,
    /// When a manual sync would start after a wait that ends by itself: how many ms are left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_ms: Option<u64>,
    /// While rate-limited: the time (Unix ms) the provider may be called again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_until: Option<u64>,
    /// While syncing, if the engine reports it: how far the sync has come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<SyncProgress>,
    /// When the last successful sync finished (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<u64>,
    /// Why the last sync failed, in words for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_error: Option<StatusError>,
    /// Ops waiting in the outbox.
    pub pending_ops: u64,
    /// Ops the server refused for good.
    pub failed_ops: u64,
    /// Whether the browser believes it is online.
    pub online: bool,
}

/// What [`derive_status`] reads: the policy state plus what only the status needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusInput {
    /// The same state the policy decides on.
    pub policy: PolicyState,
    /// The running sync's progress, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<SyncProgress>,
    /// The error of the last sync; the caller clears it when a sync succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<SyncError>,
    /// Ops the server refused for good.
    pub failed_ops: u64,
}

/// The fixed user-facing sentence for `code`.
///
/// The match is exhaustive on purpose (no `_` arm): adding an [`ErrorCode`] does not compile
/// until someone has written what users should read about it.
pub fn user_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidChange => "A change could not be synced because it is not valid.",
        ErrorCode::InvalidPayload => "A change could not be synced because its content is not valid.",
        ErrorCode::UnknownTable => {
            "A change belongs to data this version of the app does not know. Updating the app may help."
        }
        ErrorCode::ClockSkew => "This device's clock seems wrong. Check its date and time settings.",
        ErrorCode::InvalidArgument => {
            "The app made a request that could not be handled. Reloading the page may help."
        }
        ErrorCode::CursorExpired => "This device was away for a long time; it is catching up.",
        ErrorCode::RateLimited => "The server asked us to slow down. Sync will resume by itself.",
        ErrorCode::Unauthorized => "Your session has expired. Sign in again to keep syncing.",
        ErrorCode::Forbidden => "Your account does not have access to this workspace.",
        ErrorCode::Rejected => "The server refused a change, so it will not be synced.",
        ErrorCode::PayloadTooLarge => "A change is too large to sync.",
        ErrorCode::QueueFull => "Too many changes are waiting to sync. Reconnect so they can be sent.",
        ErrorCode::Network => {
            "You are offline or the server cannot be reached. Changes are saved and will sync later."
        }
        ErrorCode::Timeout => "The server is taking too long to answer. Sync will try again.",
        ErrorCode::ServerError => "The server had a problem. Sync will try again later.",
        ErrorCode::QuotaExceeded => {
            "This device is out of storage space. Free some space to keep saving changes."
        }
        ErrorCode::Storage => "Saving on this device failed. Reloading the page may help.",
        ErrorCode::NoProvider => "Sync is not set up. Changes are saved on this device only.",
        ErrorCode::Closed => "Sync has stopped because the app was closed. Reload the page to continue.",
        ErrorCode::Internal => "Something unexpected went wrong while syncing. Reloading the page may help.",
    }
}

/// Turns an error into what a user may see: its code and the fixed sentence for that code.
/// The error's own message is deliberately dropped.
pub fn normalize_error(err: &SyncError) -> StatusError {
    StatusError { code: err.code, message: user_message(err.code).to_owned() }
}

/// Derives the status view-model from state at `now_ms`.
///
/// The state is chosen by what the user most needs to know: a running sync first (it may fix
/// everything else), then a block (nothing will happen until it lifts), then the last error,
/// and otherwise idle. Being offline is not a state of its own: `online` says it, and the
/// error of a failed sync, if any, already explains it.
pub fn derive_status(input: &StatusInput, now_ms: u64, config: &PolicyConfig) -> SyncStatus {
    let policy = &input.policy;
    // A rate limit whose time has come is over, exactly as `evaluate` sees it.
    let blocked_until = policy.blocked_until_ms.filter(|&until| until > now_ms);
    let state = if policy.syncing {
        SyncStatusState::Syncing
    } else if blocked_until.is_some() || !policy.has_provider {
        SyncStatusState::Blocked
    } else if input.last_error.is_some() {
        SyncStatusState::Error
    } else {
        SyncStatusState::Idle
    };
    let manual = evaluate(policy, SyncTrigger::Manual, now_ms, config);
    SyncStatus {
        state,
        can_sync_now: manual.is_start(),
        cooldown_ms: manual.cooldown_ms,
        blocked_until,
        // Progress left over from a finished sync would show a stuck bar.
        progress: if policy.syncing { input.progress } else { None },
        last_synced_at: policy.last_sync_completed_ms,
        last_sync_error: input.last_error.as_ref().map(normalize_error),
        pending_ops: policy.pending_ops,
        failed_ops: input.failed_ops,
        online: policy.online,
    }
}

#[cfg(test)]
mod tests;
