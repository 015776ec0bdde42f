//! The `Retry-After` header of a 429 or 503 answer, as the clients of this
//! binary (`rollcall push`, `rollcall relay`) honour it.

use std::time::Duration;

/// The wait a `Retry-After: <seconds>` header asks for, at most `cap`; `None`
/// when the header is absent or not a number of seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap, cap: Duration) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(cap))
}
