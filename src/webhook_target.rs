//! Which addresses a webhook may be sent to: the target-address policy
//! shared by `config` (checks `[webhooks] url` at start), the link services
//! (check a link's `webhook_url`) and the delivery worker (checks the
//! resolved addresses before every attempt). Layer: pure rules, like
//! `lnurl`: no I/O, no DNS; imports only `std` and `url`, never `config`,
//! `service`, `db` or `web`, so each of them can use it without an import
//! circle.
//!
//! # Target checks (SSRF)
//! Only http/https. Link-local (169.254.0.0/16, fe80::/10) and cloud
//! metadata hosts (169.254.169.254, 100.100.100.200, fd00:ec2::254,
//! `metadata`, `metadata.google.internal`, `metadata.goog`) are always
//! refused; loopback, `localhost`, private ranges (10/8, 172.16/12,
//! 192.168/16, 100.64/10, fc00::/7) and unspecified addresses are refused
//! unless `[webhooks] allow_private_targets = true`. URLs are checked when a
//! link (or the config) names them, and the resolved addresses are checked
//! again before every attempt — the connection then goes to exactly the
//! addresses checked, so a DNS answer that changes in between (rebinding)
//! cannot reach a refused address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Host names that are cloud metadata services: never a target.
const METADATA_HOSTS: &[&str] = &["metadata", "metadata.google.internal", "metadata.goog"];

/// Why `ip` may not be a webhook target, or `None` when it may.
pub fn forbidden_ip(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    // ::ffff:a.b.c.d is a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if o[0] == 169 && o[1] == 254 {
                return Some("a link-local address (where cloud metadata services live)");
            }
            if a == Ipv4Addr::new(100, 100, 100, 200) {
                return Some("a cloud metadata address");
            }
            if a.is_multicast() || a.is_broadcast() {
                return Some("a multicast or broadcast address");
            }
            if allow_private {
                return None;
            }
            if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_private() {
                Some("a private network address")
            } else if o[0] == 0 {
                Some("an unspecified address")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("a shared (carrier-grade NAT) address")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if (s[0] & 0xffc0) == 0xfe80 {
                return Some("a link-local address (where cloud metadata services live)");
            }
            if a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
                return Some("a cloud metadata address");
            }
            if a.is_multicast() {
                return Some("a multicast address");
            }
            if allow_private {
                return None;
            }
            if a.is_loopback() {
                Some("a loopback address")
            } else if a.is_unspecified() {
                Some("an unspecified address")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("a private network address (unique local)")
            } else {
                None
            }
        }
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
    match parsed.host() {
        None => return Err("must be an http or https URL".into()),
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

/// [`forbidden_ip`] as a message that completes "webhook_url …", saying
/// whether `allow_private_targets` would allow the address.
fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), String> {
    match forbidden_ip(ip, allow_private) {
        None => Ok(()),
        Some(why) if forbidden_ip(ip, true).is_some() => {
            Err(format!("points to {ip}, {why}, which is never allowed"))
        }
        Some(why) => Err(format!(
            "points to {ip}, {why}; set [webhooks] allow_private_targets = true to allow it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked() {
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://169.254.1.1/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://100.100.100.200/",
            "http://metadata.google.internal/",
            "http://[::ffff:169.254.169.254]/",
            "ftp://example.com/",
            "not a url",
        ] {
            assert!(check_target_url(bad, true).is_err(), "{bad}");
            assert!(check_target_url(bad, false).is_err(), "{bad}");
        }
        for private in [
            "http://127.0.0.1:9000/hook",
            "http://10.0.0.1/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://[::1]/",
            "http://[fc00::1]/",
            "http://localhost:8080/",
            "http://0.0.0.0/",
        ] {
            assert!(check_target_url(private, true).is_ok(), "{private}");
            assert!(check_target_url(private, false).is_err(), "{private}");
        }
        assert!(check_target_url("https://hooks.example.com/lnurld", false).is_ok());
    }
}
