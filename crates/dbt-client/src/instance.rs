//! Turning a connection's `instanceUrl` into a base URL, with the SSRF guard.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use crate::error::DbtError;

const LOCAL_NOT_ALLOWED: &str = "Local IPs not allowed as URL";
const UNRESOLVABLE: &str = "Could not resolve hostname to any IP address";
const USER_CREDENTIALS: &str = "URLs with user credentials (e.g., user:pass@) are not allowed";

/// A checked base URL, `scheme://host[:port]` without a trailing slash, and where its host may
/// be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUrl {
    pub base: String,
    /// The domain and the public addresses it resolved to, so requests go to exactly the
    /// addresses that were checked (no DNS rebinding between check and use). `None` for an
    /// IP address (checked as it is) and when internal addresses are allowed (nothing is
    /// checked).
    pub pinned: Option<(String, Vec<SocketAddr>)>,
}

/// Validates `instance_url` and derives the base URL dbt API paths are appended to.
///
/// Without a scheme, `https://` is assumed. Scheme, host and port are kept; path, query and
/// fragment are dropped. Unless `allow_internal` is set, `http://`, local hostnames and
/// hosts resolving to any address that is not public (see `is_internal`) are refused.
pub async fn validate_instance_url(
    instance_url: &str,
    allow_internal: bool,
) -> Result<String, DbtError> {
    resolve(instance_url, allow_internal).await.map(|u| u.base)
}

/// [`validate_instance_url`], also returning the addresses the host resolved to and was
/// checked at ([`InstanceUrl::pinned`]): whoever connects must connect to those only, so
/// that a DNS answer changed after the check (rebinding) cannot lead elsewhere.
pub async fn resolve_instance_url(
    instance_url: &str,
    allow_internal: bool,
) -> Result<InstanceUrl, DbtError> {
    resolve(instance_url, allow_internal).await
}

pub(crate) async fn resolve(
    instance_url: &str,
    allow_internal: bool,
) -> Result<InstanceUrl, DbtError> {
    let url = parse(instance_url, allow_internal)?;
    let base = url.origin().ascii_serialization();
    if allow_internal {
        return Ok(InstanceUrl { base, pinned: None });
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let pinned = match url.host() {
        Some(Host::Ipv4(ip)) => check_addresses(&[IpAddr::V4(ip)]).map(|()| None)?,
        Some(Host::Ipv6(ip)) => check_addresses(&[IpAddr::V6(ip)]).map(|()| None)?,
        Some(Host::Domain(domain)) => {
            if is_local_name(domain) {
                return Err(blocked(LOCAL_NOT_ALLOWED));
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|_| blocked(UNRESOLVABLE))?
                .collect();
            if addrs.is_empty() {
                return Err(blocked(UNRESOLVABLE));
            }
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            check_addresses(&ips)?;
            Some((domain.to_owned(), addrs))
        }
        None => return Err(invalid(instance_url)),
    };
    Ok(InstanceUrl { base, pinned })
}

/// The syntactic checks: scheme, credentials, host.
pub(crate) fn parse(instance_url: &str, allow_internal: bool) -> Result<Url, DbtError> {
    let trimmed = instance_url.trim();
    if trimmed.is_empty() {
        return Err(invalid(instance_url));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| invalid(instance_url))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DbtError::InvalidUrl {
            message: USER_CREDENTIALS.to_owned(),
        });
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_internal => {}
        "http" => {
            return Err(DbtError::InvalidUrl {
                message: format!(
                    "Invalid DBT instance URL: {} (only https:// is allowed)",
                    without_credentials(instance_url)
                ),
            })
        }
        _ => return Err(invalid(instance_url)),
    }
    if url.host().is_none() {
        return Err(invalid(instance_url));
    }
    Ok(url)
}

fn invalid(instance_url: &str) -> DbtError {
    DbtError::InvalidUrl {
        message: format!(
            "Invalid DBT instance URL: {}",
            without_credentials(instance_url)
        ),
    }
}

fn blocked(message: &str) -> DbtError {
    DbtError::Blocked {
        message: message.to_owned(),
    }
}

/// Echoes a URL in an error without any `user:pass@` part, bounded in length.
fn without_credentials(input: &str) -> String {
    let input = input.trim();
    let (scheme, rest) = match input.find("://") {
        Some(at) => input.split_at(at + 3),
        None => ("", input),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => input.to_owned(),
    };
    shown.chars().take(200).collect()
}

fn is_local_name(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    domain == "localhost"
        || domain.ends_with(".localhost")
        || domain == "host.docker.internal"
        || domain == "gateway.docker.internal"
}

/// Refuses if any address is not a public one.
pub(crate) fn check_addresses(ips: &[IpAddr]) -> Result<(), DbtError> {
    if ips.iter().any(|ip| is_internal(*ip)) {
        Err(blocked(LOCAL_NOT_ALLOWED))
    } else {
        Ok(())
    }
}

