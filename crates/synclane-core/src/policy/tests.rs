//! The policy's rules one by one, their order, a clock going backwards, and the wire names
//! and serde forms of its types. (Over 400 lines: one test or two per rule and per trigger,
//! which read best side by side.)

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
    let state =
        PolicyState { last_sync_completed_ms: Some(9_000), last_manual_request_ms: Some(9_000), ..ready() };
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
