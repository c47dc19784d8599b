//! Who a request comes from, and how often one client may ask for sign-in links.
//!
//! The per-address limit on sign-in links (see [`super::session::SIGN_IN_MAX_PENDING`]) keeps
//! one inbox from being flooded; [`AskLimiter`] keeps one client from making donebot email every
//! member in turn. A client is its IP address (an IPv6 client its /64, what one host usually
//! holds), as the connection shows it or, behind a proxy named in `[web] trusted_proxies`, as
//! that proxy reports it in `X-Forwarded-For`. From anyone else the header is ignored: it is
//! whatever the client wrote.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use actix_web::HttpRequest;
use chrono::{DateTime, Duration, Utc};

/// Sign-in link requests one client may make per [`ASK_WINDOW_MINUTES`].
pub const ASKS_PER_CLIENT: u32 = 10;
pub const ASK_WINDOW_MINUTES: i64 = 10;
/// Clients tracked at most; when full, finished windows are forgotten first, then all.
const MAX_CLIENTS: usize = 10_000;

/// The client a request comes from (see the module docs); `None` if the connection has no
/// address (a Unix socket, a test without one).
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    // Each proxy appends the address it received from: walk back past the trusted ones.
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .take(64)
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted_proxies.contains(a))
            .unwrap_or(peer),
    )
}

/// The key a client is counted under: an IPv4 address, or an IPv6 address's /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

/// Counts sign-in link requests per client in fixed windows.
#[derive(Default)]
pub struct AskLimiter {
    /// Client → start of its window, requests in it.
    seen: Mutex<HashMap<IpAddr, (DateTime<Utc>, u32)>>,
}

impl AskLimiter {
    /// Counts a request from `ip` at `now`; `false` if the client is over its limit (the
    /// request is then refused and does nothing).
    pub fn allow(&self, ip: IpAddr, now: DateTime<Utc>) -> bool {
        let window = Duration::minutes(ASK_WINDOW_MINUTES);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_CLIENTS {
            seen.retain(|_, (start, _)| now - *start < window);
            if seen.len() >= MAX_CLIENTS {
                seen.clear();
            }
        }
        let (start, count) = seen.entry(client_key(ip)).or_insert((now, 0));
        if now - *start >= window {
            (*start, *count) = (now, 0);
        }
        *count += 1;
        *count <= ASKS_PER_CLIENT
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_gets_its_share_per_window_and_a_64_is_one_client() {
        let limiter = AskLimiter::default();
        let t0 = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        for _ in 0..ASKS_PER_CLIENT {
            assert!(limiter.allow(ip("192.0.2.1"), t0));
        }
        assert!(!limiter.allow(ip("192.0.2.1"), t0), "over the limit");
        assert!(limiter.allow(ip("192.0.2.2"), t0), "another client");
        let later = t0 + Duration::minutes(ASK_WINDOW_MINUTES);
        assert!(limiter.allow(ip("192.0.2.1"), later), "a new window");

        for i in 0..ASKS_PER_CLIENT {
            assert!(limiter.allow(ip(&format!("2001:db8::{i:x}")), t0));
        }
        assert!(
            !limiter.allow(ip("2001:db8::ffff:1"), t0),
            "the same /64 is one client"
        );
        assert!(limiter.allow(ip("2001:db8:0:1::1"), t0), "another /64");
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");
        let req = |peer: &str, forwarded: &str| {
            TestRequest::default()
                .peer_addr(format!("{peer}:4000").parse().unwrap())
                .insert_header(("X-Forwarded-For", forwarded))
                .to_http_request()
        };
        let direct = req("198.51.100.7", "203.0.113.9");
        assert_eq!(
            client_ip(&direct, &[proxy]),
            Some(ip("198.51.100.7")),
            "forged"
        );
        let proxied = req("10.0.0.1", "203.0.113.9, 198.51.100.8");
        assert_eq!(
            client_ip(&proxied, &[proxy]),
            Some(ip("198.51.100.8")),
            "the address the proxy saw, not what the client claimed before it"
        );
        let chained = req("10.0.0.1", "198.51.100.8, 10.0.0.1");
        assert_eq!(client_ip(&chained, &[proxy]), Some(ip("198.51.100.8")));
        let none = req("10.0.0.1", "not an address");
        assert_eq!(client_ip(&none, &[proxy]), Some(proxy));
    }
}
