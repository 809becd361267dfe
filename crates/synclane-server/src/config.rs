//! The server's settings: a JSON file (`--config`) and command-line tokens (`--token`).

use serde::Deserialize;
use synclane_core::server_rules::ServerConfig;
use synclane_core::validate::ValidationLimits;

/// A bearer token and the workspaces it may use (`"*"`: every workspace).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenGrant {
    pub token: String,
    pub workspaces: Vec<String>,
    /// May pull and stream but not push (a viewer, or a session whose write access was revoked).
    #[serde(default)]
    pub read_only: bool,
}

impl TokenGrant {
    pub fn allows(&self, workspace: &str) -> bool {
        self.workspaces.iter().any(|w| w == "*" || w == workspace)
    }

    /// Parses `TOKEN=WS1,WS2` (the `--token` flag); a `:read` suffix makes it read-only.
    pub fn parse_flag(flag: &str) -> Result<TokenGrant, String> {
        let (flag, read_only) = match flag.strip_suffix(":read") {
            Some(rest) => (rest, true),
            None => (flag, false),
        };
        let (token, workspaces) = flag
            .split_once('=')
            .ok_or_else(|| format!("--token wants TOKEN=WORKSPACE[,WORKSPACE]: {flag:?}"))?;
        let workspaces: Vec<String> =
            workspaces.split(',').map(str::trim).filter(|w| !w.is_empty()).map(str::to_owned).collect();
        if token.is_empty() || workspaces.is_empty() {
            return Err(format!("--token wants TOKEN=WORKSPACE[,WORKSPACE]: {flag:?}"));
        }
        Ok(TokenGrant { token: token.to_owned(), workspaces, read_only })
    }
}

/// Requests a token may make per second, with a burst allowance.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    pub tokens: Vec<TokenGrant>,
    /// The token of `/admin/*` (stats, garbage collection). No admin endpoints without one.
    pub admin_token: Option<String>,
    pub rate_limit: Option<RateLimit>,
    /// The largest request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// The most ops a push may carry; more get 413.
    pub max_batch_ops: usize,
    /// The largest pull page.
    pub max_pull_limit: u32,
    pub max_payload_bytes: usize,
    pub tombstone_retention_ms: u64,
    pub device_ttl_ms: u64,
    /// How often tombstones are collected (0: only through `/admin/gc`).
    pub gc_interval_ms: u64,
    /// Origins browsers may call from (`"*"`: any; tokens are headers, not cookies).
    pub cors_origins: Vec<String>,
    /// A connection must send a request's headers within this time, or it is closed (slow
    /// clients cannot hold connections open by trickling bytes).
    pub header_read_timeout_ms: u64,
    /// A request (its body included; not the live stream) must be answered within this time,
    /// or it gets 408.
    pub request_timeout_ms: u64,
    /// Open connections at most; further ones wait to be accepted until one closes.
    pub max_connections: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let core = ServerConfig::default();
        Settings {
            tokens: Vec::new(),
            admin_token: None,
            rate_limit: Some(RateLimit { per_second: 100, burst: 200 }),
            max_body_bytes: 8 * 1024 * 1024,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections: 4096,
            max_batch_ops: 1000,
            max_pull_limit: core.max_pull_limit,
            max_payload_bytes: core.limits.max_payload_bytes,
            tombstone_retention_ms: core.tombstone_retention_ms,
            device_ttl_ms: core.device_ttl_ms,
            gc_interval_ms: 60_000,
            cors_origins: vec!["*".to_owned()],
        }
    }
}

impl Settings {
    pub fn from_json(text: &str) -> Result<Settings, String> {
        serde_json::from_str(text).map_err(|e| format!("bad config: {e}"))
    }

    /// The core's rules as these settings tune them.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            tombstone_retention_ms: self.tombstone_retention_ms,
            device_ttl_ms: self.device_ttl_ms,
            max_pull_limit: self.max_pull_limit,
            limits: ValidationLimits {
                max_payload_bytes: self.max_payload_bytes,
                max_batch_len: self.max_batch_ops,
                ..ValidationLimits::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_flags_name_their_workspaces() {
        let grant = TokenGrant::parse_flag("secret=alpha, beta").unwrap();
        assert_eq!(grant.token, "secret");
        assert!(grant.allows("alpha") && grant.allows("beta") && !grant.allows("gamma"));
        assert!(TokenGrant::parse_flag("any=*").unwrap().allows("whatever"));
        let viewer = TokenGrant::parse_flag("viewer=alpha:read").unwrap();
        assert!(viewer.read_only && viewer.allows("alpha") && !grant.read_only);
        for bad in ["secret", "=alpha", "secret=", "secret=,"] {
            assert!(TokenGrant::parse_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_fill_defaults_and_refuse_unknown_fields() {
        let settings =
            Settings::from_json(r#"{"tokens":[{"token":"t","workspaces":["w"]}],"gcIntervalMs":5}"#).unwrap();
        assert_eq!(settings.gc_interval_ms, 5);
        assert_eq!(settings.max_batch_ops, Settings::default().max_batch_ops);
        assert_eq!(settings.server_config().limits.max_batch_len, settings.max_batch_ops);
        let err = Settings::from_json(r#"{"tokenz":[]}"#).unwrap_err();
        assert!(err.contains("tokenz"), "{err}");
    }
}
