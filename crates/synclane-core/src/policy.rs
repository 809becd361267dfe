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
//!
//! What the policy is asked about and knows (the trigger, its windows, the caller's state) is
//! `state`; what it answers is `decision`; this file holds the rules.

mod decision;
mod state;

pub use decision::{DecisionReason, SyncAction, SyncDecision};
pub use state::{PolicyConfig, PolicyState, SyncTrigger};

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
mod tests;
