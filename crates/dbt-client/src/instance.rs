//! Turning a connection's `instanceUrl` into a base URL, with the SSRF guard.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use crate::error::DbtError;

const LOCAL_NOT_ALLOWED: &str = "Local IPs not allowed as URL";
const UNRESOLVABLE: &str = "Could not resolve hostname to any IP address";
const USER_CREDENTIALS: &str = "URLs with user credentials (e.g., user:pass@) are not allowed";

/// A checked base URL, `scheme://host[:port]` without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceUrl {
    pub base: String,
    /// The domain and the public addresses it resolved to, so requests go to exactly the
    /// addresses that were checked (no DNS rebinding between check and use).
    pub pinned: Option<(String, Vec<SocketAddr>)>,
}

/// Validates `instance_url` and derives the base URL dbt API paths are appended to.
///
/// Without a scheme, `https://` is assumed. Scheme, host and port are kept; path, query and
/// fragment are dropped. Unless `allow_internal` is set, `http://`, local hostnames and
/// hosts resolving to loopback, private, link-local or unspecified addresses are refused.
pub async fn validate_instance_url(
    instance_url: &str,
    allow_internal: bool,
) -> Result<String, DbtError> {
    resolve(instance_url, allow_internal).await.map(|u| u.base)
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

/// Loopback, private, link-local, unspecified, shared (CGNAT), broadcast and multicast
/// addresses, including IPv4 addresses embedded in IPv6.
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            is_internal_v6(v6)
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
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
