//! The sync policy: whether a request to sync should start now, wait, or cannot run at all.
//!
//! Every request to sync, whatever asked for it (a button, a timer, the page coming back into
//! view, a local write, a push from the server), goes through the one pure function
//! [`evaluate`]. Callers never interpret timestamps themselves, so rate limits, cooldowns and
//! the "one sync at a time" rule are decided in one place, the same way for every trigger, and
//! can be tested without a browser or a clock. Time is always passed in as `now_ms` (Unix
//! milliseconds); nothing here reads a clock.
//!
//! A clock can go backwards (the user fixes the date, a VM resumes). Every elapsed time is
//! computed with saturation, so a stored timestamp in the future counts as "no time has
//! passed": the request waits, but never for longer than its configured window, and
//! [`record_request`] pulls such timestamps back to `now` so that the wait happens only once.

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
/// date (connectivity, the active sync, completions) and calls [`record_request`] after every
/// [`evaluate`].
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

/// The outcome of [`evaluate`].
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

/// How much of `window_ms` is left since `since_ms`, or `None` if the window has passed (or
/// there is no `since_ms`, or the window is 0).
///
/// A `since_ms` in the future means the clock went backwards: elapsed time counts as 0, so the
/// answer is at most the whole window, never more, whatever the clock did.
fn remaining(window_ms: u64, since_ms: Option<u64>, now_ms: u64) -> Option<u64> {
    let elapsed = now_ms.saturating_sub(since_ms?);
    let left = window_ms.saturating_sub(elapsed);
    (left > 0).then_some(left)
}

/// Decides what to do with a request to sync from `trigger` at `now_ms`.
///
/// The rules run in a fixed order and the first that applies decides:
///
/// 1. no provider: `Block(NoProvider)`;
/// 2. offline: `Block(Offline)`;
/// 3. rate-limited (`blocked_until_ms > now_ms`): `Block(RateLimited)`;
/// 4. another tab runs the loop: `Skip(OtherTab)`;
/// 5. a sync is running: `Skip(AlreadySyncing)`;
/// 6. to 9. the rule of the trigger (cooldown, freshness, debounce), else `Start(Ready)`.
///
/// Hard conditions come before soft ones so that the reason shown is the one that matters:
/// a missing provider or network must be fixed by someone and no amount of waiting helps, so
/// they are reported even when a cooldown would also apply. The rate limit comes before
/// "already syncing" because it is the longer, provider-imposed wait, and it says when to try
/// again. Per-trigger rules come last since they only judge whether *this* request is
/// redundant, which is meaningless when no sync could start anyway.
pub fn evaluate(
    state: &PolicyState,
    trigger: SyncTrigger,
    now_ms: u64,
    config: &PolicyConfig,
) -> SyncDecision {
    // 1. Nothing to sync with.
    if !state.has_provider {
        return SyncDecision::block(DecisionReason::NoProvider);
    }
    // 2. An `Online` trigger needs no exception here: the caller sets `online` from the same
    // event before evaluating, so a genuine reconnection passes this rule.
    if !state.online {
        return SyncDecision::block(DecisionReason::Offline);
    }
    // 3. The block ends exactly at `blocked_until_ms`, and a stale one is simply ignored, so
    // the caller need not clear it.
    if let Some(until) = state.blocked_until_ms {
        if until > now_ms {
            return SyncDecision::rate_limited(until, now_ms);
        }
    }
    // 4. One tab pushes the shared outbox; two would push the same ops twice. The caller
    // hands the request to that tab.
    if state.follower {
        return SyncDecision::skip(DecisionReason::OtherTab);
    }
    // 5. One active sync per workspace: a second one would push the same outbox twice.
    if state.syncing {
        return SyncDecision::skip(DecisionReason::AlreadySyncing);
    }
    match trigger {
        // 6. Manual requests bypass the freshness rule (the user asked, so they get a sync even
        // right after a background one) but not their own cooldown.
        SyncTrigger::Manual => {
            match remaining(config.manual_cooldown_ms, state.last_manual_request_ms, now_ms) {
                Some(left) => SyncDecision::skip_for(DecisionReason::ManualCooldown, left),
                None => SyncDecision::start(),
            }
        }
        // 7. A timer tick right after a successful sync would fetch nothing new.
        SyncTrigger::Interval => match remaining(config.interval_ms, state.last_sync_completed_ms, now_ms) {
            Some(left) => SyncDecision::skip_for(DecisionReason::RecentlySynced, left),
            None => SyncDecision::start(),
        },
        // 8. A write only needs a sync to push it; an empty outbox means it was pushed already.
        SyncTrigger::LocalWrite => {
            if state.pending_ops == 0 {
                return SyncDecision::skip(DecisionReason::NothingToPush);
            }
            match remaining(config.local_write_debounce_ms, state.last_sync_started_ms, now_ms) {
                Some(left) => SyncDecision::skip_for(DecisionReason::Debounced, left),
                None => SyncDecision::start(),
            }
        }
        // 9. These mean the world may have changed (we were away, or the server says so), or
        // that work the engine deferred is due, so they always deserve a sync once the hard
        // rules pass.
        SyncTrigger::Startup
        | SyncTrigger::Online
        | SyncTrigger::Visibility
        | SyncTrigger::Remote
        | SyncTrigger::Retry => SyncDecision::start(),
    }
}

