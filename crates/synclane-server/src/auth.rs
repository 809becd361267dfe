//! Bearer tokens, the workspaces they may use, and a rate limit per token.

use crate::config::{RateLimit, TokenGrant};
use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub struct Auth {
    grants: Vec<TokenGrant>,
    admin_token: Option<String>,
    limiter: Option<DefaultKeyedRateLimiter<usize>>,
}

/// Who a request is: the index of its grant.
#[derive(Debug, Clone, Copy)]
pub struct Caller(usize);

impl Auth {
    pub fn new(grants: Vec<TokenGrant>, admin_token: Option<String>, rate: Option<RateLimit>) -> Arc<Auth> {
        let limiter = rate.map(|r| {
            let per_second = NonZeroU32::new(r.per_second.max(1)).expect("at least 1");
            let burst = NonZeroU32::new(r.burst.max(1)).expect("at least 1");
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst))
        });
        Arc::new(Auth { grants, admin_token, limiter })
    }

    /// The caller of an `Authorization` header: 401 without a known token, 429 over its rate.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let token = bearer(header).ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
        // Compares against every token in constant time, so timing does not reveal a prefix.
        let mut found = None;
        for (index, grant) in self.grants.iter().enumerate() {
            if bool::from(grant.token.as_bytes().ct_eq(token.as_bytes())) {
                found = Some(index);
            }
        }
        let caller = found.map(Caller).ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check_key(&caller.0) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(ApiError::rate_limited(wait.as_millis().max(1) as u64));
            }
        }
        Ok(caller)
    }

    /// 403 when the caller may not use `workspace`; the answer is the same whether the
    /// workspace exists or not.
    pub fn authorize(&self, caller: Caller, workspace: &str) -> Result<(), ApiError> {
        if self.grants[caller.0].allows(workspace) {
            Ok(())
        } else {
            Err(ApiError::forbidden("this token may not use that workspace"))
        }
    }

    /// 403 when the caller may not push to `workspace` (no access, or read-only access).
    pub fn authorize_write(&self, caller: Caller, workspace: &str) -> Result<(), ApiError> {
        self.authorize(caller, workspace)?;
        if self.grants[caller.0].read_only {
            return Err(ApiError::forbidden("this token may only read"));
        }
        Ok(())
    }

    pub fn authenticate_admin(&self, header: Option<&str>) -> Result<(), ApiError> {
        let expected =
            self.admin_token.as_deref().ok_or_else(|| ApiError::forbidden("no admin token is set"))?;
        match bearer(header) {
            Some(token) if bool::from(expected.as_bytes().ct_eq(token.as_bytes())) => Ok(()),
            Some(_) => Err(ApiError::forbidden("not the admin token")),
            None => Err(ApiError::unauthorized("a bearer token is required")),
        }
    }
}

fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use synclane_core::ErrorCode;

    fn auth(rate: Option<RateLimit>) -> Arc<Auth> {
        let grants = vec![
            TokenGrant { token: "alpha-token".into(), workspaces: vec!["alpha".into()], read_only: false },
            TokenGrant { token: "viewer-token".into(), workspaces: vec!["alpha".into()], read_only: true },
        ];
        Auth::new(grants, Some("admin".into()), rate)
    }

    #[test]
    fn tokens_are_checked_then_workspaces() {
        let auth = auth(None);
        let code = |r: Result<Caller, ApiError>| r.unwrap_err().0.code;
        assert_eq!(code(auth.authenticate(None)), ErrorCode::Unauthorized);
        assert_eq!(code(auth.authenticate(Some("Bearer nope"))), ErrorCode::Unauthorized);
        assert_eq!(code(auth.authenticate(Some("Basic alpha-token"))), ErrorCode::Unauthorized);
        assert_eq!(code(auth.authenticate(Some("Bearer alpha"))), ErrorCode::Unauthorized, "no prefix match");
        let caller = auth.authenticate(Some("bearer  alpha-token ")).unwrap();
        assert!(auth.authorize(caller, "alpha").is_ok());
        assert_eq!(auth.authorize(caller, "beta").unwrap_err().0.code, ErrorCode::Forbidden);
        assert!(auth.authorize_write(caller, "alpha").is_ok());
        let viewer = auth.authenticate(Some("Bearer viewer-token")).unwrap();
        assert!(auth.authorize(viewer, "alpha").is_ok());
        assert_eq!(auth.authorize_write(viewer, "alpha").unwrap_err().0.code, ErrorCode::Forbidden);
        assert!(auth.authenticate_admin(Some("Bearer admin")).is_ok());
        assert_eq!(
            auth.authenticate_admin(Some("Bearer alpha-token")).unwrap_err().0.code,
            ErrorCode::Forbidden
        );
    }

    #[test]
    fn a_token_over_its_rate_is_told_when_to_come_back() {
        let auth = auth(Some(RateLimit { per_second: 1, burst: 2 }));
        let header = Some("Bearer alpha-token");
        assert!(auth.authenticate(header).is_ok());
        assert!(auth.authenticate(header).is_ok());
        let err = auth.authenticate(header).unwrap_err().0;
        assert_eq!(err.code, ErrorCode::RateLimited);
        assert!(err.retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 1000));
    }
}
