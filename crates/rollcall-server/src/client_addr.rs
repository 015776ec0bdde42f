//! Which address a request comes from: the TCP peer, unless the peer is one of the
//! configured `--trusted-proxy` networks, in which case `X-Forwarded-For` says
//! (read from the right, skipping the trusted proxies, so a client cannot
//! prepend an address of its choice). A header from anyone else is ignored: it
//! would let a password guesser pick a fresh address for every try.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::AppState;

/// One trusted proxy: an address, or a network in CIDR form (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustedProxyError {
    #[error("'{0}' is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)")]
    Address(String),
    #[error("'{0}': the prefix length must be at most {1}")]
    Prefix(String, u8),
}

impl FromStr for TrustedProxy {
    type Err = TrustedProxyError;

    fn from_str(s: &str) -> Result<Self, TrustedProxyError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| TrustedProxyError::Address(s.to_string()))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| TrustedProxyError::Address(s.to_string()))?,
        };
        if prefix > max {
            return Err(TrustedProxyError::Prefix(s.to_string(), max));
        }
        Ok(TrustedProxy { network, prefix })
    }
}

impl TrustedProxy {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer may show up as an IPv4-mapped IPv6 address on a dual-stack socket.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client's address as [`resolve`] sees it.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Every X-Forwarded-For header, in order, as one comma-separated list.
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        for hop in value.split(',') {
            match parse_hop(hop.trim()) {
                Some(ip) => hops.push(ip),
                // A garbled list cannot be trusted beyond the proxy itself.
                None => return peer,
            }
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:80`, `1.2.3.4:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The requesting client's address (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::internal("the connection's peer address is unknown"))?;
        Ok(ClientAddr(resolve(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net: TrustedProxy = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")));
        let one: TrustedProxy = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")));
        assert!(!one.contains(ip("127.0.0.1")));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
        assert!("proxy.local".parse::<TrustedProxy>().is_err());
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let h = headers(&["203.0.113.7"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.7"));
        assert_eq!(
            resolve(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(resolve(ip("10.0.0.2"), &h, &[]), ip("10.0.0.2"));
    }

    #[test]
    fn a_spoofed_first_hop_is_skipped_from_the_right() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // The client sent "1.1.1.1" itself; the proxies appended the real address.
        let h = headers(&["1.1.1.1, 203.0.113.7", "10.0.0.9"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.7"));
        let h = headers(&["1.1.1.1, garbage"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.2"));
        let h = headers(&["[2001:db8::1]:4711"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("2001:db8::1"));
        // Only trusted hops: the leftmost is as far as the chain goes.
        let h = headers(&["10.0.0.7, 10.0.0.8"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.7"));
    }
}