/// Records in `state` what the caller did with a request; call it after every [`evaluate`].
///
/// A *started* manual request sets `last_manual_request_ms` to `now_ms`, which opens the
/// manual cooldown. A skipped or blocked one changes nothing, so that a user pressing the
/// button again and again during the cooldown does not push its end further away.
///
/// Whatever the decision, stored timestamps later than `now_ms` (the clock went backwards) are
/// pulled back to `now_ms`. Without this, a clock set back by a day would hold the manual
/// cooldown and the interval freshness for a day; with it, each waits at most one window. The
/// provider's `blocked_until_ms` is left alone: it is a promise about the future by design.
pub fn record_request(state: &mut PolicyState, trigger: SyncTrigger, decision: &SyncDecision, now_ms: u64) {
    let stamps = [
        &mut state.last_manual_request_ms,
        &mut state.last_sync_completed_ms,
        &mut state.last_sync_started_ms,
    ];
    for at in stamps.into_iter().flatten() {
        *at = (*at).min(now_ms);
    }
    if trigger == SyncTrigger::Manual && decision.is_start() {
        state.last_manual_request_ms = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A state in which every trigger may start: provider, online, idle, one pending op.
    fn ready() -> PolicyState {
        PolicyState { has_provider: true, pending_ops: 1, ..PolicyState::default() }
    }

    fn cfg() -> PolicyConfig {
        PolicyConfig::default()
    }

    fn eval(state: &PolicyState, trigger: SyncTrigger, now_ms: u64) -> SyncDecision {
        evaluate(state, trigger, now_ms, &cfg())
    }

    #[test]
    fn defaults_are_as_documented() {
        let config = PolicyConfig::default();
        assert_eq!(
            (config.manual_cooldown_ms, config.interval_ms, config.local_write_debounce_ms),
            (5_000, 30_000, 0)
        );
        let state = PolicyState::default();
        assert!(!state.has_provider);
        assert!(state.online);
        assert!(!state.syncing);
        assert_eq!(state.pending_ops, 0);
        assert_eq!(state.blocked_until_ms, None);
    }

    #[test]
    fn every_trigger_starts_when_nothing_stands_in_the_way() {
        for trigger in SyncTrigger::ALL {
            let decision = eval(&ready(), trigger, 100_000);
            assert_eq!(decision, SyncDecision::start(), "{}", trigger.as_str());
            assert!(decision.is_start());
        }
    }

    #[test]
    fn rule_1_no_provider_blocks_every_trigger() {
        let state = PolicyState { has_provider: false, ..ready() };
        for trigger in SyncTrigger::ALL {
            let decision = eval(&state, trigger, 100_000);
            assert_eq!(decision, SyncDecision::block(DecisionReason::NoProvider), "{}", trigger.as_str());
            assert!(!decision.is_start());
        }
    }

    #[test]
    fn rule_2_offline_blocks_every_trigger() {
        let state = PolicyState { online: false, ..ready() };
        for trigger in SyncTrigger::ALL {
            assert_eq!(eval(&state, trigger, 100_000), SyncDecision::block(DecisionReason::Offline));
        }
    }

    #[test]
    fn online_trigger_starts_once_the_caller_has_updated_online() {
        let mut state = PolicyState { online: false, ..ready() };
        // An online event evaluated before the caller updated the flag is still blocked ...
        assert_eq!(eval(&state, SyncTrigger::Online, 1_000).reason, DecisionReason::Offline);
        // ... and starts once it has.
        state.online = true;
        assert_eq!(eval(&state, SyncTrigger::Online, 1_000), SyncDecision::start());
    }

    #[test]
    fn rule_3_rate_limit_blocks_with_the_time_left() {
        let state = PolicyState { blocked_until_ms: Some(10_000), ..ready() };
        for trigger in SyncTrigger::ALL {
            let decision = eval(&state, trigger, 7_500);
            assert_eq!(decision.action, SyncAction::Block);
            assert_eq!(decision.reason, DecisionReason::RateLimited);
            assert_eq!(decision.blocked_until_ms, Some(10_000));
            assert_eq!(decision.cooldown_ms, Some(2_500));
        }
    }

    #[test]
    fn rate_limit_expires_exactly_at_blocked_until() {
        let state = PolicyState { blocked_until_ms: Some(10_000), ..ready() };
        assert_eq!(eval(&state, SyncTrigger::Manual, 9_999).cooldown_ms, Some(1));
        assert_eq!(eval(&state, SyncTrigger::Manual, 10_000), SyncDecision::start());
        assert_eq!(eval(&state, SyncTrigger::Manual, 50_000), SyncDecision::start());
    }

    #[test]
    fn rule_4_a_follower_tab_hands_every_request_over() {
        let state = PolicyState { follower: true, syncing: true, ..ready() };
        for trigger in SyncTrigger::ALL {
            assert_eq!(eval(&state, trigger, 100_000), SyncDecision::skip(DecisionReason::OtherTab));
        }
    }

    #[test]
    fn rule_5_one_sync_at_a_time() {
        let state = PolicyState { syncing: true, ..ready() };
        for trigger in SyncTrigger::ALL {
            assert_eq!(eval(&state, trigger, 100_000), SyncDecision::skip(DecisionReason::AlreadySyncing));
        }
    }

    #[test]
    fn rules_apply_in_order() {
        let all_bad = PolicyState {
            has_provider: false,
            online: false,
            syncing: true,
            blocked_until_ms: Some(u64::MAX),
            last_manual_request_ms: Some(99_999),
            last_sync_completed_ms: Some(99_999),
            last_sync_started_ms: Some(99_999),
            pending_ops: 0,
            follower: true,
        };
        let config = PolicyConfig { local_write_debounce_ms: 1_000, ..cfg() };
        let reason = |state: &PolicyState, trigger| evaluate(state, trigger, 100_000, &config).reason;
        for trigger in SyncTrigger::ALL {
            assert_eq!(reason(&all_bad, trigger), DecisionReason::NoProvider);
            let state = PolicyState { has_provider: true, ..all_bad.clone() };
            // Offline wins over rate-limited and syncing.
            assert_eq!(reason(&state, trigger), DecisionReason::Offline);
            let state = PolicyState { online: true, ..state };
            // Rate-limited wins over syncing and every per-trigger rule.
            assert_eq!(reason(&state, trigger), DecisionReason::RateLimited);
            let state = PolicyState { blocked_until_ms: None, ..state };
            // Another tab's loop wins over syncing: this tab pushes nothing.
            assert_eq!(reason(&state, trigger), DecisionReason::OtherTab);
            let state = PolicyState { follower: false, ..state };
            // Syncing wins over every per-trigger rule.
            assert_eq!(reason(&state, trigger), DecisionReason::AlreadySyncing);
        }
        let state = PolicyState {
            has_provider: true,
            online: true,
            syncing: false,
            blocked_until_ms: None,
            follower: false,
            ..all_bad
        };
        assert_eq!(reason(&state, SyncTrigger::Manual), DecisionReason::ManualCooldown);
        assert_eq!(reason(&state, SyncTrigger::Interval), DecisionReason::RecentlySynced);
        // An empty outbox is reported before the debounce.
        assert_eq!(reason(&state, SyncTrigger::LocalWrite), DecisionReason::NothingToPush);
        for trigger in [
            SyncTrigger::Startup,
            SyncTrigger::Online,
            SyncTrigger::Visibility,
            SyncTrigger::Remote,
            SyncTrigger::Retry,
        ] {
            assert_eq!(reason(&state, trigger), DecisionReason::Ready);
        }
    }

    #[test]
    fn rule_6_manual_cooldown_reports_the_time_left() {
        let state = PolicyState { last_manual_request_ms: Some(1_000), ..ready() };
        assert_eq!(
            eval(&state, SyncTrigger::Manual, 3_000),
            SyncDecision::skip_for(DecisionReason::ManualCooldown, 3_000)
        );
        assert_eq!(eval(&state, SyncTrigger::Manual, 1_000).cooldown_ms, Some(5_000));
        assert_eq!(eval(&state, SyncTrigger::Manual, 5_999).cooldown_ms, Some(1));
        // The cooldown ends exactly one window after the last start.
        assert_eq!(eval(&state, SyncTrigger::Manual, 6_000), SyncDecision::start());
        // A cooldown of 0 disables the rule.
        let config = PolicyConfig { manual_cooldown_ms: 0, ..cfg() };
        assert!(evaluate(&state, SyncTrigger::Manual, 1_000, &config).is_start());
    }

    #[test]
    fn manual_bypasses_interval_freshness_and_other_triggers_ignore_manual_cooldown() {
        let state = PolicyState {
            last_sync_completed_ms: Some(9_000),
            last_manual_request_ms: Some(9_000),
            ..ready()
        };
        let state_fresh = PolicyState { last_manual_request_ms: None, ..state.clone() };
        assert!(eval(&state_fresh, SyncTrigger::Manual, 10_000).is_start());
        for trigger in [
            SyncTrigger::Startup,
            SyncTrigger::Online,
            SyncTrigger::Visibility,
            SyncTrigger::Remote,
            SyncTrigger::LocalWrite,
        ] {
            assert!(eval(&state, trigger, 10_000).is_start(), "{}", trigger.as_str());
        }
    }

    #[test]
    fn rule_7_interval_skips_right_after_a_successful_sync() {
        let state = PolicyState { last_sync_completed_ms: Some(100_000), ..ready() };
        assert_eq!(
            eval(&state, SyncTrigger::Interval, 110_000),
            SyncDecision::skip_for(DecisionReason::RecentlySynced, 20_000)
        );
        assert_eq!(eval(&state, SyncTrigger::Interval, 129_999).cooldown_ms, Some(1));
        assert_eq!(eval(&state, SyncTrigger::Interval, 130_000), SyncDecision::start());
        // Never synced: the timer starts one.
        assert!(eval(&ready(), SyncTrigger::Interval, 0).is_start());
        // Only a *completed* sync counts as fresh, not a started one.
        let started_only = PolicyState { last_sync_started_ms: Some(100_000), ..ready() };
        assert!(eval(&started_only, SyncTrigger::Interval, 100_001).is_start());
    }

    #[test]
    fn rule_8_local_write_needs_something_to_push() {
        let state = PolicyState { pending_ops: 0, ..ready() };
        assert_eq!(
            eval(&state, SyncTrigger::LocalWrite, 1_000),
            SyncDecision::skip(DecisionReason::NothingToPush)
        );
        let state = PolicyState { pending_ops: 3, last_sync_started_ms: Some(999), ..ready() };
        // The default debounce of 0 starts at once, even right after a sync started.
        assert!(eval(&state, SyncTrigger::LocalWrite, 1_000).is_start());
    }

    #[test]
    fn rule_8_local_write_debounce() {
        let config = PolicyConfig { local_write_debounce_ms: 2_000, ..cfg() };
        let state = PolicyState { last_sync_started_ms: Some(10_000), ..ready() };
        assert_eq!(
            evaluate(&state, SyncTrigger::LocalWrite, 10_500, &config),
            SyncDecision::skip_for(DecisionReason::Debounced, 1_500)
        );
        assert!(evaluate(&state, SyncTrigger::LocalWrite, 12_000, &config).is_start());
        // No sync ever started: nothing to debounce against.
        assert!(evaluate(&ready(), SyncTrigger::LocalWrite, 0, &config).is_start());
    }

    #[test]
    fn rule_9_startup_online_visibility_remote_retry_always_start_when_allowed() {
        let state = PolicyState {
            last_manual_request_ms: Some(1_000),
            last_sync_completed_ms: Some(1_000),
            last_sync_started_ms: Some(1_000),
            pending_ops: 0,
            ..ready()
        };
        for trigger in [
            SyncTrigger::Startup,
            SyncTrigger::Online,
            SyncTrigger::Visibility,
            SyncTrigger::Remote,
            SyncTrigger::Retry,
        ] {
            assert_eq!(eval(&state, trigger, 1_000), SyncDecision::start(), "{}", trigger.as_str());
        }
    }

    #[test]
    fn clock_going_backwards_never_panics_nor_exceeds_the_window() {
        let config = PolicyConfig { local_write_debounce_ms: 2_000, ..cfg() };
        let state = PolicyState {
            last_manual_request_ms: Some(u64::MAX),
            last_sync_completed_ms: Some(u64::MAX),
            last_sync_started_ms: Some(u64::MAX),
            ..ready()
        };
        for now in [0, 1, 50_000, u64::MAX - 1] {
            assert_eq!(evaluate(&state, SyncTrigger::Manual, now, &config).cooldown_ms, Some(5_000));
            assert_eq!(evaluate(&state, SyncTrigger::Interval, now, &config).cooldown_ms, Some(30_000));
            assert_eq!(evaluate(&state, SyncTrigger::LocalWrite, now, &config).cooldown_ms, Some(2_000));
        }
        // Extreme inputs elsewhere do not panic either.
        let extreme = PolicyState { blocked_until_ms: Some(u64::MAX), ..state.clone() };
        assert_eq!(evaluate(&extreme, SyncTrigger::Manual, 0, &config).cooldown_ms, Some(u64::MAX));
        let huge = PolicyConfig {
            manual_cooldown_ms: u64::MAX,
            interval_ms: u64::MAX,
            local_write_debounce_ms: u64::MAX,
        };
        for trigger in SyncTrigger::ALL {
            for now in [0, u64::MAX] {
                let _ = evaluate(&state, trigger, now, &huge);
                let _ = evaluate(&ready(), trigger, now, &huge);
            }
        }
    }

    #[test]
    fn clock_going_backwards_costs_at_most_one_window() {
        // The last manual sync was stamped by a clock that has since been set back a day.
        let day = 86_400_000;
        let mut state = PolicyState { last_manual_request_ms: Some(day + 1_000), ..ready() };
        let now = 1_000;
        let decision = eval(&state, SyncTrigger::Manual, now);
        assert_eq!(decision.cooldown_ms, Some(5_000));
        record_request(&mut state, SyncTrigger::Manual, &decision, now);
        assert_eq!(state.last_manual_request_ms, Some(now));
        // One window later it starts, rather than a day later.
        assert!(eval(&state, SyncTrigger::Manual, now + 5_000).is_start());
    }

    #[test]
    fn record_request_opens_the_manual_cooldown_only_on_start() {
        let mut state = ready();
        let started = eval(&state, SyncTrigger::Manual, 1_000);
        record_request(&mut state, SyncTrigger::Manual, &started, 1_000);
        assert_eq!(state.last_manual_request_ms, Some(1_000));

        // A skipped request during the cooldown does not extend it.
        let skipped = eval(&state, SyncTrigger::Manual, 4_000);
        assert_eq!(skipped.cooldown_ms, Some(2_000));
        record_request(&mut state, SyncTrigger::Manual, &skipped, 4_000);
        assert_eq!(state.last_manual_request_ms, Some(1_000));
        assert!(eval(&state, SyncTrigger::Manual, 6_000).is_start());

        // Nor does a blocked one.
        let offline = PolicyState { online: false, ..state.clone() };
        let mut after = offline.clone();
        record_request(&mut after, SyncTrigger::Manual, &eval(&offline, SyncTrigger::Manual, 20_000), 20_000);
        assert_eq!(after, offline);

        // Other triggers that start never touch the manual cooldown.
        let mut other = ready();
        for trigger in SyncTrigger::ALL.into_iter().filter(|t| *t != SyncTrigger::Manual) {
            let decision = eval(&other, trigger, 9_000);
            assert!(decision.is_start());
            record_request(&mut other, trigger, &decision, 9_000);
        }
        assert_eq!(other, ready());
    }

    #[test]
    fn record_request_keeps_past_timestamps_and_the_rate_limit() {
        let mut state = PolicyState {
            blocked_until_ms: Some(50_000),
            last_sync_completed_ms: Some(2_000),
            last_sync_started_ms: Some(20_000),
            ..ready()
        };
        let decision = eval(&state, SyncTrigger::Interval, 10_000);
        record_request(&mut state, SyncTrigger::Interval, &decision, 10_000);
        assert_eq!(state.blocked_until_ms, Some(50_000));
        assert_eq!(state.last_sync_completed_ms, Some(2_000));
        // Only the timestamp from the future is pulled back.
        assert_eq!(state.last_sync_started_ms, Some(10_000));
    }

    #[test]
    fn decisions_serialize_with_stable_field_names() {
        let state = PolicyState { blocked_until_ms: Some(10_000), ..ready() };
        let json = serde_json::to_value(eval(&state, SyncTrigger::Manual, 4_000)).unwrap();
        assert_eq!(
            json,
            json!({"action": "block", "reason": "rate_limited", "cooldownMs": 6_000, "blockedUntilMs": 10_000})
        );
        assert_eq!(
            serde_json::to_value(SyncDecision::start()).unwrap(),
            json!({"action": "start", "reason": "ready"})
        );
        assert_eq!(
            serde_json::to_value(SyncDecision::skip_for(DecisionReason::ManualCooldown, 3_000)).unwrap(),
            json!({"action": "skip", "reason": "manual_cooldown", "cooldownMs": 3_000})
        );
        let back: SyncDecision =
            serde_json::from_value(json!({"action": "skip", "reason": "nothing_to_push"})).unwrap();
        assert_eq!(back, SyncDecision::skip(DecisionReason::NothingToPush));
    }

    #[test]
    fn wire_names_round_trip_and_match_serde() {
        for trigger in SyncTrigger::ALL {
            assert_eq!(SyncTrigger::parse(trigger.as_str()), Some(trigger));
            assert_eq!(serde_json::to_value(trigger).unwrap(), json!(trigger.as_str()));
        }
        assert_eq!(SyncTrigger::LocalWrite.as_str(), "localWrite");
        assert_eq!(SyncTrigger::parse("local_write"), None);
        assert_eq!(SyncTrigger::parse("Manual"), None);
        let mut seen = std::collections::HashSet::new();
        for reason in DecisionReason::ALL {
            assert!(seen.insert(reason.as_str()));
            assert_eq!(DecisionReason::parse(reason.as_str()), Some(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), json!(reason.as_str()));
        }
        for action in [SyncAction::Start, SyncAction::Skip, SyncAction::Block] {
            assert_eq!(serde_json::to_value(action).unwrap(), json!(action.as_str()));
        }
    }

    #[test]
    fn state_and_config_serialize_in_camel_case_and_fill_missing_fields_with_defaults() {
        let json = serde_json::to_value(ready()).unwrap();
        assert_eq!(
            json,
            json!({
                "hasProvider": true, "online": true, "syncing": false, "pendingOps": 1, "follower": false
            })
        );
        let state: PolicyState = serde_json::from_value(json!({"hasProvider": true})).unwrap();
        assert_eq!(state, PolicyState { has_provider: true, ..PolicyState::default() });
        let config: PolicyConfig = serde_json::from_value(json!({"intervalMs": 1})).unwrap();
        assert_eq!(config, PolicyConfig { interval_ms: 1, ..PolicyConfig::default() });
        assert_eq!(
            serde_json::to_value(PolicyConfig::default()).unwrap(),
            json!({"manualCooldownMs": 5_000, "intervalMs": 30_000, "localWriteDebounceMs": 0})
        );
    }
}
