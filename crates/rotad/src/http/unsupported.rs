//! Upstream routes that SDKs can call and rotad does not implement: they answer 404 in the
//! envelope saying so, instead of a generic not-found (docs/COMPATIBILITY.md).

/// Path prefixes of upstream features rotad leaves out, and what to call them. A `*` segment
/// stands for any one segment (an id).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("/api/v1/kms", "KMS"),
    ("/api/v1/dynamic-secrets", "dynamic secrets"),
    ("/api/v1/auth/aws-auth", "AWS auth"),
    ("/api/v1/auth/gcp-auth", "GCP auth"),
    ("/api/v1/auth/azure-auth", "Azure auth"),
    ("/api/v1/auth/kubernetes-auth", "Kubernetes auth"),
    ("/api/v1/auth/oidc-auth", "OIDC auth"),
    ("/api/v1/auth/jwt-auth", "JWT auth"),
    ("/api/v1/auth/ldap-auth", "LDAP auth"),
    ("/api/v1/auth/oci-auth", "OCI auth"),
    ("/api/v1/auth/alicloud-auth", "Alibaba Cloud auth"),
    ("/api/v1/auth/tls-cert-auth", "TLS certificate auth"),
    ("/api/v1/pki", "PKI"),
    ("/api/v1/ssh", "SSH certificates"),
    (
        "/api/v2/workspace/*/memberships",
        "user memberships and invitations",
    ),
];

/// The upstream feature `path` belongs to, when rotad does not implement it.
pub fn feature(path: &str) -> Option<&'static str> {
    UNSUPPORTED
        .iter()
        .find_map(|(prefix, name)| starts_with_segments(path, prefix).then_some(*name))
}

/// Whether `path` begins with the whole segments of `prefix` (`*` matching any one).
fn starts_with_segments(path: &str, prefix: &str) -> bool {
    let mut segments = path.split('/');
    prefix.split('/').all(|want| {
        segments
            .next()
            .is_some_and(|got| got == want || (want == "*" && !got.is_empty()))
    })
}

/// The message of a call to an unsupported route.
pub fn message(feature: &str, method: &axum::http::Method, path: &str) -> String {
    format!(
        "rotad does not implement {feature} ({method} {path}); it supports secrets, folders, \
         universal auth, app connections, secret rotations, audit logs and webhooks"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(feature("/api/v1/kms/keys"), Some("KMS"));
        assert_eq!(feature("/api/v1/kms"), Some("KMS"));
        assert_eq!(feature("/api/v1/kmsx"), None);
        assert_eq!(feature("/api/v1/auth/aws-auth/login"), Some("AWS auth"));
        assert_eq!(feature("/api/v1/auth/universal-auth/login"), None);
        assert_eq!(
            feature("/api/v2/workspace/p1/memberships"),
            Some("user memberships and invitations")
        );
        assert_eq!(feature("/api/v2/workspace//memberships"), None);
        assert_eq!(feature("/api/v2/workspace/p1/identity-memberships"), None);
        assert_eq!(feature("/api/v2/workspace"), None);
    }
}
