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

mod client;
mod store;
#[cfg(test)]
mod tests;

pub use client::{client_ip, ClientKey};
pub use store::BoundedStore;
use store::{check, limiter, whole_secs, Limiter, PRUNE_EVERY};

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
    /// Offline wallets' registration routes: the registration JSON 429,
    /// limited per IP by the hour as well.
    Registration,
}

/// The routes that name a link, and how each one answers.
const LINK_ROUTES: [(&str, Surface, Option<LinkKind>); 18] = [
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
    // An offline wallet's callback, limited per wallet as a pay link is.
    (
        paths::OFFLINE_INVOICE,
        Surface::Wallet(paths::OFFLINE_INVOICE),
        Some(LinkKind::Pay),
    ),
    (
        paths::OFFLINE_VERIFY,
        Surface::Wallet(paths::OFFLINE_VERIFY),
        Some(LinkKind::Pay),
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
    if pattern == paths::OFFLINE_REGISTRATION || pattern == paths::OFFLINE_RECOVER {
        return (Surface::Registration, None);
    }
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
    /// `[offline] registrations_per_ip_per_hour`.
    offline_registrations: Option<Limiter<ClientKey>>,
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
            offline_registrations: None,
            blocked: BoundedStore::new(cap),
            blocked_since: Instant::now(),
            hasher: RandomState::new(),
        }
    }

    /// Also limits offline wallets' registration calls to `per_hour` per
    /// client IP (`0`: no such limit).
    pub fn with_offline_registrations(mut self, per_hour: u32, max_keys: u32) -> Limits {
        self.offline_registrations = NonZeroU32::new(per_hour).map(|n| {
            RateLimiter::new(
                Quota::per_hour(n),
                BoundedStore::new(max_keys as usize),
                DefaultClock::default(),
            )
        });
        self
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
            Surface::Registration => self.check_public(client, None).or_else(|| {
                let l = self.offline_registrations.as_ref()?;
                check(l, &client)
                    .err()
                    .map(|secs| ("offline_registration", secs))
            }),
        });
        let Some((limit, retry_after_secs)) = refused else {
            return Admission::Pass(takes_token.then_some(client));
        };
        svc.metrics().rate_limited(route, limit);
        tracing::debug!(route, limit, retry_after_secs, "rate limited");
        let e = Error::TooManyRequests { retry_after_secs };
        Admission::Refuse(match surface {
            Surface::Wallet(route) => lud_error(svc, route, &e),
            Surface::Page => {
                let mut page = page_error(&e);
                super::html::add_security_headers(&mut page);
                page
            }
            Surface::Admin => ApiError(e).error_response(),
            Surface::Registration => super::error::registration_error(&e),
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
        if let Some(l) = &self.offline_registrations {
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
