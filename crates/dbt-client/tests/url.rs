//! Instance URL rules: scheme, port, credentials, and the SSRF guard.

use dbt_client::{validate_instance_url, ClientOptions, DbtClient, DbtError};

const LOCAL: &str = "Local IPs not allowed as URL";

fn strict() -> ClientOptions {
    ClientOptions::default()
}

fn internal() -> ClientOptions {
    ClientOptions {
        allow_internal: true,
        ..ClientOptions::default()
    }
}

async fn base(url: &str, options: ClientOptions) -> Result<String, DbtError> {
    DbtClient::connect(url, "1", "dbtc_token", options)
        .await
        .map(|client| client.base_url().to_owned())
}

#[tokio::test]
async fn https_is_assumed_and_scheme_host_and_port_are_kept() {
    assert_eq!(
        base("93.184.216.34:8443/some/path?x=1#f", strict()).await,
        Ok("https://93.184.216.34:8443".to_owned())
    );
    assert_eq!(
        base("https://93.184.216.34:443/", strict()).await,
        Ok("https://93.184.216.34".to_owned())
    );
    assert_eq!(
        base("  https://[2001:4860:4860::8888]:9443  ", strict()).await,
        Ok("https://[2001:4860:4860::8888]:9443".to_owned())
    );
    assert_eq!(
        validate_instance_url("93.184.216.34", false).await,
        Ok("https://93.184.216.34".to_owned())
    );
}

#[tokio::test]
async fn plain_http_needs_allow_internal() {
    let err = base("http://93.184.216.34", strict())
        .await
        .expect_err("refused");
    assert!(matches!(err, DbtError::InvalidUrl { .. }));
    assert!(err.to_string().contains("only https://"), "{err}");
    assert_eq!(
        base("http://127.0.0.1:8090/api", internal()).await,
        Ok("http://127.0.0.1:8090".to_owned())
    );
}

#[tokio::test]
async fn user_credentials_are_refused_even_when_internal_is_allowed() {
    for options in [strict(), internal()] {
        let err = base("https://user:pass@93.184.216.34", options)
            .await
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "URLs with user credentials (e.g., user:pass@) are not allowed"
        );
    }
    let err = base("https://user@93.184.216.34", strict())
        .await
        .expect_err("refused");
    assert!(matches!(err, DbtError::InvalidUrl { .. }));
}

#[tokio::test]
async fn local_and_private_addresses_are_refused_without_allow_internal() {
    for url in [
        "127.0.0.1",
        "https://127.0.0.1:8443",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "[::1]",
        "[fc00::1]",
        "[fe80::1]",
        "[::ffff:127.0.0.1]",
        "0x7f000001",
        "localhost",
        "https://LOCALHOST:8080",
        "api.localhost",
    ] {
        let err = base(url, strict()).await.expect_err(url);
        assert_eq!(
            err,
            DbtError::Blocked {
                message: LOCAL.to_owned()
            },
            "{url}"
        );
        assert!(
            base(url, internal()).await.is_ok(),
            "{url} with allow_internal"
        );
    }
}

#[tokio::test]
async fn unresolvable_hosts_are_refused() {
    let err = base("https://no-such-host.invalid", strict())
        .await
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "Could not resolve hostname to any IP address"
    );
}

#[tokio::test]
async fn unparseable_urls_and_other_schemes_are_invalid() {
    for url in [
        "",
        "   ",
        "https://",
        "https://exa mple.com",
        "ftp://93.184.216.34",
    ] {
        let err = base(url, internal()).await.expect_err(url);
        assert!(matches!(err, DbtError::InvalidUrl { .. }), "{url}: {err:?}");
        assert!(
            err.to_string().starts_with("Invalid DBT instance URL: "),
            "{err}"
        );
    }
    let err = base("https://u:hunter2@exa mple.com", internal())
        .await
        .expect_err("invalid");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn account_id_and_token_are_checked() {
    for account in ["", "abc", "1/../2", "12 3"] {
        let err = DbtClient::connect("93.184.216.34", account, "dbtc_x", strict())
            .await
            .expect_err(account);
        assert!(matches!(err, DbtError::InvalidInput { .. }), "{account}");
    }
    let err = DbtClient::connect("93.184.216.34", "1", "   ", strict())
        .await
        .expect_err("empty token");
    assert!(matches!(err, DbtError::InvalidInput { .. }));
    let err = DbtClient::connect("93.184.216.34", "1", "dbtc_a\nb", strict())
        .await
        .expect_err("header-unsafe token");
    assert!(matches!(err, DbtError::InvalidInput { .. }));
    assert!(!err.to_string().contains("dbtc_a"));
}
