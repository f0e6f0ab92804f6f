//! Which addresses a webhook (or a NIP-57 zap receipt, to a relay) may be
//! sent to: the target-address policy
//! shared by `config` (checks `[webhooks] url` at start), the link services
//! (check a link's `webhook_url`) and the delivery worker (checks the
//! resolved addresses before every attempt). Layer: pure rules, like
//! `lnurl`: no I/O, no DNS; imports only `std` and `url`, never `config`,
//! `service`, `db` or `web`, so each of them can use it without an import
//! circle.
//!
//! # Target checks (SSRF)
//! Only http/https, and only globally reachable unicast addresses, judged
//! against IANA's IPv4 and IPv6 special-purpose address registries. IPv6
//! forms that carry an IPv4 address are decoded first and judged by the
//! IPv4 address they reach: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
//! (`::a.b.c.d`), NAT64 (`64:ff9b::/96`), 6to4 (`2002::/16`, bits 16..48)
//! and Teredo (`2001::/32`: both the server, bits 32..64, and the client,
//! the last 32 bits inverted, must pass).
//!
//! Every address falls in one of three classes ([`Class`]):
//! - **global**: allowed;
//! - **private** — the operator's own networks, allowed only with
//!   `[webhooks] allow_private_targets = true`: loopback (127/8, `::1`,
//!   `localhost`), "this network" (0/8, `::`), private ranges (10/8,
//!   172.16/12, 192.168/16, fc00::/7 and the deprecated site-local
//!   fec0::/10), shared CGNAT space (100.64/10) and benchmarking networks
//!   (198.18/15, 2001:2::/48), which labs use as internal addressing;
//! - **never** allowed, whatever the setting: link-local (169.254/16,
//!   fe80::/10, where cloud metadata services live), cloud metadata hosts
//!   (169.254.169.254, 100.100.100.200, fd00:ec2::254, `metadata`,
//!   `metadata.google.internal`, `metadata.goog`), multicast, broadcast,
//!   reserved (240/4), documentation ranges (192.0.2/24, 198.51.100/24,
//!   203.0.113/24, 2001:db8::/32, 3fff::/20), IETF protocol assignments
//!   (192.0.0/24, 2001::/23 but for Teredo), the retired 6to4 relay anycast
//!   (192.88.99/24), discard-only 100::/64, local-use NAT64
//!   (64:ff9b:1::/48: where the IPv4 address sits in it depends on the
//!   operator's prefix length, so it cannot be decoded and checked) and all
//!   other IPv6 space outside global unicast 2000::/3. None of these is a
//!   host an operator runs a webhook receiver on; a few anycast services in
//!   192.0.0/24 and 2001::/23 (PCP, TURN) are global but not HTTP servers.
//!
//! URLs are checked when a link (or the config) names them, and the
//! resolved addresses are checked again before every attempt — the
//! connection then goes to exactly the addresses checked, so a DNS answer
//! that changes in between (rebinding) cannot reach a refused address.

use std::net::IpAddr;

mod classify;

pub use classify::{classify, classify_v4, classify_v6, Class, Verdict};

/// Host names that are cloud metadata services: never a target.
const METADATA_HOSTS: &[&str] = &["metadata", "metadata.google.internal", "metadata.goog"];

/// Why `ip` may not be a webhook target, or `None` when it may.
pub fn forbidden_ip(ip: IpAddr, allow_private: bool) -> Option<String> {
    let v = classify(ip);
    match v.class {
        Class::Global => None,
        Class::Private if allow_private => None,
        Class::Private | Class::Never => Some(v.why),
    }
}

