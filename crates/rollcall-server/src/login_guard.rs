//! The password check behind `POST /ui/login`, hardened against guessing (SPEC §13,
//! issue 15 "Login"):
//!
//! - **Same work for every email.** An unknown email (or one outside the asked
//!   account) is verified against a dummy argon2 hash of the same parameters, so
//!   the answer's timing does not tell which emails have a login.
//! - **Back-off per account and per address.** After [`LoginBackoff::free_per_email`]
//!   failures for one email, or [`LoginBackoff::free_per_address`] from one client
//!   address, each further failure locks that email (or address) for a doubling
//!   time (1 s, 2 s, 4 s, … up to a cap); a try while locked is a 429 with
//!   `Retry-After`. Tries still in flight count, so a burst of parallel guesses
//!   gets no more than the free allowance. A success clears the email's count,
//!   never the address's (one valid login must not reset a guesser's address).
//!   Unknown emails are counted like known ones, so the lock-out is no oracle either.
//! - **Failures recorded.** Each failed try writes `LoginFailed` (the email tried
//!   and the client address, never the password) to every account that has a
//!   login with that email; the write is not awaited, so it adds no timing signal.
//!   A try for an email no account knows has no audit log to go to and is logged
//!   (tracing) only.
//!
//! The address is [`crate::client_addr::ClientAddr`]: `X-Forwarded-For` counts only
//! from a `--trusted-proxy`. The state lives in [`crate::AppState`], so with several
//! processes each keeps its own counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::{header, HeaderValue, StatusCode};
use rollcall_store::audit::{Actor, AuditAction};
use rollcall_store::auth::LoginCandidate;
use rollcall_store::now_ms;

use crate::error::ApiError;
use crate::{passwords, AppState};

/// An argon2id hash with the parameters of [`passwords::hash`]
/// (`Argon2::default()`) that no password matches: verifying against it costs
/// what verifying a real one does.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Oetrs3GblAKxV9usnyEZYA$9bpUp8BrFicbtqYAz2CVQh8RGgiQOJLMUSPwdUMSXnU";

/// Past this many tracked emails and addresses, entries that are neither locked
/// nor in flight are forgotten (a spray of random emails cannot grow memory).
const MAX_TRACKED: usize = 10_000;

/// How failed logins slow down further tries.
#[derive(Debug, Clone)]
pub struct LoginBackoff {
    /// Failures for one email before it is locked.
    pub free_per_email: u32,
    /// Failures from one client address before it is locked (higher: an office
    /// behind one NAT address shares it).
    pub free_per_address: u32,
    /// The first lock; each further failure doubles it.
    pub first_lock_ms: i64,
    pub max_lock_ms: i64,
    /// Failures older than this (since the last one) are forgotten.
    pub forget_after_ms: i64,
}

impl Default for LoginBackoff {
    fn default() -> Self {
        LoginBackoff {
            free_per_email: 5,
            free_per_address: 20,
            first_lock_ms: 1_000,
            max_lock_ms: 15 * 60 * 1_000,
            forget_after_ms: 15 * 60 * 1_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Email(String),
    Address(IpAddr),
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    last_ms: i64,
    locked_until_ms: i64,
    /// Tries being verified right now.
    pending: u32,
}

/// Failed-login counts per email and per client address.
#[derive(Default)]
pub struct LoginGuard {
    failures: Mutex<HashMap<Key, Failures>>,
}

/// A try admitted by [`LoginGuard::admit`]; dropping it without [`Attempt::finish`]
/// (the client went away mid-check) just releases its in-flight slot.
struct Attempt<'a> {
    guard: &'a LoginGuard,
    policy: &'a LoginBackoff,
    keys: [Key; 2],
}

impl LoginGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a try for `email` from `addr`, or says how many seconds to wait.
    fn admit<'a>(
        &'a self,
        policy: &'a LoginBackoff,
        email: &str,
        addr: IpAddr,
    ) -> Result<Attempt<'a>, (u64, &'static str)> {
        let keys = [Key::Email(email.to_string()), Key::Address(addr)];
        let now = now_ms();
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED {
            map.retain(|_, f| f.pending > 0 || f.locked_until_ms > now);
        }
        let mut wait_ms = 0;
        let mut what = "";
        for (key, free, label) in [
            (&keys[0], policy.free_per_email, "for this email"),
            (&keys[1], policy.free_per_address, "from this address"),
        ] {
            let Some(f) = map.get_mut(key) else { continue };
            if f.pending == 0 && now - f.last_ms > policy.forget_after_ms {
                f.count = 0;
            }
            let locked = (f.locked_until_ms - now).max(0);
            // Tries in flight would each fail into a lock: refuse the excess now.
            let crowded = f.pending > 0 && f.count + f.pending >= free;
            let w = if crowded { locked.max(1_000) } else { locked };
            if w > wait_ms {
                wait_ms = w;
                what = label;
            }
        }
        if wait_ms > 0 {
            return Err(((wait_ms as u64).div_ceil(1_000), what));
        }
        for key in &keys {
            map.entry(key.clone()).or_default().pending += 1;
        }
        Ok(Attempt {
            guard: self,
            policy,
            keys,
        })
    }
}

