//! The limiter's decision functions: client addresses, route classes, buckets.

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
