//! The status view-model in each state, its normalized errors, its serde form.

use super::*;
use serde_json::json;

fn input() -> StatusInput {
    StatusInput {
        policy: PolicyState { has_provider: true, ..PolicyState::default() },
        ..StatusInput::default()
    }
}

fn status(input: &StatusInput, now_ms: u64) -> SyncStatus {
    derive_status(input, now_ms, &PolicyConfig::default())
}

#[test]
fn idle_when_nothing_is_wrong() {
    let mut input = input();
    input.policy.pending_ops = 2;
    input.policy.last_sync_completed_ms = Some(9_000);
    input.failed_ops = 1;
    let got = status(&input, 10_000);
    assert_eq!(
        got,
        SyncStatus {
            state: SyncStatusState::Idle,
            can_sync_now: true,
            cooldown_ms: None,
            blocked_until: None,
            progress: None,
            last_synced_at: Some(9_000),
            last_sync_error: None,
            pending_ops: 2,
            failed_ops: 1,
            online: true,
        }
    );
}

#[test]
fn syncing_shows_progress_and_wins_over_everything() {
    let mut input = input();
    input.policy.syncing = true;
    input.policy.blocked_until_ms = Some(20_000);
    input.last_error = Some(SyncError::new(ErrorCode::Network, "fetch failed"));
    input.progress = Some(SyncProgress { current: 3, total: 10 });
    let got = status(&input, 10_000);
    assert_eq!(got.state, SyncStatusState::Syncing);
    assert_eq!(got.progress, Some(SyncProgress { current: 3, total: 10 }));
    // Rate limit is still reported, and blocks a manual sync.
    assert!(!got.can_sync_now);
    assert_eq!(got.blocked_until, Some(20_000));
    assert_eq!(got.cooldown_ms, Some(10_000));
    // Without the rate limit, a running sync still forbids another one.
    input.policy.blocked_until_ms = None;
    let got = status(&input, 10_000);
    assert_eq!(got.state, SyncStatusState::Syncing);
    assert!(!got.can_sync_now);
    assert_eq!(got.cooldown_ms, None);
}

#[test]
fn progress_is_dropped_when_not_syncing() {
    let mut input = input();
    input.progress = Some(SyncProgress { current: 10, total: 10 });
    assert_eq!(status(&input, 0).progress, None);
}

#[test]
fn blocked_while_rate_limited_until_exactly_blocked_until() {
    let mut input = input();
    input.policy.blocked_until_ms = Some(10_000);
    input.last_error = Some(SyncError::rate_limited(4_000));
    let got = status(&input, 6_000);
    assert_eq!(got.state, SyncStatusState::Blocked);
    assert!(!got.can_sync_now);
    assert_eq!(got.blocked_until, Some(10_000));
    assert_eq!(got.cooldown_ms, Some(4_000));
    assert_eq!(got.last_sync_error.map(|e| e.code), Some(ErrorCode::RateLimited));

    // At blocked_until the block is over; the error stays until a sync succeeds.
    let got = status(&input, 10_000);
    assert_eq!(got.state, SyncStatusState::Error);
    assert!(got.can_sync_now);
    assert_eq!(got.blocked_until, None);
    assert_eq!(got.cooldown_ms, None);
}

#[test]
fn blocked_without_a_provider() {
    let mut input = input();
    input.policy.has_provider = false;
    input.last_error = Some(SyncError::new(ErrorCode::Network, "x"));
    let got = status(&input, 0);
    assert_eq!(got.state, SyncStatusState::Blocked);
    assert!(!got.can_sync_now);
    assert_eq!(got.blocked_until, None);
    assert_eq!(got.cooldown_ms, None);
}

#[test]
fn error_after_a_failed_sync_until_the_caller_clears_it() {
    let mut input = input();
    input.last_error = Some(SyncError::new(ErrorCode::Unauthorized, "401 token abc123 expired"));
    let got = status(&input, 0);
    assert_eq!(got.state, SyncStatusState::Error);
    // An error does not stop the user from trying again.
    assert!(got.can_sync_now);
    assert_eq!(
        got.last_sync_error,
        Some(StatusError {
            code: ErrorCode::Unauthorized,
            message: "Your session has expired. Sign in again to keep syncing.".into()
        })
    );
    input.last_error = None;
    assert_eq!(status(&input, 0).state, SyncStatusState::Idle);
}

#[test]
fn offline_is_reported_by_online_and_disables_sync_now() {
    let mut input = input();
    input.policy.online = false;
    let got = status(&input, 0);
    assert_eq!(got.state, SyncStatusState::Idle);
    assert!(!got.online);
    assert!(!got.can_sync_now);
    input.last_error = Some(SyncError::new(ErrorCode::Network, "net::ERR_INTERNET_DISCONNECTED"));
    assert_eq!(status(&input, 0).state, SyncStatusState::Error);
}

