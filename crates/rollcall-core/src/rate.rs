//! The token bucket behind per-credential rate limits (SPEC §2).

/// A bucket of `burst` tokens refilled at `per_second`; one request takes one token.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: i64,
}

/// What a request learns from the bucket; enough for the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until a token is available again (0 when allowed).
    pub retry_after_secs: u64,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

impl TokenBucket {
    pub fn new(burst: u32, now_ms: i64) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            last_ms: now_ms,
        }
    }

    /// When the bucket was last used; a bucket idle long enough is full again and
    /// can be forgotten.
    pub fn last_used_ms(&self) -> i64 {
        self.last_ms
    }

    pub fn take(&mut self, per_second: u32, burst: u32, now_ms: i64) -> Decision {
        let rate = f64::from(per_second.max(1));
        let capacity = f64::from(burst.max(1));
        let elapsed = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        self.last_ms = now_ms.max(self.last_ms);
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        let retry_after_secs = if allowed {
            0
        } else {
            ((1.0 - self.tokens) / rate).ceil().max(1.0) as u64
        };
        Decision {
            allowed,
            limit: burst.max(1),
            remaining: self.tokens.floor() as u32,
            retry_after_secs,
            reset_secs: ((capacity - self.tokens) / rate).ceil() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_then_refill() {
        let mut bucket = TokenBucket::new(2, 0);
        assert!(bucket.take(1, 2, 0).allowed);
        let second = bucket.take(1, 2, 0);
        assert!(second.allowed);
        assert_eq!(second.remaining, 0);
        let third = bucket.take(1, 2, 0);
        assert!(!third.allowed);
        assert_eq!(third.retry_after_secs, 1);
        assert!(bucket.take(1, 2, 1000).allowed);
        assert!(!bucket.take(1, 2, 1000).allowed);
    }

    #[test]
    fn never_exceeds_its_burst() {
        let mut bucket = TokenBucket::new(3, 0);
        let d = bucket.take(100, 3, 60_000);
        assert_eq!(d.remaining, 2);
        assert_eq!(d.limit, 3);
    }
}
