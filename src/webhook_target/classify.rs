//! The address classes of the target policy (see the parent module): every
//! IPv4 and IPv6 address judged against IANA's special-purpose registries,
//! the IPv6 forms that carry an IPv4 address decoded first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How an address may be used as a webhook target. Ordered from most to
/// least permissive, so that the stricter of two verdicts is the `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Globally reachable unicast: always allowed.
    Global,
    /// One of the operator's own networks: allowed only with
    /// `allow_private_targets`.
    Private,
    /// Never allowed.
    Never,
}

/// The class of an address and, unless it is global, why (completing
/// "points to ADDRESS, …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The class.
    pub class: Class,
    /// What the address is, in words; empty for a global one.
    pub why: String,
}

impl Verdict {
    fn global() -> Verdict {
        Verdict {
            class: Class::Global,
            why: String::new(),
        }
    }

    fn private(why: &str) -> Verdict {
        Verdict {
            class: Class::Private,
            why: why.to_owned(),
        }
    }

    fn never(why: &str) -> Verdict {
        Verdict {
            class: Class::Never,
            why: why.to_owned(),
        }
    }

    /// The verdict of the IPv4 address `v4` carried inside an IPv6 address
    /// of the given form.
    fn embedded(form: &str, v4: Ipv4Addr) -> Verdict {
        let inner = classify_v4(v4);
        match inner.class {
            Class::Global => inner,
            class => Verdict {
                class,
                why: format!("{form} address of {v4}, {}", inner.why),
            },
        }
    }
}

/// True when `a` lies in `net`/`len`.
fn in_v4(a: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(a) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// True when `a` lies in `net`/`len`.
fn in_v6(a: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(a) & mask == u128::from(net) & mask
}

/// The class of an IPv4 address (IANA IPv4 special-purpose registry).
pub fn classify_v4(a: Ipv4Addr) -> Verdict {
    // Order matters where ranges nest: the metadata host sits in 100.64/10.
    let never: &[([u8; 4], u32, &str)] = &[
        (
            [169, 254, 0, 0],
            16,
            "a link-local address (where cloud metadata services live)",
        ),
        ([100, 100, 100, 200], 32, "a cloud metadata address"),
        ([255, 255, 255, 255], 32, "the broadcast address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved address (240.0.0.0/4)"),
        (
            [192, 0, 0, 0],
            24,
            "an IETF protocol assignment (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "a documentation address (192.0.2.0/24)"),
        (
            [198, 51, 100, 0],
            24,
            "a documentation address (198.51.100.0/24)",
        ),
        (
            [203, 0, 113, 0],
            24,
            "a documentation address (203.0.113.0/24)",
        ),
        (
            [192, 88, 99, 0],
            24,
            "the retired 6to4 relay anycast range (192.88.99.0/24)",
        ),
    ];
    let private: &[([u8; 4], u32, &str)] = &[
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([0, 0, 0, 0], 8, "a \"this network\" address (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "a private network address"),
        ([172, 16, 0, 0], 12, "a private network address"),
        ([192, 168, 0, 0], 16, "a private network address"),
        ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
        (
            [198, 18, 0, 0],
            15,
            "a benchmarking address (198.18.0.0/15)",
        ),
    ];
    if let Some((_, _, why)) = never.iter().find(|(n, l, _)| in_v4(a, *n, *l)) {
        return Verdict::never(why);
    }
    if let Some((_, _, why)) = private.iter().find(|(n, l, _)| in_v4(a, *n, *l)) {
        return Verdict::private(why);
    }
    Verdict::global()
}

/// The class of an IPv6 address (IANA IPv6 special-purpose registry), with
/// the IPv4 address of the forms that carry one decoded and judged.
pub fn classify_v6(a: Ipv6Addr) -> Verdict {
    let s = a.segments();
    let low32 = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let net = |t: &str| t.parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::UNSPECIFIED);
    if in_v6(a, net("fe80::"), 10) {
        return Verdict::never("a link-local address (where cloud metadata services live)");
    }
    if a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Verdict::never("a cloud metadata address");
    }
    if a.is_multicast() {
        return Verdict::never("a multicast address");
    }
    if a.is_loopback() {
        return Verdict::private("a loopback address");
    }
    if a.is_unspecified() {
        return Verdict::private("an unspecified address");
    }
    if in_v6(a, net("::ffff:0:0"), 96) {
        return Verdict::embedded("an IPv4-mapped", low32);
    }
    if in_v6(a, net("::"), 96) {
        return Verdict::embedded("an IPv4-compatible", low32);
    }
    if in_v6(a, net("64:ff9b::"), 96) {
        return Verdict::embedded("a NAT64", low32);
    }
    if in_v6(a, net("64:ff9b:1::"), 48) {
        return Verdict::never(
            "a local-use NAT64 address (64:ff9b:1::/48), whose IPv4 address cannot be told without the network's prefix length",
        );
    }
    if in_v6(a, net("2002::"), 16) {
        let v4 = Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2]));
        return Verdict::embedded("a 6to4", v4);
    }
    if in_v6(a, net("2001::"), 32) {
        let server = Ipv4Addr::from((u32::from(s[2]) << 16) | u32::from(s[3]));
        let client = Ipv4Addr::from(!u32::from(low32));
        let s = Verdict::embedded("a Teredo", server);
        let c = Verdict::embedded("a Teredo", client);
        return if c.class >= s.class { c } else { s };
    }
    let private: &[(&str, u32, &str)] = &[
        ("fc00::", 7, "a private network address (unique local)"),
        ("fec0::", 10, "a site-local address (deprecated, private)"),
        ("2001:2::", 48, "a benchmarking address (2001:2::/48)"),
    ];
    let never: &[(&str, u32, &str)] = &[
        ("2001::", 23, "an IETF protocol assignment (2001::/23)"),
        ("2001:db8::", 32, "a documentation address (2001:db8::/32)"),
        ("3fff::", 20, "a documentation address (3fff::/20)"),
        ("100::", 64, "a discard-only address (100::/64)"),
    ];
    if let Some((_, _, why)) = private.iter().find(|(n, l, _)| in_v6(a, net(n), *l)) {
        return Verdict::private(why);
    }
    if let Some((_, _, why)) = never.iter().find(|(n, l, _)| in_v6(a, net(n), *l)) {
        return Verdict::never(why);
    }
    if !in_v6(a, net("2000::"), 3) {
        return Verdict::never("not a global unicast address (outside 2000::/3)");
    }
    Verdict::global()
}

/// The class of any address.
pub fn classify(ip: IpAddr) -> Verdict {
    match ip {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    }
}