impl Attempt<'_> {
    fn finish(self, success: bool) {
        let now = now_ms();
        let mut map = self.guard.lock();
        for (i, key) in self.keys.iter().enumerate() {
            let free = if i == 0 {
                self.policy.free_per_email
            } else {
                self.policy.free_per_address
            };
            let f = map.entry(key.clone()).or_default();
            if success {
                if i == 0 {
                    f.count = 0;
                    f.locked_until_ms = 0;
                }
                continue;
            }
            if now - f.last_ms > self.policy.forget_after_ms {
                f.count = 0;
            }
            f.count += 1;
            f.last_ms = now;
            if f.count >= free {
                let doublings = (f.count - free).min(40);
                let lock = self
                    .policy
                    .first_lock_ms
                    .saturating_mul(1_i64 << doublings)
                    .min(self.policy.max_lock_ms);
                f.locked_until_ms = now + lock;
            }
        }
        drop(map);
        // `self` drops here and releases the in-flight slots.
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut map = self.guard.lock();
        for key in &self.keys {
            if let Some(f) = map.get_mut(key) {
                f.pending = f.pending.saturating_sub(1);
            }
        }
    }
}

/// Checks `email` and `password` (in `account_id` when given) for a login from
/// `addr`: the matching login, 401 for a wrong email or password, 429 while the
/// email or the address is locked.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    account_id: Option<i64>,
    addr: IpAddr,
) -> Result<LoginCandidate, ApiError> {
    let tried = email.trim().to_lowercase();
    let policy = &state.config.login_backoff;
    let attempt = state
        .login_guard
        .admit(policy, &tried, addr)
        .map_err(|(secs, what)| {
            state.metrics.rate_limited(crate::metrics::LimitedBy::Login);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed logins {what}; retry in {secs} s"),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
        })?;
    let candidates = state.store.login_candidates(email).await?;
    let mut verified = 0;
    for candidate in candidates
        .iter()
        .filter(|c| account_id.is_none_or(|a| a == c.account_id))
    {
        verified += 1;
        if passwords::verify(password.to_string(), candidate.password_hash.clone()).await {
            attempt.finish(true);
            return Ok(candidate.clone());
        }
    }
    if verified == 0 {
        // No login to check: do the work one would have cost.
        passwords::verify(password.to_string(), DUMMY_HASH.to_string()).await;
    }
    attempt.finish(false);
    record_failure(state, &tried, addr, &candidates);
    Err(ApiError::unauthorized("wrong email or password"))
}

/// Writes `LoginFailed` to each account with a login for the email, in the
/// background (see the module documentation).
fn record_failure(state: &AppState, tried: &str, addr: IpAddr, candidates: &[LoginCandidate]) {
    if candidates.is_empty() {
        tracing::warn!(email = %tried, address = %addr, "failed login for an unknown email");
        return;
    }
    let mut accounts: Vec<i64> = candidates.iter().map(|c| c.account_id).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let state = state.clone();
    let action = AuditAction::LoginFailed {
        email: tried.to_string(),
        address: addr.to_string(),
    };
    let actor = Actor::new(candidates[0].email.clone(), None);
    tokio::spawn(async move {
        for account in accounts {
            if let Err(e) = state
                .store
                .record_audit(account, &actor, action.clone())
                .await
            {
                tracing::error!(account, error = %e, "cannot record LoginFailed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHash;

    #[test]
    fn the_dummy_hash_has_the_default_parameters() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = argon2::Params::try_from(&dummy).unwrap();
        let default = argon2::Params::default();
        assert_eq!(dummy.algorithm, argon2::Algorithm::default().ident());
        assert_eq!(params.m_cost(), default.m_cost());
        assert_eq!(params.t_cost(), default.t_cost());
        assert_eq!(params.p_cost(), default.p_cost());
        assert_eq!(
            params.output_len(),
            Some(default.output_len().unwrap_or(32))
        );
    }

    fn policy() -> LoginBackoff {
        LoginBackoff {
            free_per_email: 2,
            free_per_address: 3,
            ..LoginBackoff::default()
        }
    }

    #[test]
    fn locks_double_and_a_success_clears_only_the_email() {
        let guard = LoginGuard::default();
        let p = policy();
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        guard.admit(&p, "a@x.com", addr).unwrap().finish(false);
        guard.admit(&p, "a@x.com", addr).unwrap().finish(false);
        let (secs, what) = guard.admit(&p, "a@x.com", addr).err().unwrap();
        assert_eq!((secs, what), (1, "for this email"));
        // Another email from the same address: one failure left before the address locks.
        guard.admit(&p, "b@x.com", addr).unwrap().finish(false);
        let (_, what) = guard.admit(&p, "c@x.com", addr).err().unwrap();
        assert_eq!(what, "from this address");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        guard.admit(&p, "c@x.com", other).unwrap().finish(true);
        // A success cleared c's count but not the first address's.
        assert!(guard.admit(&p, "c@x.com", addr).is_err());
        // The next failure after a lock doubles it.
        {
            let mut map = guard.lock();
            map.get_mut(&Key::Email("a@x.com".into()))
                .unwrap()
                .locked_until_ms = 0;
        }
        guard.admit(&p, "a@x.com", other).unwrap().finish(false);
        let (secs, _) = guard.admit(&p, "a@x.com", other).err().unwrap();
        assert_eq!(secs, 2);
    }

    #[test]
    fn tries_in_flight_count_against_the_allowance() {
        let guard = LoginGuard::default();
        let p = policy();
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        let first = guard.admit(&p, "a@x.com", addr).unwrap();
        let second = guard.admit(&p, "a@x.com", addr).unwrap();
        assert!(guard.admit(&p, "a@x.com", addr).is_err());
        drop(first);
        drop(second);
        // Abandoned tries leave no failure behind.
        assert!(guard.admit(&p, "a@x.com", addr).is_ok());
    }
}
