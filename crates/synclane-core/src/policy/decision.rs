//! What the policy answers: start, skip or block, why, and when the same request would pass.

use serde::{Deserialize, Serialize};

/// What to do with a request to sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncAction {
    /// Start a sync now.
    Start,
    /// Do nothing now: the request is redundant or too early, and a later trigger will do.
    Skip,
    /// Syncing is impossible until the condition in the reason changes.
    Block,
}

impl SyncAction {
    /// The stable wire name, e.g. `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncAction::Start => "start",
            SyncAction::Skip => "skip",
            SyncAction::Block => "block",
        }
    }
}

/// Why the policy decided what it did. The string form is part of the public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    /// Nothing stands in the way.
    Ready,
    /// No sync provider is configured.
    NoProvider,
    /// The browser is offline.
    Offline,
    /// The provider asked to slow down and its delay has not passed.
    RateLimited,
    /// A sync of this workspace is already running.
    AlreadySyncing,
    /// A manual sync was started too recently.
    ManualCooldown,
    /// An interval tick came too soon after a successful sync.
    RecentlySynced,
    /// A local write asked for a sync but the outbox is empty.
    NothingToPush,
    /// A local write came too soon after the last sync started; it will ride with a later one.
    Debounced,
    /// Another tab of the app runs the sync loop for this workspace; the request goes to it.
    OtherTab,
}

impl DecisionReason {
    /// Every reason, for exhaustive tests and for exporting the list to other languages.
    pub const ALL: [DecisionReason; 10] = [
        DecisionReason::Ready,
        DecisionReason::NoProvider,
        DecisionReason::Offline,
        DecisionReason::RateLimited,
        DecisionReason::AlreadySyncing,
        DecisionReason::ManualCooldown,
        DecisionReason::RecentlySynced,
        DecisionReason::NothingToPush,
        DecisionReason::Debounced,
        DecisionReason::OtherTab,
    ];

    /// The stable wire name, e.g. `rate_limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionReason::Ready => "ready",
            DecisionReason::NoProvider => "no_provider",
            DecisionReason::Offline => "offline",
            DecisionReason::RateLimited => "rate_limited",
            DecisionReason::AlreadySyncing => "already_syncing",
            DecisionReason::ManualCooldown => "manual_cooldown",
            DecisionReason::RecentlySynced => "recently_synced",
            DecisionReason::NothingToPush => "nothing_to_push",
            DecisionReason::Debounced => "debounced",
            DecisionReason::OtherTab => "other_tab",
        }
    }

    /// Parses a wire name back into a reason.
    pub fn parse(name: &str) -> Option<DecisionReason> {
        DecisionReason::ALL.into_iter().find(|reason| reason.as_str() == name)
    }
}

/// The outcome of [`evaluate`](super::evaluate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncDecision {
    /// What to do.
    pub action: SyncAction,
    /// Why.
    pub reason: DecisionReason,
    /// For a wait that ends by itself: how many ms until the same request would pass this rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_ms: Option<u64>,
    /// For a rate limit: the time (Unix ms) the provider may be called again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_until_ms: Option<u64>,
}

impl SyncDecision {
    /// Start a sync now.
    pub fn start() -> Self {
        SyncDecision {
            action: SyncAction::Start,
            reason: DecisionReason::Ready,
            cooldown_ms: None,
            blocked_until_ms: None,
        }
    }

    /// Skip the request, with no known time at which it would pass.
    pub fn skip(reason: DecisionReason) -> Self {
        SyncDecision { action: SyncAction::Skip, reason, cooldown_ms: None, blocked_until_ms: None }
    }

    /// Skip the request; the same request would pass this rule in `cooldown_ms`.
    pub fn skip_for(reason: DecisionReason, cooldown_ms: u64) -> Self {
        SyncDecision { cooldown_ms: Some(cooldown_ms), ..SyncDecision::skip(reason) }
    }

    /// Block: syncing is impossible until the condition in `reason` changes.
    pub fn block(reason: DecisionReason) -> Self {
        SyncDecision { action: SyncAction::Block, reason, cooldown_ms: None, blocked_until_ms: None }
    }

    /// Block because the provider rate-limited us until `blocked_until_ms`; `cooldown_ms` is
    /// the time left from `now_ms` (0 if that time has already passed).
    pub fn rate_limited(blocked_until_ms: u64, now_ms: u64) -> Self {
        SyncDecision {
            action: SyncAction::Block,
            reason: DecisionReason::RateLimited,
            cooldown_ms: Some(blocked_until_ms.saturating_sub(now_ms)),
            blocked_until_ms: Some(blocked_until_ms),
        }
    }

    /// Whether the caller should start a sync now.
    pub fn is_start(&self) -> bool {
        self.action == SyncAction::Start
    }
}