/// Checks a webhook URL as far as it can be without DNS: http/https, a host,
/// no refused literal address or well-known internal name. The message
/// completes "webhook_url …".
pub fn check_target_url(u: &str, allow_private: bool) -> Result<url::Url, String> {
    let parsed = url::Url::parse(u).map_err(|_| "is not a URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    check_host(parsed, allow_private, "must be an http or https URL")
}

/// Checks a Nostr relay URL (NIP-57 zap receipts go there) by the same
/// address rules as a webhook target: `wss://`, or `ws://` only with
/// `allow_insecure`; a host, no refused literal address or well-known
/// internal name. The message completes "relay …".
pub fn check_relay_url(
    u: &str,
    allow_insecure: bool,
    allow_private: bool,
) -> Result<url::Url, String> {
    let parsed = url::Url::parse(u).map_err(|_| "is not a URL".to_owned())?;
    match parsed.scheme() {
        "wss" => {}
        "ws" if allow_insecure => {}
        "ws" => {
            return Err(
                "must be a wss:// URL; set [nostr] allow_insecure_relays = true to allow ws://"
                    .into(),
            )
        }
        _ => return Err("must be a wss:// URL".into()),
    }
    check_host(parsed, allow_private, "must name a host")
}

/// The host rules shared by webhook targets and relays.
fn check_host(parsed: url::Url, allow_private: bool, no_host: &str) -> Result<url::Url, String> {
    match parsed.host() {
        None => return Err(no_host.into()),
        Some(url::Host::Ipv4(a)) => check_ip(IpAddr::V4(a), allow_private)?,
        Some(url::Host::Ipv6(a)) => check_ip(IpAddr::V6(a), allow_private)?,
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_HOSTS.contains(&d.as_str()) {
                return Err(format!(
                    "points to {d}, a cloud metadata service, which is never allowed"
                ));
            }
            if !allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                return Err(format!(
                    "points to {d} (loopback); set [webhooks] allow_private_targets = true to allow it"
                ));
            }
        }
    }
    Ok(parsed)
}

/// [`classify`] as a message that completes "webhook_url …", saying
/// whether `allow_private_targets` would allow the address.
fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), String> {
    let v = classify(ip);
    match v.class {
        Class::Global => Ok(()),
        Class::Private if allow_private => Ok(()),
        Class::Never => Err(format!("points to {ip}, {}, which is never allowed", v.why)),
        Class::Private => Err(format!(
            "points to {ip}, {}; set [webhooks] allow_private_targets = true to allow it",
            v.why
        )),
    }
}

/// The policy for an offline wallet's push webhook (`[offline]`).
#[derive(Debug, Clone, Copy)]
pub struct PushPolicy<'a> {
    /// `[offline] webhook_hosts`, lowercase.
    pub hosts: &'a [String],
    /// `[offline] allow_insecure_webhooks`: http as well as https.
    pub allow_http: bool,
    /// `[webhooks] allow_private_targets`.
    pub allow_private: bool,
}

