//! Rate limits (web layer): token buckets per client IP, per link and, on
//! the admin API, per IP for failed logins, checked by one middleware in
//! front of every route ([`Limits::admit`], wired in [`super::app`]).
//!
//! The buckets are `governor`'s GCRA over [`BoundedStore`], which holds at
//! most `[limits] max_keys` clients (or links) per limiter and forgets idle
//! ones when [`prune_loop`] runs, so that a stranger with many addresses
//! cannot grow memory without bound. A refusal is answered on the route's
//! surface from the one error table (`super::error`): the LUD body with
//! HTTP 200 on wallet routes, a 429 page with `Retry-After` on pages, QR
//! images and the rest, the admin JSON 429 on the admin API. Each refusal
//! is counted in `/metrics` by route pattern and limit, never by client.
//!
//! Imports `config` (the `[limits]` section), `paths`, `service::Error` and
//! the renderers of [`super::error`].

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderMap, FORWARDED};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use percent_encoding::percent_decode_str;
use tokio::sync::watch;

use super::error::{lud_error, page_error, ApiError};
use crate::config::LimitsConfig;
use crate::paths;
use crate::service::{Error, Services};

/// How often idle keys are forgotten. A key is idle once its bucket is
/// full again, so with the default rates every key of a client that
/// stopped a minute ago goes.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A keyed state store for `governor` with a cap on its keys: a key that
/// is not yet known while the store is full is measured as a fresh bucket
/// and not stored. That lets such a client through (this limiter forgets
/// it) rather than refusing everybody new: the other limiters still hold,
/// and the next prune makes room.
pub struct BoundedStore<K> {
    map: Mutex<HashMap<K, Nanos>>,
    cap: usize,
}

impl<K> BoundedStore<K> {
    fn new(cap: usize) -> Self {
        BoundedStore {
            map: Mutex::new(HashMap::new()),
            cap,
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<K, Nanos>> {
        // The map holds plain numbers: a panic elsewhere cannot leave it
        // half-written.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.map();
        let known = map.get(key).copied();
        let (outcome, next) = f(known)?;
        if known.is_some() || map.len() < self.cap {
            map.insert(key.clone(), next);
        }
        Ok(outcome)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map().retain(|_, tat| *tat > drop_below);
    }

    fn shrink_to_fit(&self) {
        self.map().shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map().len()
    }

    fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

/// One keyed token bucket.
type Limiter<K> = RateLimiter<K, BoundedStore<K>, DefaultClock>;

/// A limiter for `per_minute` and `burst`, or `None` when either is `0`.
fn limiter<K: Hash + Eq + Clone>(per_minute: u32, burst: u32, cap: usize) -> Option<Limiter<K>> {
    let quota =
        Quota::per_minute(NonZeroU32::new(per_minute)?).allow_burst(NonZeroU32::new(burst)?);
    Some(RateLimiter::new(
        quota,
        BoundedStore::new(cap),
        DefaultClock::default(),
    ))
}

/// Whole seconds until `retry` may pass, at least 1 (what `Retry-After`
/// and the LUD reason say).
fn whole_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Checks `key` against `l`: `Err(seconds to wait)` when refused.
fn check<K: Hash + Eq + Clone>(l: &Limiter<K>, key: &K) -> Result<(), u64> {
    l.check_key(key)
        .map_err(|not_until| whole_secs(not_until.wait_time_from(l.clock().now())))
}

/// The client a bucket belongs to: an IPv4 address, or the /64 of an IPv6
/// address (one subscriber usually holds a whole /64, so keying by full
/// address would hand each of them 2^64 buckets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 client.
    V4([u8; 4]),
    /// An IPv6 client's /64.
    V6([u8; 8]),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let o = v6.octets();
                ClientKey::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
            }
        }
    }
}

/// Which link a route names, for the per-link bucket. A pay link's id and
/// its username are two keys: the middleware does not look links up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LinkKind {
    Withdraw,
    Pay,
    Address,
}

/// How a route answers a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Surface {
    /// LUD JSON with HTTP 200, counted under this pattern.
    Wallet(&'static str),
    /// A 429 page with `Retry-After` (pages, QR images, health, metrics,
    /// static files, unknown paths).
    Page,
    /// The admin JSON 429; only failed logins are limited there.
    Admin,
}