/// IPv4 ranges that are not public: no request leaves for them.
const DENIED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),        // "this network", unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8),       // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),    // shared address space (CGNAT)
    (Ipv4Addr::new(127, 0, 0, 0), 8),      // loopback
    (Ipv4Addr::new(168, 63, 129, 16), 32), // Azure platform (wireserver, DNS, metadata)
    (Ipv4Addr::new(169, 254, 0, 0), 16),   // link-local, cloud metadata
    (Ipv4Addr::new(172, 16, 0, 0), 12),    // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),     // IETF protocol assignments (DS-Lite, NAT64 discovery…)
    (Ipv4Addr::new(192, 0, 2, 0), 24),     // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 88, 99, 0), 24),   // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),   // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),    // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24),  // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),   // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 4),      // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),      // reserved, and 255.255.255.255 broadcast
];

/// IPv6 ranges that are not public, whatever they carry.
const DENIED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 128), // unspecified
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128), // loopback
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // local-use NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32), // Teredo (carries an obfuscated IPv4)
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48), // benchmarking
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4 (carries an IPv4)
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7), // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), // link-local
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10), // site-local (deprecated)
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), // multicast
];

/// IPv6 prefixes whose last 32 bits are an IPv4 address the traffic reaches: that address
/// decides.
const EMBEDDING_V4: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96), // IPv4-mapped ::ffff:a.b.c.d
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),      // IPv4-compatible ::a.b.c.d (deprecated)
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96), // IPv4-translated ::ffff:0:a.b.c.d
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96), // NAT64 64:ff9b::a.b.c.d
];

