//! What the policy is asked about and what it knows: the trigger of a request, the windows
//! of its rules, and the caller's state.

use serde::{Deserialize, Serialize};

/// What asked for a sync. The string form (`as_str`, and serde) is the name JavaScript uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncTrigger {
    /// The user asked for a sync (a "sync now" button).
    Manual,
    /// The periodic background timer fired.
    Interval,
    /// The engine just opened.
    Startup,
    /// The browser reported that connectivity came back.
    Online,
    /// The app wrote locally, so the outbox has something to push.
    LocalWrite,
    /// The page became visible again.
    Visibility,
    /// The server signalled that it has new changes for this workspace.
    Remote,
    /// Something the engine waited for came due: a backed-off op, the end of a rate limit, or
    /// the retry of a sync that failed on a transient error.
    Retry,
}

impl SyncTrigger {
    /// Every trigger, for exhaustive tests and for exporting the list to other languages.
    pub const ALL: [SyncTrigger; 8] = [
        SyncTrigger::Manual,
        SyncTrigger::Interval,
        SyncTrigger::Startup,
        SyncTrigger::Online,
        SyncTrigger::LocalWrite,
        SyncTrigger::Visibility,
        SyncTrigger::Remote,
        SyncTrigger::Retry,
    ];

    /// The stable wire name, e.g. `localWrite`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncTrigger::Manual => "manual",
            SyncTrigger::Interval => "interval",
            SyncTrigger::Startup => "startup",
            SyncTrigger::Online => "online",
            SyncTrigger::LocalWrite => "localWrite",
            SyncTrigger::Visibility => "visibility",
            SyncTrigger::Remote => "remote",
            SyncTrigger::Retry => "retry",
        }
    }

    /// Parses a wire name back into a trigger (exact, case-sensitive match).
    pub fn parse(name: &str) -> Option<SyncTrigger> {
        SyncTrigger::ALL.into_iter().find(|trigger| trigger.as_str() == name)
    }
}

/// The tunable windows of the policy. Every window of 0 disables its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyConfig {
    /// Minimum time between two started manual syncs, so that a user hammering the button
    /// does not hammer the provider. Default 5 000 ms.
    pub manual_cooldown_ms: u64,
    /// An interval trigger is skipped when the last successful sync finished less than this
    /// long ago: a sync that just happened for another reason already did the timer's work.
    /// Default 30 000 ms.
    pub interval_ms: u64,
    /// A local write does not start a sync when the previous one started less than this long
    /// ago, so that a burst of writes is pushed in one sync rather than one sync per write.
    /// Default 0 (every write may start a sync at once).
    pub local_write_debounce_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig { manual_cooldown_ms: 5_000, interval_ms: 30_000, local_write_debounce_ms: 0 }
    }
}

/// What the policy needs to know about the engine. Owned by the caller, which keeps it up to
/// date (connectivity, the active sync, completions) and calls
/// [`record_request`](super::record_request) after every [`evaluate`](super::evaluate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyState {
    /// Whether a sync provider is configured at all.
    pub has_provider: bool,
    /// Whether the browser believes it is online.
    pub online: bool,
    /// Whether a sync of this workspace is running now.
    pub syncing: bool,
    /// The provider asked not to be called before this time (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_until_ms: Option<u64>,
    /// When a manual sync was last started (not merely requested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_manual_request_ms: Option<u64>,
    /// When the last successful sync finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_completed_ms: Option<u64>,
    /// When the last sync started, successful or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_started_ms: Option<u64>,
    /// How many ops wait in the outbox.
    pub pending_ops: u64,
    /// Whether another tab of the app holds the workspace's sync loop (this tab runs its
    /// loop but is not the leader).
    pub follower: bool,
}

impl Default for PolicyState {
    /// A fresh engine: no provider yet, and online until the browser says otherwise (assuming
    /// offline would stall the first sync until an `online` event that may never come).
    fn default() -> Self {
        PolicyState {
            has_provider: false,
            online: true,
            syncing: false,
            blocked_until_ms: None,
            last_manual_request_ms: None,
            last_sync_completed_ms: None,
            last_sync_started_ms: None,
            pending_ops: 0,
            follower: false,
        }
    }
}