/// The routes that name a link, and how each one answers.
const LINK_ROUTES: [(&str, Surface, Option<LinkKind>); 16] = [
    (
        paths::LNURLW,
        Surface::Wallet(paths::LNURLW),
        Some(LinkKind::Withdraw),
    ),
    (
        paths::LNURLW_CALLBACK,
        Surface::Wallet(paths::LNURLW_CALLBACK),
        Some(LinkKind::Withdraw),
    ),
    (
        paths::LNURLP,
        Surface::Wallet(paths::LNURLP),
        Some(LinkKind::Pay),
    ),
    (
        paths::LNURLP_CALLBACK,
        Surface::Wallet(paths::LNURLP_CALLBACK),
        Some(LinkKind::Pay),
    ),
    (
        paths::LNURLP_VERIFY,
        Surface::Wallet(paths::LNURLP_VERIFY),
        None,
    ),
    (
        paths::WELL_KNOWN_LNURLP,
        Surface::Wallet(paths::WELL_KNOWN_LNURLP),
        Some(LinkKind::Address),
    ),
    (
        paths::WITHDRAW_PAGE,
        Surface::Page,
        Some(LinkKind::Withdraw),
    ),
    (
        paths::WITHDRAW_STATUS,
        Surface::Page,
        Some(LinkKind::Withdraw),
    ),
    (paths::QR_WITHDRAW, Surface::Page, Some(LinkKind::Withdraw)),
    (paths::PAY_PAGE, Surface::Page, Some(LinkKind::Pay)),
    (paths::QR_PAY, Surface::Page, Some(LinkKind::Pay)),
    (paths::ADDRESS_PAGE, Surface::Page, Some(LinkKind::Address)),
    (paths::QR_ADDRESS, Surface::Page, Some(LinkKind::Address)),
    (paths::PAY_INVOICE, Surface::Page, Some(LinkKind::Pay)),
    (paths::PAY_INVOICE_PAGE, Surface::Page, Some(LinkKind::Pay)),
    (
        paths::ADDRESS_INVOICE,
        Surface::Page,
        Some(LinkKind::Address),
    ),
];

/// The surface of a request, and the link it names (its kind and its
/// segment, decoded; a QR file without its extension, a username in
/// lowercase), from its matched `pattern` and its `path`.
fn classify(pattern: Option<&str>, path: &str) -> (Surface, Option<(LinkKind, String)>) {
    if path.starts_with("/api/") {
        return (Surface::Admin, None);
    }
    let Some(pattern) = pattern else {
        return (Surface::Page, None);
    };
    let Some((_, surface, kind)) = LINK_ROUTES.iter().find(|(p, _, _)| *p == pattern) else {
        return (Surface::Page, None);
    };
    let link = kind.and_then(|kind| {
        let at = pattern.split('/').position(|s| s.starts_with('{'))?;
        let raw = path.split('/').nth(at)?;
        let mut name = percent_decode_str(raw).decode_utf8_lossy().into_owned();
        if pattern.starts_with("/qr/") {
            if let Some((stem, _ext)) = name.rsplit_once('.') {
                name.truncate(stem.len());
            }
        }
        if kind == LinkKind::Address {
            name = name.to_lowercase();
        }
        Some((kind, name))
    });
    (*surface, link)
}

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the rightmost address of `X-Forwarded-For` (else `Forwarded`) that is
/// not a trusted proxy itself (the leftmost when all are). A header that
/// does not parse is ignored: the peer is the client then.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(chain) = forwarded_chain(headers) else {
        return peer;
    };
    let mut client = peer;
    for ip in chain.into_iter().rev() {
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The addresses a proxy chain names, oldest first: all of
/// `X-Forwarded-For` when present, else the `for=` of `Forwarded`
/// (RFC 7239). `None` when the header is absent or any entry does not
/// parse.
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let xff: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().ok())
        .collect::<Option<_>>()?;
    let chain = if !xff.is_empty() {
        xff.iter()
            .flat_map(|v| v.split(','))
            .map(node_ip)
            .collect::<Option<Vec<_>>>()?
    } else {
        let fwd: Vec<&str> = headers
            .get_all(FORWARDED)
            .map(|v| v.to_str().ok())
            .collect::<Option<_>>()?;
        fwd.iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                let value = element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v)
                })?;
                node_ip(value)
            })
            .collect::<Option<Vec<_>>>()?
    };
    (!chain.is_empty()).then_some(chain)
}

/// One node of a proxy header: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`,
/// `[::1]:80`, optionally quoted (as `Forwarded` quotes IPv6).
fn node_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| s.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

