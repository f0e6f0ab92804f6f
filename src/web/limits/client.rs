//! Who the client is: its bucket key, and its address behind trusted proxies.

use super::*;

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
