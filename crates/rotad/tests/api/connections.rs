//! The `dbt` app connection API against the dbt Cloud emulator.

use dbt_cloud_emulator::{Emulator, EmulatorConfig, Fault, Grant, Operation};
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, Answer, TestApp};

pub const BASE: &str = "/api/v1/app-connections/dbt";

pub async fn emulator() -> Emulator {
    dbt_cloud_emulator::spawn(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

/// A bootstrapped server that refuses internal dbt hosts (`ROTAD_ALLOW_INTERNAL_IP_CONNECTIONS`
/// off), as in production.
pub async fn spawn_strict() -> TestApp {
    TestApp::spawn_with(|a| a.allow_internal_ip_connections = false).await
}

pub fn credentials(emu: &Emulator) -> Value {
    json!({
        "instanceUrl": emu.base_url(),
        "accountId": emu.account_id().to_string(),
        "apiToken": emu.admin_token(),
    })
}

pub fn body(emu: &Emulator, name: &str) -> Value {
    json!({"name": name, "method": "api-token", "credentials": credentials(emu)})
}

/// Creates a connection; returns its id.
pub async fn create(app: &TestApp, emu: &Emulator, name: &str) -> String {
    let res = app.post(BASE, body(emu, name)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

pub fn message(answer: &Answer, status: u16) -> String {
    assert_envelope(answer, status)
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The path of the first validation issue of a 422.
pub fn issue_path(answer: &Answer) -> Value {
    assert_envelope(answer, 422);
    assert_eq!(answer.body["error"], "ValidationFailure", "{}", answer.body);
    answer.body["message"][0]["path"].clone()
}

#[tokio::test]
async fn create_checks_the_credentials_and_answers_without_the_token() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let res = app
        .post(
            BASE,
            json!({"name": "prod-dbt", "method": "api-token", "description": "the account",
                "credentials": credentials(&emu)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let c = &res.body["appConnection"];
    assert_eq!(c["name"], "prod-dbt");
    assert_eq!(c["description"], "the account");
    assert_eq!(c["app"], "dbt");
    assert_eq!(c["method"], "api-token");
    assert_eq!(c["version"], 1);
    assert_eq!(c["orgId"], app.org_id.as_str());
    assert_eq!(c["projectId"], Value::Null);
    assert_eq!(c["isPlatformManagedCredentials"], false);
    assert_eq!(c["gatewayId"], Value::Null);
    assert!(c["createdAt"].is_string() && c["updatedAt"].is_string());
    assert_eq!(
        c["credentials"],
        json!({"instanceUrl": emu.base_url(), "accountId": emu.account_id().to_string()})
    );
    assert!(!res.body.to_string().contains(&emu.admin_token()));
    assert_eq!(emu.calls(Operation::AccountGet), 1, "the account probe ran");
}

#[tokio::test]
async fn a_token_dbt_rejects_is_400_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let mut b = body(&emu, "bad-token");
    b["credentials"]["apiToken"] = json!("dbtc_not-a-real-token");
    let res = app.post(BASE, b).await;
    assert_eq!(
        message(&res, 400),
        "Failed to validate credentials: Invalid token."
    );
    assert_eq!(res.body["error"], "BadRequest");
    assert!(!res.body.to_string().contains("not-a-real-token"));
    let list = app.get(BASE).await;
    assert_eq!(list.body["appConnections"], json!([]), "{}", list.body);
}

#[tokio::test]
async fn a_failing_account_probe_is_400() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    emu.inject(Fault::status(Operation::AccountGet, 500));
    let res = app.post(BASE, body(&emu, "flaky")).await;
    assert_eq!(
        message(&res, 400),
        "Failed to validate credentials: There was a server error. Please contact support!"
    );
    assert_eq!(
        emu.calls(Operation::AccountGet),
        1,
        "validation is not retried"
    );
}

#[tokio::test]
async fn internal_and_credentialed_urls_are_refused_without_a_call() {
    let app = spawn_strict().await;
    let emu = emulator().await;
    let port = emu
        .base_url()
        .rsplit(':')
        .next()
        .unwrap_or("80")
        .to_string();
    for (url, expected) in [
        (
            format!("http://127.0.0.1:{port}"),
            format!("Invalid DBT instance URL: http://127.0.0.1:{port} (only https:// is allowed)"),
        ),
        (
            "http://localhost".to_string(),
            "Invalid DBT instance URL: http://localhost (only https:// is allowed)".to_string(),
        ),
        (
            format!("https://127.0.0.1:{port}"),
            "Local IPs not allowed as URL".to_string(),
        ),
        (
            "https://localhost".to_string(),
            "Local IPs not allowed as URL".to_string(),
        ),
        (
            "https://10.0.0.1".to_string(),
            "Local IPs not allowed as URL".to_string(),
        ),
        (
            "https://user:pass@example.com".to_string(),
            "URLs with user credentials (e.g., user:pass@) are not allowed".to_string(),
        ),
    ] {
        let mut b = body(&emu, "internal");
        b["credentials"]["instanceUrl"] = json!(url);
        let res = app.post(BASE, b).await;
        assert_eq!(message(&res, 400), expected, "{url}");
        assert!(
            !res.body.to_string().contains("pass@example"),
            "{}",
            res.body
        );
    }
    assert_eq!(emu.calls(Operation::Any), 0, "dbt was never called");
}

#[tokio::test]
async fn bad_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let good = body(&emu, "good-name");
    let with = |pointer: &str, value: Value| {
        let mut b = good.clone();
        *b.pointer_mut(pointer).expect("field") = value;
        b
    };
    let without = |field: &str| {
        let mut b = good.clone();
        if let Some((parent, key)) = field.rsplit_once('/') {
            if let Some(o) = b.pointer_mut(parent).and_then(Value::as_object_mut) {
                o.remove(key);
            }
        }
        b
    };
    for (case, b, path, text) in [
        (
            "empty name",
            with("/name", json!("")),
            json!(["name"]),
            Some("name field must be at least 1 lowercase character"),
        ),
        (
            "long name",
            with("/name", json!("a".repeat(33))),
            json!(["name"]),
            Some("name field must be at most 32 lowercase characters"),
        ),
        (
            "bad name",
            with("/name", json!("Prod DBT")),
            json!(["name"]),
            Some("name field can only contain lowercase letters, numbers, and hyphens"),
        ),
        ("missing name", without("/name"), json!(["name"]), None),
        (
            "method",
            with("/method", json!("oauth")),
            json!(["method"]),
            None,
        ),
        (
            "missing method",
            without("/method"),
            json!(["method"]),
            None,
        ),
        (
            "missing credentials",
            without("/credentials"),
            json!(["credentials"]),
            None,
        ),
        (
            "empty url",
            with("/credentials/instanceUrl", json!("  ")),
            json!(["credentials", "instanceUrl"]),
            Some("Instance URL required"),
        ),
        (
            "bad url",
            with("/credentials/instanceUrl", json!("not a url")),
            json!(["credentials", "instanceUrl"]),
            Some("Invalid Instance URL"),
        ),
        (
            "missing url",
            without("/credentials/instanceUrl"),
            json!(["credentials", "instanceUrl"]),
            None,
        ),
        (
            "empty account",
            with("/credentials/accountId", json!("")),
            json!(["credentials", "accountId"]),
            Some("Account ID required"),
        ),
        (
            "long account",
            with("/credentials/accountId", json!("1".repeat(256))),
            json!(["credentials", "accountId"]),
            None,
        ),
        (
            "empty token",
            with("/credentials/apiToken", json!("")),
            json!(["credentials", "apiToken"]),
            Some("API Token required"),
        ),
        (
            "long token",
            with("/credentials/apiToken", json!("t".repeat(256))),
            json!(["credentials", "apiToken"]),
            None,
        ),
        (
            "missing token",
            without("/credentials/apiToken"),
            json!(["credentials", "apiToken"]),
            None,
        ),
        (
            "token type",
            with("/credentials/apiToken", json!(12)),
            json!(["credentials", "apiToken"]),
            None,
        ),
    ] {
        let res = app.post(BASE, b).await;
        assert_eq!(issue_path(&res), path, "{case}: {}", res.body);
        if let Some(text) = text {
            assert_eq!(res.body["message"][0]["message"], text, "{case}");
        }
    }
    assert_eq!(emu.calls(Operation::Any), 0, "nothing invalid reaches dbt");
}

#[tokio::test]
async fn a_duplicate_name_is_400() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    create(&app, &emu, "dup").await;
    let res = app.post(BASE, body(&emu, "dup")).await;
    assert_eq!(
        message(&res, 400),
        "An App Connection with the name \"dup\" already exists"
    );
    let other = create(&app, &emu, "other").await;
    let rename = app
        .patch(&format!("{BASE}/{other}"), json!({"name": "dup"}))
        .await;
    assert_eq!(
        message(&rename, 400),
        "An App Connection with the name \"dup\" already exists"
    );
}

#[tokio::test]
async fn update_renames_and_revalidates_new_credentials() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let id = create(&app, &emu, "before").await;
    let path = format!("{BASE}/{id}");

    let renamed = app
        .patch(&path, json!({"name": "after", "description": "renamed"}))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["appConnection"]["name"], "after");
    assert_eq!(renamed.body["appConnection"]["description"], "renamed");
    assert_eq!(renamed.body["appConnection"]["version"], 2);
    let cleared = app.patch(&path, json!({"description": null})).await;
    assert_eq!(cleared.body["appConnection"]["description"], Value::Null);
    assert_eq!(cleared.body["appConnection"]["name"], "after");

    emu.reset_calls();
    let mut wrong = credentials(&emu);
    wrong["apiToken"] = json!("dbtc_wrong-token");
    let refused = app.patch(&path, json!({"credentials": wrong})).await;
    assert_eq!(
        message(&refused, 400),
        "Failed to validate credentials: Invalid token."
    );
    assert_eq!(
        emu.calls(Operation::AccountGet),
        1,
        "new credentials are probed"
    );
    let partial = app
        .patch(
            &path,
            json!({"credentials": {"apiToken": emu.admin_token()}}),
        )
        .await;
    assert_eq!(issue_path(&partial)[0], "credentials", "{}", partial.body);

    // A second admin token of the account replaces the first.
    let second = emu.create_token("second-admin", vec![Grant::account("account_admin")]);
    let mut fresh = credentials(&emu);
    fresh["apiToken"] = json!(second.token_string);
    let updated = app.patch(&path, json!({"credentials": fresh})).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["appConnection"]["version"], 4);
    assert!(!updated.body.to_string().contains(&second.token_string));
    let projects = app.get(&format!("{path}/projects")).await;
    assert_eq!(projects.status, 200, "{}", projects.body);

    let missing = app
        .patch(
            &format!("{BASE}/00000000-0000-0000-0000-000000000000"),
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(
        message(&missing, 404),
        "Could not find App Connection with ID 00000000-0000-0000-0000-000000000000"
    );
}