/// What the middleware does with a request.
pub enum Admission {
    /// Serve it; on the routes that take the admin token, with the client
    /// whose failed login ([`Limits::after_admin`]) is to be counted.
    Pass(Option<ClientKey>),
    /// Answer this refusal instead.
    Refuse(HttpResponse),
}

/// The limiters of one server (shared by every actix worker).
pub struct Limits {
    enabled: bool,
    trusted: Vec<IpNet>,
    per_ip: Option<Limiter<ClientKey>>,
    per_link: Option<Limiter<(LinkKind, u64)>>,
    auth_failures: Option<Limiter<ClientKey>>,
    /// Clients refused on the admin API until the instant, after too many
    /// failed logins.
    blocked: BoundedStore<ClientKey>,
    blocked_since: Instant,
    /// Keys per-link buckets by a hash of the link's name, so a key is a
    /// fixed size however long a name a stranger sends.
    hasher: RandomState,
}

impl Limits {
    /// The limiters `config` asks for (a validated config: a trusted proxy
    /// that does not parse is skipped here, `validate` refuses it).
    pub fn new(config: &LimitsConfig) -> Limits {
        let cap = config.max_keys as usize;
        Limits {
            enabled: config.enabled,
            trusted: config.trusted_proxy_nets().unwrap_or_default(),
            per_ip: limiter(config.per_ip_per_minute, config.per_ip_burst, cap),
            per_link: limiter(config.per_link_per_minute, config.per_link_burst, cap),
            auth_failures: limiter(
                config.admin_auth_failures_per_minute,
                config.admin_auth_failures_burst,
                cap,
            ),
            blocked: BoundedStore::new(cap),
            blocked_since: Instant::now(),
            hasher: RandomState::new(),
        }
    }

    /// Serves `req`, or refuses it with the answer of its surface (counted
    /// in `svc`'s metrics).
    pub fn admit(&self, svc: &Services, req: &ServiceRequest) -> Admission {
        if !self.enabled {
            return Admission::Pass(None);
        }
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let client = ClientKey::from(client_ip(peer, req.headers(), &self.trusted));
        let pattern = req.match_pattern();
        let (surface, link) = classify(pattern.as_deref(), req.path());
        let route = pattern.as_deref().unwrap_or("unmatched");
        // The voucher sheet takes the admin token too: its failed logins
        // count with the API's.
        let takes_token = surface == Surface::Admin || route == paths::VOUCHERS;
        let blocked = if takes_token {
            self.blocked_for(client).map(|secs| ("admin_auth", secs))
        } else {
            None
        };
        let refused = blocked.or_else(|| match surface {
            Surface::Admin => None,
            Surface::Wallet(_) | Surface::Page => self.check_public(client, link),
        });
        let Some((limit, retry_after_secs)) = refused else {
            return Admission::Pass(takes_token.then_some(client));
        };
        svc.metrics().rate_limited(route, limit);
        tracing::debug!(route, limit, retry_after_secs, "rate limited");
        let e = Error::TooManyRequests { retry_after_secs };
        Admission::Refuse(match surface {
            Surface::Wallet(route) => lud_error(svc, route, &e),
            Surface::Page => page_error(&e),
            Surface::Admin => ApiError(e).error_response(),
        })
    }

    /// The per-IP, then the per-link bucket: the refusing limit and the
    /// seconds to wait, if one refuses.
    fn check_public(
        &self,
        client: ClientKey,
        link: Option<(LinkKind, String)>,
    ) -> Option<(&'static str, u64)> {
        if let Some(l) = &self.per_ip {
            if let Err(secs) = check(l, &client) {
                return Some(("ip", secs));
            }
        }
        if let (Some(l), Some((kind, name))) = (&self.per_link, link) {
            let key = (kind, self.hasher.hash_one(&name));
            if let Err(secs) = check(l, &key) {
                return Some(("link", secs));
            }
        }
        None
    }

    /// Seconds `client` is still refused on the admin API, if it is.
    fn blocked_for(&self, client: ClientKey) -> Option<u64> {
        let until = self.blocked.map().get(&client).copied()?;
        let now = self.since_start();
        (until > now).then(|| whole_secs(Duration::from_nanos(until.as_u64() - now.as_u64())))
    }