/// Checks a phone's push `webhook_url` as far as it can be without DNS:
/// https (http only with `allow_http`), no user or password, a target
/// [`check_target_url`] allows, and a host named in `hosts`. The resolved
/// addresses are checked again before each push. The message completes
/// "webhook_url …".
pub fn check_push_url(u: &str, policy: PushPolicy<'_>) -> Result<url::Url, String> {
    let parsed = check_target_url(u, policy.allow_private)?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ => return Err("must be an https URL".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if !policy.hosts.contains(&host) {
        return Err(format!(
            "points to {host}, which is not in [offline] webhook_hosts"
        ));
    }
    Ok(parsed)
}

/// [`check_push_url`] for a stored registration: also its host must be
/// `bound_host`, the `webhook_host` recorded beside it (compared without
/// case or a trailing dot). For the start-up re-seal and before each push.
/// The message names the host, never the URL (its query is a push token).
pub fn check_bound_push_url(
    u: &str,
    bound_host: &str,
    policy: PushPolicy<'_>,
) -> Result<(), String> {
    let parsed = check_push_url(u, policy).map_err(|e| format!("webhook_url {e}"))?;
    let norm = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
    let host = norm(parsed.host_str().unwrap_or_default());
    if host != norm(bound_host) {
        return Err(format!(
            "webhook_url points to {host}, not to its recorded host {}",
            norm(bound_host)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use Class::{Global, Never, Private};

    /// Every target URL with the class its host must get. Each row is
    /// checked in both `allow_private_targets` modes.
    const TABLE: &[(&str, Class)] = &[
        // The examples of issue 10, all accepted before it.
        ("http://198.18.0.1/", Private),
        ("http://192.0.0.170/", Never),
        ("http://240.0.0.1/", Never),
        ("http://[fec0::1]/", Private),
        ("http://[::127.0.0.1]/", Private),
        ("http://[64:ff9b::a9fe:a9fe]/", Never),
        ("http://[64:ff9b::7f00:1]/", Private),
        ("http://[2002:a9fe:a9fe::1]/", Never),
        // Public forms.
        ("https://1.1.1.1/hook", Global),
        ("https://8.8.8.8/", Global),
        ("http://[2606:4700::1111]/", Global),
        ("http://[2a00:1450:4001:80b::200e]/", Global),
        ("http://[2002:0101:0101::1]/", Global),
        ("http://[64:ff9b::1.1.1.1]/", Global),
        ("http://[::ffff:1.1.1.1]/", Global),
        ("http://[::1.1.1.1]/", Global),
        // Teredo: server 65.54.227.120, client 1.1.1.1 (inverted).
        ("http://[2001:0:4136:e378:8000:63bf:fefe:fefe]/", Global),
        ("https://hooks.example.com/lnurld", Global),
        // Just outside refused ranges.
        ("http://198.20.0.1/", Global),
        ("http://172.32.0.1/", Global),
        ("http://100.128.0.1/", Global),
        ("http://223.255.255.255/", Global),
        ("http://192.0.1.1/", Global),
        // IPv4 special-purpose registry (and multicast, broadcast).
        ("http://0.0.0.0/", Private),
        ("http://0.1.2.3/", Private),
        ("http://10.0.0.1/", Private),
        ("http://100.64.0.1/", Private),
        ("http://100.127.255.254/", Private),
        ("http://127.0.0.1:9000/hook", Private),
        ("http://127.255.0.1/", Private),
        ("http://2130706433/", Private),
        ("http://0x7f.1/", Private),
        ("http://172.16.3.4/", Private),
        ("http://172.31.255.255/", Private),
        ("http://192.168.1.1/", Private),
        ("http://198.19.255.255/", Private),
        ("http://169.254.169.254/latest/meta-data", Never),
        ("http://169.254.1.1/", Never),
        ("http://100.100.100.200/", Never),
        ("http://192.0.0.1/", Never),
        ("http://192.0.0.9/", Never),
        ("http://192.0.2.1/", Never),
        ("http://192.88.99.1/", Never),
        ("http://198.51.100.7/", Never),
        ("http://203.0.113.9/", Never),
        ("http://224.0.0.1/", Never),
        ("http://239.255.255.250/", Never),
        ("http://255.255.255.255/", Never),
        ("http://250.1.2.3/", Never),
        // IPv6 special-purpose registry and what lies outside 2000::/3.
        ("http://[::1]/", Private),
        ("http://[::]/", Private),
        ("http://[fc00::1]/", Private),
        ("http://[fd12:3456::1]/", Private),
        ("http://[fec0::1]/", Private),
        ("http://[feff::1]/", Private),
        ("http://[2001:2::1]/", Private),
        ("http://[fe80::1]/", Never),
        ("http://[febf::1]/", Never),
        ("http://[fd00:ec2::254]/", Never),
        ("http://[ff02::1]/", Never),
        ("http://[ff0e::1]/", Never),
        ("http://[100::1]/", Never),
        ("http://[2001:db8::1]/", Never),
        ("http://[3fff::1]/", Never),
        ("http://[3fff:fff::1]/", Never),
        ("http://[2001:10::1]/", Never),
        ("http://[2001:1::1]/", Never),
        ("http://[2001:1ff::1]/", Never),
        ("http://[5f00::1]/", Never),
        ("http://[4000::1]/", Never),
        ("http://[1000::1]/", Never),
        ("http://[::ffff:0:7f00:1]/", Never),
        ("http://[64:ff9b:1::a9fe:a9fe]/", Never),
        ("http://[64:ff9b:1::1.1.1.1]/", Never),
        // Just outside: still global.
        ("http://[2001:200::1]/", Global),
        ("http://[2001:db9::1]/", Global),
        ("http://[3fff:1000::1]/", Global),
        ("http://[2003::1]/", Global),
        // Embedded IPv4 in every decoded form.
        ("http://[::ffff:127.0.0.1]/", Private),
        ("http://[::ffff:10.0.0.1]/", Private),
        ("http://[::ffff:169.254.169.254]/", Never),
        ("http://[::ffff:198.18.0.1]/", Private),
        ("http://[::ffff:240.0.0.1]/", Never),
        ("http://[::169.254.169.254]/", Never),
        ("http://[::10.1.2.3]/", Private),
        ("http://[64:ff9b::10.0.0.1]/", Private),
        ("http://[64:ff9b::192.0.2.1]/", Never),
        ("http://[64:ff9b::100.100.100.200]/", Never),
        ("http://[2002:7f00:1::1]/", Private),
        ("http://[2002:c0a8:101::1]/", Private),
        ("http://[2002:e000:1::1]/", Never),
        // Teredo: client 127.0.0.1 (inverted: 80ff:fffe), public server.
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", Private),
        // Teredo: client 169.254.169.254, public server.
        ("http://[2001:0:4136:e378:8000:63bf:5601:5601]/", Never),
        // Teredo: server 10.0.0.1, public client 1.1.1.1.
        ("http://[2001:0:a00:1:8000:63bf:fefe:fefe]/", Private),
        // Teredo: server link-local, client loopback: the stricter wins.
        ("http://[2001:0:a9fe:a9fe:8000:63bf:80ff:fffe]/", Never),
        // Names.
        ("http://localhost:8080/", Private),
        ("http://api.localhost/", Private),
        ("http://metadata.google.internal/", Never),
        ("http://METADATA.goog./", Never),
        ("http://metadata/", Never),
    ];

    #[test]
    fn every_target_gets_its_class_in_both_modes() {
        for &(target, class) in TABLE {
            let strict = check_target_url(target, false);
            let open = check_target_url(target, true);
            match class {
                Global => {
                    assert!(strict.is_ok(), "{target}: {strict:?}");
                    assert!(open.is_ok(), "{target}: {open:?}");
                }
                Private => {
                    let e = strict.expect_err(target);
                    assert!(e.contains("allow_private_targets = true"), "{target}: {e}");
                    assert!(open.is_ok(), "{target}: {open:?}");
                }
                Never => {
                    let e = strict.expect_err(target);
                    assert!(e.contains("never allowed"), "{target}: {e}");
                    let e = open.expect_err(target);
                    assert!(e.contains("never allowed"), "{target}: {e}");
                }
            }
        }
    }

    /// The delivery worker checks resolved addresses with `forbidden_ip`:
    /// it must agree with the URL check on every literal in the table.
    #[test]
    fn resolved_addresses_get_the_same_verdict() {
        for &(target, class) in TABLE {
            let u = url::Url::parse(target).expect("table URLs parse");
            let ip = match u.host() {
                Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
                Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
                _ => continue,
            };
            assert_eq!(classify(ip).class, class, "{target}");
            assert_eq!(
                forbidden_ip(ip, false).is_none(),
                class == Global,
                "{target}"
            );
            assert_eq!(forbidden_ip(ip, true).is_none(), class != Never, "{target}");
        }
    }

    #[test]
    fn messages_name_the_embedded_address() {
        let e = check_target_url("http://[2002:a9fe:a9fe::1]/", true).expect_err("6to4 metadata");
        assert!(e.contains("6to4 address of 169.254.169.254"), "{e}");
        assert!(e.contains("link-local"), "{e}");
        let e = check_target_url("http://[64:ff9b::7f00:1]/", false).expect_err("NAT64 loopback");
        assert!(
            e.contains("NAT64 address of 127.0.0.1, a loopback address"),
            "{e}"
        );
        let e = check_target_url("http://198.18.0.1/", false).expect_err("benchmarking");
        assert!(e.contains("benchmarking"), "{e}");
    }

    #[test]
    fn only_http_urls_with_a_host() {
        for bad in [
            "ftp://example.com/",
            "not a url",
            "file:///etc/passwd",
            "mailto:a@b.c",
        ] {
            assert!(check_target_url(bad, true).is_err(), "{bad}");
            assert!(check_target_url(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn relays_follow_the_webhook_address_rules() {
        // (url, allow_insecure, allow_private, accepted)
        let table = [
            ("wss://relay.damus.io", false, false, true),
            ("wss://1.1.1.1/", false, false, true),
            ("ws://relay.damus.io", false, false, false),
            ("ws://relay.damus.io", true, false, true),
            ("https://relay.damus.io", true, true, false),
            ("wss://127.0.0.1:7000", false, false, false),
            ("ws://127.0.0.1:7000", true, true, true),
            ("wss://localhost", false, false, false),
            ("wss://localhost", false, true, true),
            ("wss://169.254.169.254", true, true, false),
            ("wss://metadata.google.internal", true, true, false),
            ("wss://[fe80::1]", true, true, false),
            ("wss://10.0.0.1", false, false, false),
            ("wss://10.0.0.1", false, true, true),
            ("not a url", true, true, false),
        ];
        for (u, insecure, private, ok) in table {
            assert_eq!(
                check_relay_url(u, insecure, private).is_ok(),
                ok,
                "{u} insecure={insecure} private={private}"
            );
        }
    }

    #[test]
    fn push_urls_need_https_and_an_allowed_host() {
        let hosts = ["notifier.example".to_owned(), "127.0.0.1".to_owned()];
        let strict = PushPolicy {
            hosts: &hosts,
            allow_http: false,
            allow_private: false,
        };
        let ok = "https://notifier.example/api/v1/notify?platform=ios&token=t";
        assert!(check_push_url(ok, strict).is_ok());
        assert!(check_push_url("https://NOTIFIER.example./n", strict).is_ok());
        for (bad, why) in [
            ("http://notifier.example/n", "https"),
            ("https://other.example/n", "not in [offline] webhook_hosts"),
            (
                "https://notifier.example.evil.test/n",
                "not in [offline] webhook_hosts",
            ),
            ("https://u:p@notifier.example/n", "user name"),
            // Loopback stays refused although it is on the list.
            ("https://127.0.0.1/n", "allow_private_targets"),
            ("https://10.0.0.1/n", "allow_private_targets"),
            ("https://169.254.169.254/n", "never allowed"),
            ("https://localhost/n", "loopback"),
            ("ftp://notifier.example/n", "http or https"),
        ] {
            let e = check_push_url(bad, strict).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        let dev = PushPolicy {
            hosts: &hosts,
            allow_http: true,
            allow_private: true,
        };
        assert!(check_push_url("http://notifier.example/n", dev).is_ok());
        assert!(check_push_url("http://127.0.0.1:9/n", dev).is_ok());
        assert!(check_push_url("http://10.0.0.1/n", dev).is_err());
        assert!(check_push_url("http://169.254.169.254/n", dev).is_err());
    }

    #[test]
    fn stored_push_urls_must_keep_their_recorded_host() {
        let hosts = ["notifier.example".to_owned(), "other.example".to_owned()];
        let strict = PushPolicy {
            hosts: &hosts,
            allow_http: false,
            allow_private: false,
        };
        let token = "secret-push-token";
        let url = format!("https://notifier.example/n?token={token}");
        assert_eq!(
            check_bound_push_url(&url, "notifier.example", strict),
            Ok(())
        );
        assert_eq!(
            check_bound_push_url(&url, "NOTIFIER.example.", strict),
            Ok(())
        );
        // Allowed by the list, but not the host recorded with the row.
        let e = check_bound_push_url(&url, "other.example", strict).expect_err("other host");
        assert!(e.contains("recorded host other.example"), "{e}");
        // A host since taken out of the list.
        let fewer = ["other.example".to_owned()];
        let now = PushPolicy {
            hosts: &fewer,
            ..strict
        };
        let e = check_bound_push_url(&url, "notifier.example", now).expect_err("delisted");
        assert!(e.contains("not in [offline] webhook_hosts"), "{e}");
        for e in [
            check_bound_push_url(&url, "other.example", strict),
            check_bound_push_url(&url, "notifier.example", now),
        ] {
            assert!(!e.expect_err("refused").contains(token));
        }
    }
}