#[test]
fn manual_cooldown_is_exposed() {
    let mut input = input();
    input.policy.last_manual_request_ms = Some(1_000);
    let got = status(&input, 3_000);
    assert_eq!(got.state, SyncStatusState::Idle);
    assert!(!got.can_sync_now);
    assert_eq!(got.cooldown_ms, Some(3_000));
    let config = PolicyConfig { manual_cooldown_ms: 0, ..PolicyConfig::default() };
    assert!(derive_status(&input, 3_000, &config).can_sync_now);
    assert!(status(&input, 6_000).can_sync_now);
}

#[test]
fn normalize_error_covers_every_code_without_leaking_the_raw_message() {
    let raw = "RAW provider detail: HTTP 500 at /v1/sync {\"trace\":\"0xdeadbeef\"}";
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        let err = SyncError { code, message: raw.into(), retry_after_ms: Some(1_234) };
        let normalized = normalize_error(&err);
        assert_eq!(normalized.code, code);
        assert!(!normalized.message.trim().is_empty(), "{code} has no message");
        assert!(!normalized.message.contains(raw), "{code} leaks the raw message");
        assert!(!normalized.message.contains("RAW") && !normalized.message.contains("1234"));
        // Wire names like `cursor_expired` are for code, not people (one-word names such
        // as `closed` are ordinary words and may appear).
        if code.as_str().contains('_') {
            assert!(!normalized.message.contains(code.as_str()), "{code} shows its wire name");
        }
        assert!(normalized.message.ends_with('.'), "{code}: {}", normalized.message);
        assert_eq!(normalized.message, user_message(code));
        assert!(seen.insert(normalized.message), "{code} shares its message");
    }
}

#[test]
fn documented_messages_are_kept() {
    let cases = [
        (
            ErrorCode::Network,
            "You are offline or the server cannot be reached. Changes are saved and will sync later.",
        ),
        (ErrorCode::Unauthorized, "Your session has expired. Sign in again to keep syncing."),
        (ErrorCode::RateLimited, "The server asked us to slow down. Sync will resume by itself."),
        (
            ErrorCode::QuotaExceeded,
            "This device is out of storage space. Free some space to keep saving changes.",
        ),
        (ErrorCode::CursorExpired, "This device was away for a long time; it is catching up."),
    ];
    for (code, message) in cases {
        assert_eq!(user_message(code), message);
    }
}

#[test]
fn status_serializes_in_camel_case_and_skips_absent_fields() {
    let json = serde_json::to_value(status(&input(), 0)).unwrap();
    assert_eq!(
        json,
        json!({"state": "idle", "canSyncNow": true, "pendingOps": 0, "failedOps": 0, "online": true})
    );
    let mut input = input();
    input.policy.syncing = true;
    input.policy.blocked_until_ms = Some(5_000);
    input.policy.last_sync_completed_ms = Some(100);
    input.progress = Some(SyncProgress { current: 1, total: 2 });
    input.last_error = Some(SyncError::new(ErrorCode::Timeout, "upstream timed out"));
    let json = serde_json::to_value(status(&input, 1_000)).unwrap();
    assert_eq!(
        json,
        json!({
            "state": "syncing",
            "canSyncNow": false,
            "cooldownMs": 4_000,
            "blockedUntil": 5_000,
            "progress": {"current": 1, "total": 2},
            "lastSyncedAt": 100,
            "lastSyncError": {"code": "timeout", "message": user_message(ErrorCode::Timeout)},
            "pendingOps": 0,
            "failedOps": 0,
            "online": true
        })
    );
    for state in
        [SyncStatusState::Idle, SyncStatusState::Syncing, SyncStatusState::Blocked, SyncStatusState::Error]
    {
        assert_eq!(serde_json::to_value(state).unwrap(), json!(state.as_str()));
    }
    let back: SyncStatus = serde_json::from_value(json).unwrap();
    assert_eq!(back, status(&input, 1_000));
}

#[test]
fn extreme_inputs_do_not_panic() {
    let mut input = input();
    input.policy.blocked_until_ms = Some(u64::MAX);
    input.policy.last_manual_request_ms = Some(u64::MAX);
    input.progress = Some(SyncProgress { current: u64::MAX, total: 0 });
    for now in [0, u64::MAX] {
        let _ = derive_status(&input, now, &PolicyConfig::default());
    }
    let got = status(&input, u64::MAX);
    assert_eq!(got.state, SyncStatusState::Idle);
    assert_eq!(got.blocked_until, None);
}