    /// Counts an admin answer of `client`: a 401 takes a token from its
    /// failed-login bucket, and an empty bucket blocks the client's admin
    /// requests until the bucket has a token again.
    pub fn after_admin(&self, client: ClientKey, status: StatusCode) {
        if status != StatusCode::UNAUTHORIZED {
            return;
        }
        let Some(l) = &self.auth_failures else {
            return;
        };
        if let Err(not_until) = l.check_key(&client) {
            let wait = not_until.wait_time_from(l.clock().now());
            let until = self.since_start() + Nanos::from(wait);
            let _ = self
                .blocked
                .measure_and_replace(&client, |_| Ok::<_, ()>(((), until)));
        }
    }

    fn since_start(&self) -> Nanos {
        Nanos::from(self.blocked_since.elapsed())
    }

    /// Forgets every key whose bucket is full again (and every block that
    /// has run out): their state is that of a client never seen.
    pub fn prune(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_link {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.auth_failures {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.blocked.retain_recent(self.since_start());
        self.blocked.shrink_to_fit();
    }

    /// Keys held by each limiter (per IP, per link, failed logins,
    /// blocked), for tests of the bound.
    pub fn key_counts(&self) -> [usize; 4] {
        [
            self.per_ip.as_ref().map_or(0, Limiter::len),
            self.per_link.as_ref().map_or(0, Limiter::len),
            self.auth_failures.as_ref().map_or(0, Limiter::len),
            self.blocked.len(),
        ]
    }
}

/// Prunes `limits` every minute until `shutdown` turns true.
pub async fn prune_loop(limits: Arc<Limits>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = tick.tick() => limits.prune(),
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        LimitsConfig {
            trusted_proxies: list.iter().map(|s| s.to_string()).collect(),
            ..LimitsConfig::default()
        }
        .trusted_proxy_nets()
        .expect("nets")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn client_ip_decisions() {
        let proxies = nets(&["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);
        // (peer, headers, the client it names)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            // An untrusted peer is the client, whatever it claims.
            (
                "203.0.113.9",
                &[("x-forwarded-for", "198.51.100.1")],
                "203.0.113.9",
            ),
            (
                "203.0.113.9",
                &[("forwarded", "for=198.51.100.1")],
                "203.0.113.9",
            ),
            // A trusted peer without a header is the client.
            ("127.0.0.1", &[], "127.0.0.1"),
            // The rightmost address that is not a trusted proxy.
            (
                "127.0.0.1",
                &[("x-forwarded-for", "198.51.100.1")],
                "198.51.100.1",
            ),
            (
                "127.0.0.1",
                &[("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.1.2.3")],
                "198.51.100.1",
            ),
            // Header lines join in order.
            (
                "127.0.0.1",
                &[
                    ("x-forwarded-for", "6.6.6.6"),
                    ("x-forwarded-for", "198.51.100.2, 10.0.0.5"),
                ],
                "198.51.100.2",
            ),
            // All trusted: the leftmost.
            (
                "10.9.9.9",
                &[("x-forwarded-for", "10.0.0.1, 10.0.0.2")],
                "10.0.0.1",
            ),
            // Ports, brackets and quotes.
            (
                "127.0.0.1",
                &[("x-forwarded-for", "198.51.100.1:4711")],
                "198.51.100.1",
            ),
            (
                "127.0.0.1",
                &[("x-forwarded-for", "[2001:db8::7]:443")],
                "2001:db8::7",
            ),
            (
                "127.0.0.1",
                &[(
                    "forwarded",
                    "for=198.51.100.3;proto=https, For=\"[2001:db8::8]:4711\";by=10.0.0.1",
                )],
                "2001:db8::8",
            ),
            (
                "127.0.0.1",
                &[("forwarded", "for=6.6.6.6, for=10.0.0.1")],
                "6.6.6.6",
            ),
            // XFF wins over Forwarded.
            (
                "127.0.0.1",
                &[
                    ("forwarded", "for=6.6.6.6"),
                    ("x-forwarded-for", "198.51.100.4"),
                ],
                "198.51.100.4",
            ),
            // Anything that does not parse: the peer.
            (
                "127.0.0.1",
                &[("x-forwarded-for", "198.51.100.1, bogus")],
                "127.0.0.1",
            ),
            ("127.0.0.1", &[("x-forwarded-for", "")], "127.0.0.1"),
            ("127.0.0.1", &[("forwarded", "for=unknown")], "127.0.0.1"),
            ("127.0.0.1", &[("forwarded", "proto=https")], "127.0.0.1"),
            // A v4-mapped peer is its IPv4 address.
            (
                "::ffff:127.0.0.1",
                &[("x-forwarded-for", "198.51.100.5")],
                "198.51.100.5",
            ),
            (
                "fd00::1",
                &[("x-forwarded-for", "::ffff:198.51.100.6")],
                "198.51.100.6",
            ),
        ];
        for (peer, h, want) in cases {
            assert_eq!(
                client_ip(ip(peer), &headers(h), &proxies),
                ip(want),
                "peer {peer}, headers {h:?}"
            );
        }
        // Without trusted proxies nothing is read from headers.
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                &headers(&[("x-forwarded-for", "1.2.3.4")]),
                &[]
            ),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            ClientKey::from(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::from(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            ClientKey::from(ip("2001:db8:1:2::1")),
            ClientKey::from(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::from(ip("::ffff:1.2.3.4")),
            ClientKey::from(ip("1.2.3.4"))
        );
    }

    #[test]
    fn routes_name_their_links() {
        let link = |p: Option<&str>, path: &str| classify(p, path).1;
        assert_eq!(
            link(Some(paths::QR_PAY), "/qr/p/pl_1.png"),
            Some((LinkKind::Pay, "pl_1".into()))
        );
        assert_eq!(
            link(Some(paths::LNURLP_CALLBACK), "/lnurlp/pl_%31/callback"),
            Some((LinkKind::Pay, "pl_1".into()))
        );
        assert_eq!(
            link(Some(paths::WELL_KNOWN_LNURLP), "/.well-known/lnurlp/Alice"),
            Some((LinkKind::Address, "alice".into()))
        );
        assert_eq!(
            link(Some(paths::WITHDRAW_STATUS), "/w/s3cr3t/status"),
            Some((LinkKind::Withdraw, "s3cr3t".into()))
        );
        assert_eq!(link(Some(paths::LNURLP_VERIFY), "/lnurlp/verify/ab"), None);
        assert_eq!(
            classify(Some(paths::LNURLP_VERIFY), "/lnurlp/verify/ab").0,
            Surface::Wallet(paths::LNURLP_VERIFY)
        );
        assert_eq!(classify(Some("/healthz"), "/healthz").0, Surface::Page);
        assert_eq!(classify(None, "/nothing/here").0, Surface::Page);
        assert_eq!(classify(None, "/api/v1/nothing").0, Surface::Admin);
        assert_eq!(
            classify(Some("/api/v1/pay-links"), "/api/v1/pay-links").0,
            Surface::Admin
        );
    }

    #[test]
    fn a_full_store_stays_full_and_lets_new_keys_through() {
        let l: Limiter<u32> = limiter(1, 1, 100).expect("limiter");
        for key in 0..10_000u32 {
            assert!(check(&l, &key).is_ok(), "first request of {key}");
        }
        assert_eq!(l.len(), 100);
        // The first hundred are remembered and limited; later ones are not.
        assert!(check(&l, &5).is_err());
        assert!(check(&l, &5_000).is_ok());
    }

    #[test]
    fn prune_forgets_idle_keys() {
        // 60,000 per minute: a bucket of 1 is full again after 1 ms.
        let limits = Limits::new(&LimitsConfig {
            per_ip_per_minute: 60_000,
            per_ip_burst: 1,
            ..LimitsConfig::default()
        });
        let l = limits.per_ip.as_ref().expect("per-ip limiter");
        for i in 0..50u8 {
            assert!(check(l, &ClientKey::V4([10, 0, 0, i])).is_ok());
        }
        assert_eq!(limits.key_counts()[0], 50);
        std::thread::sleep(Duration::from_millis(5));
        limits.prune();
        assert_eq!(limits.key_counts()[0], 0);
    }

    #[test]
    fn zero_turns_one_limit_off() {
        let limits = Limits::new(&LimitsConfig {
            per_ip_per_minute: 0,
            per_link_burst: 0,
            ..LimitsConfig::default()
        });
        assert!(limits.per_ip.is_none());
        assert!(limits.per_link.is_none());
        assert!(limits.auth_failures.is_some());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(whole_secs(Duration::ZERO), 1);
        assert_eq!(whole_secs(Duration::from_millis(1)), 1);
        assert_eq!(whole_secs(Duration::from_millis(59_001)), 60);
        assert_eq!(whole_secs(Duration::from_secs(6)), 6);
    }
}