fn in_v4(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

fn in_v6(ip: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

/// Whether `ip` is anything but a public unicast address: loopback, private, shared (CGNAT),
/// link-local and cloud metadata, unspecified, broadcast, multicast, reserved, benchmarking,
/// documentation, IETF-assigned, unique and site-local, 6to4 and Teredo; and IPv6 addresses
/// embedding an IPv4 address (mapped, compatible, translated, NAT64) when that address is one
/// of these.
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    DENIED_V4.iter().any(|range| in_v4(ip, *range))
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    if DENIED_V6.iter().any(|range| in_v6(ip, *range)) {
        return true;
    }
    if EMBEDDING_V4.iter().any(|range| in_v6(ip, *range)) {
        let [.., a, b, c, d] = ip.octets();
        return is_internal_v4(Ipv4Addr::new(a, b, c, d));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip literal")
    }

    #[test]
    fn internal_ranges_are_recognised() {
        for internal in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip(internal)), "{internal} should be internal");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "2001:4860::8888",
        ] {
            assert!(!is_internal(ip(public)), "{public} should be public");
        }
    }

    /// Every denied range: its name, one address inside, and the addresses just outside it
    /// (which must pass unless another range takes them).
    const DENIED: &[(&str, &[&str], &[&str])] = &[
        (
            "0.0.0.0/8 this network",
            &["0.0.0.0", "0.255.255.255"],
            &["1.0.0.0"],
        ),
        (
            "10.0.0.0/8 private",
            &["10.0.0.1", "10.255.255.255"],
            &["9.255.255.255", "11.0.0.0"],
        ),
        (
            "100.64.0.0/10 shared (CGNAT)",
            &["100.64.0.0", "100.127.255.255"],
            &["100.63.255.255", "100.128.0.0"],
        ),
        (
            "127.0.0.0/8 loopback",
            &["127.0.0.1", "127.255.255.255"],
            &["126.255.255.255", "128.0.0.0"],
        ),
        (
            "169.254.0.0/16 link-local, cloud metadata",
            &["169.254.169.254", "169.254.0.0"],
            &["169.253.255.255", "169.255.0.0"],
        ),
        (
            "172.16.0.0/12 private",
            &["172.16.0.0", "172.31.255.255"],
            &["172.15.255.255", "172.32.0.0"],
        ),
        (
            "192.0.0.0/24 IETF protocol assignments",
            &["192.0.0.1", "192.0.0.170", "192.0.0.255"],
            &["191.255.255.255", "192.0.1.0"],
        ),
        (
            "192.0.2.0/24 TEST-NET-1",
            &["192.0.2.1"],
            &["192.0.1.255", "192.0.3.0"],
        ),
        (
            "192.88.99.0/24 6to4 relay anycast",
            &["192.88.99.1"],
            &["192.88.98.255", "192.88.100.0"],
        ),
        (
            "192.168.0.0/16 private",
            &["192.168.0.1", "192.168.255.255"],
            &["192.167.255.255", "192.169.0.0"],
        ),
        (
            "198.18.0.0/15 benchmarking",
            &["198.18.0.0", "198.19.255.255"],
            &["198.17.255.255", "198.20.0.0"],
        ),
        (
            "198.51.100.0/24 TEST-NET-2",
            &["198.51.100.7"],
            &["198.51.99.255", "198.51.101.0"],
        ),
        (
            "203.0.113.0/24 TEST-NET-3",
            &["203.0.113.7"],
            &["203.0.112.255", "203.0.114.0"],
        ),
        (
            "224.0.0.0/4 multicast",
            &["224.0.0.1", "239.255.255.255"],
            &["223.255.255.255"],
        ),
        (
            "240.0.0.0/4 reserved, broadcast",
            &["240.0.0.1", "255.255.255.254", "255.255.255.255"],
            &[],
        ),
        (
            "168.63.129.16/32 Azure platform",
            &["168.63.129.16"],
            &["168.63.129.15", "168.63.129.17"],
        ),
        ("::/128 unspecified", &["::"], &[]),
        ("::1/128 loopback", &["::1"], &[]),
        (
            "::ffff:0:0/96 IPv4-mapped, internal IPv4",
            &[
                "::ffff:127.0.0.1",
                "::ffff:10.0.0.1",
                "::ffff:169.254.169.254",
            ],
            &["::ffff:8.8.8.8"],
        ),
        (
            "::/96 IPv4-compatible, internal IPv4",
            &["::127.0.0.1", "::10.0.0.1", "::192.168.1.1"],
            &["::8.8.8.8"],
        ),
        (
            "::ffff:0:0:0/96 IPv4-translated, internal IPv4",
            &["::ffff:0:127.0.0.1"],
            &["::ffff:0:8.8.8.8"],
        ),
        (
            "64:ff9b::/96 NAT64, internal IPv4",
            &[
                "64:ff9b::127.0.0.1",
                "64:ff9b::a9fe:a9fe",
                "64:ff9b::10.1.2.3",
            ],
            &["64:ff9b::8.8.8.8"],
        ),
        (
            "64:ff9b:1::/48 local-use NAT64",
            &["64:ff9b:1::808:808"],
            &["64:ff9b:2::1"],
        ),
        ("100::/64 discard-only", &["100::1"], &["100:0:0:1::1"]),
        (
            "2001::/32 Teredo",
            &["2001:0:4136:e378:8000:63bf:3fff:fdd2"],
            &["2001:1::1"],
        ),
        ("2001:2::/48 benchmarking", &["2001:2::1"], &["2001:3::1"]),
        (
            "2001:db8::/32 documentation",
            &["2001:db8::1"],
            &["2001:db9::1"],
        ),
        (
            "2002::/16 6to4",
            &["2002:7f00:1::1", "2002:808:808::1"],
            &["2003::1"],
        ),
        (
            "3fff::/20 documentation",
            &["3fff::1", "3fff:fff::1"],
            &["3fff:1000::1"],
        ),
        (
            "fc00::/7 unique local",
            &["fc00::1", "fd12:3456::1", "fd00:ec2::254"],
            &["fbff::1"],
        ),
        ("fe80::/10 link-local", &["fe80::1", "febf::1"], &[]),
        ("fec0::/10 site-local", &["fec0::1", "feff::1"], &[]),
        ("ff00::/8 multicast", &["ff02::1", "ff0e::1"], &["feff::1"]),
    ];

    /// Public addresses that must pass.
    const PUBLIC: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "52.20.1.1",
        "104.16.0.1",
        "172.32.0.1",
        "192.0.1.1",
        "223.255.255.255",
        "2001:4860:4860::8888",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
    ];

    #[test]
    fn the_deny_list_covers_every_range_and_nothing_public() {
        let denied_by_another =
            |text: &str| DENIED.iter().any(|(_, inside, _)| inside.contains(&text));
        let mut wrong = Vec::new();
        for (range, inside, outside) in DENIED {
            for text in *inside {
                if !is_internal(ip(text)) {
                    wrong.push(format!("{text} ({range}) passes"));
                }
            }
            for text in *outside {
                if is_internal(ip(text)) && !denied_by_another(text) {
                    wrong.push(format!("{text} (just outside {range}) is refused"));
                }
            }
        }
        for text in PUBLIC {
            if is_internal(ip(text)) {
                wrong.push(format!("{text} (public) is refused"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn credentials_are_not_echoed() {
        assert_eq!(
            without_credentials("https://user:pw@bad host/x"),
            "https://***@bad host/x"
        );
        assert_eq!(without_credentials("a b"), "a b");
    }

    #[test]
    fn local_names_are_recognised() {
        for name in [
            "localhost",
            "LOCALHOST.",
            "api.localhost",
            "host.docker.internal",
        ] {
            assert!(is_local_name(name), "{name}");
        }
        assert!(!is_local_name("cloud.example"));
    }
}
