//! Service-token create, read, list, rename and delete, plus accounts and projects.

mod common;

use chrono::{DateTime, NaiveDateTime};
use common::{create, emulator, request, send, token_path, tokens_path};
use dbt_cloud_emulator::{ADMIN_TOKEN_NAME, STATE_DELETED};
use reqwest::Method;
use serde_json::{json, Value};

fn is_v3_timestamp(value: &Value) -> bool {
    value
        .as_str()
        .and_then(|s| s.strip_suffix("+00:00"))
        .is_some_and(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.6f").is_ok())
}

#[tokio::test]
async fn create_returns_the_full_object_once() {
    let emu = emulator().await;
    let data = create(
        &emu,
        "ci-token",
        json!([
            {"permission_set": "job_admin", "project_id": 101, "writable_environment_categories": ["staging"]},
            {"permission_set": "account_viewer"}
        ]),
    )
    .await;

    let uid = data["uid"].as_str().expect("uid");
    assert_eq!(uid.len(), 7);
    assert!(uid.chars().all(|c| c.is_ascii_alphanumeric()));
    let secret = data["token"].as_str().expect("token");
    assert_eq!(secret.len(), 43);
    assert!(secret
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert_eq!(data["token_string"], format!("dbtc_{uid}{secret}"));
    assert_eq!(data["name"], "ci-token");
    assert_eq!(data["state"], 1);
    assert_eq!(data["account_id"], emu.account_id());
    assert!(
        is_v3_timestamp(&data["created_at"]),
        "{}",
        data["created_at"]
    );
    assert!(is_v3_timestamp(&data["updated_at"]));
    assert_eq!(
        data["permission_grants"],
        json!([
            {"permission_set": "job_admin", "project_id": 101, "writable_environment_categories": ["staging"]},
            {"permission_set": "account_viewer", "project_id": null, "writable_environment_categories": []}
        ])
    );
    let rows = data["service_token_permissions"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["all_projects"], false);
    assert_eq!(rows[0]["service_token_id"], data["id"]);
    assert_eq!(rows[1]["all_projects"], true);

    // Never again: GET and list hide the secret.
    let id = data["id"].as_i64().expect("id");
    let (status, got) = send(request(
        &emu,
        Method::GET,
        &token_path(&emu, id),
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["data"]["token_string"], Value::Null);
    assert_eq!(got["data"]["token"], Value::Null);
    assert_eq!(got["data"]["uid"], uid);
    let (_, listed) = send(request(
        &emu,
        Method::GET,
        &tokens_path(&emu),
        &emu.admin_token(),
    ))
    .await;
    for token in listed["data"].as_array().expect("list") {
        assert_eq!(token["token_string"], Value::Null);
    }

    // The harness sees the secret, and it works.
    let info = emu
        .tokens()
        .into_iter()
        .find(|t| t.id == id)
        .expect("known to the harness");
    assert_eq!(
        info.token_string,
        data["token_string"].as_str().expect("secret")
    );
    assert_eq!(info.grants.len(), 2);
    let (status, _) = send(request(
        &emu,
        Method::GET,
        &tokens_path(&emu),
        &info.token_string,
    ))
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn ids_increase_and_duplicate_names_are_allowed() {
    let emu = emulator().await;
    let first = create(&emu, "same", json!([])).await;
    let second = create(&emu, "same", json!(null)).await;
    assert!(second["id"].as_i64() > first["id"].as_i64());
    assert_ne!(first["token_string"], second["token_string"]);
}

#[tokio::test]
async fn create_validates_name_and_permission_sets() {
    let emu = emulator().await;
    let cases = [
        (json!({"permission_grants": []}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": 7}), "name"),
        (json!({"name": "x".repeat(256)}), "name"),
        (
            json!({"name": "ok", "permission_grants": [{"permission_set": "superuser"}]}),
            "permission_grants",
        ),
        (
            json!({"name": "ok", "permission_grants": [{"project_id": 1}]}),
            "permission_grants",
        ),
        (
            json!({"name": "ok", "permission_grants": [{"permission_set": "developer", "project_id": "1"}]}),
            "permission_grants",
        ),
        (
            json!({"name": "ok", "permission_grants": "account_admin"}),
            "permission_grants",
        ),
    ];
    for (body, field) in cases {
        let (status, response) =
            send(request(&emu, Method::POST, &tokens_path(&emu), &emu.admin_token()).json(&body))
                .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(response["status"]["is_success"], false);
        assert!(response["data"][field].is_string(), "{body} -> {response}");
    }
    let (status, response) =
        send(request(&emu, Method::POST, &tokens_path(&emu), &emu.admin_token()).body("{not json"))
            .await;
    assert_eq!(status, 400);
    assert!(response["status"]["developer_message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Invalid request data")));
    assert_eq!(emu.tokens().len(), 1, "only the seeded admin token exists");
}

#[tokio::test]
async fn list_paginates_by_id_and_filters_by_state() {
    let emu = emulator().await;
    let mut ids = vec![emu.tokens()[0].id];
    for n in 0..5 {
        ids.push(
            create(&emu, &format!("t{n}"), json!([])).await["id"]
                .as_i64()
                .expect("id"),
        );
    }
    let page = |query: &str| {
        let path = format!("{}{query}", tokens_path(&emu));
        send(request(&emu, Method::GET, &path, &emu.admin_token()))
    };
    let (status, body) = page("?limit=2&offset=2").await;
    assert_eq!(status, 200);
    let got: Vec<i64> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(got, ids[2..4]);
    assert_eq!(
        body["extra"]["pagination"],
        json!({"count": 2, "total_count": 6})
    );
    assert_eq!(body["extra"]["filters"]["limit"], 2);
    assert_eq!(body["extra"]["filters"]["offset"], 2);
    assert_eq!(body["extra"]["filters"]["state"], 1);
    assert_eq!(body["extra"]["order_by"], "id");

    let (_, body) = page("?limit=500").await;
    assert_eq!(body["extra"]["filters"]["limit"], 100, "limit is capped");
    let (_, body) = page("?offset=10").await;
    assert_eq!(
        body["extra"]["pagination"],
        json!({"count": 0, "total_count": 6})
    );
    assert_eq!(page("?limit=abc").await.0, 400);

    let (status, _) = send(request(
        &emu,
        Method::DELETE,
        &token_path(&emu, ids[1]),
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 204);
    let count = |body: &Value| body["extra"]["pagination"]["total_count"].as_i64();
    assert_eq!(count(&page("").await.1), Some(5));
    assert_eq!(count(&page("?state=1").await.1), Some(5));
    assert_eq!(count(&page("?state=all").await.1), Some(6));
    let (_, deleted) = page("?state=2").await;
    assert_eq!(deleted["data"][0]["id"], ids[1]);
    assert_eq!(deleted["data"][0]["state"], STATE_DELETED);
}

#[tokio::test]
async fn delete_is_soft_and_not_repeatable() {
    let emu = emulator().await;
    let id = create(&emu, "doomed", json!([])).await["id"]
        .as_i64()
        .expect("id");
    let path = token_path(&emu, id);
    let (status, body) = send(request(&emu, Method::DELETE, &path, &emu.admin_token())).await;
    assert_eq!((status, body), (204, Value::Null));

    let (status, got) = send(request(&emu, Method::GET, &path, &emu.admin_token())).await;
    assert_eq!(status, 200, "a deleted token stays visible");
    assert_eq!(got["data"]["state"], 2);

    let not_found = json!({
        "status": {"code": 404, "is_success": false, "user_message": "The requested resource was not found.", "developer_message": ""},
        "data": null
    });
    let (status, body) = send(request(&emu, Method::DELETE, &path, &emu.admin_token())).await;
    assert_eq!((status, body), (404, not_found.clone()));
    let (status, body) = send(request(
        &emu,
        Method::DELETE,
        &token_path(&emu, 424242),
        &emu.admin_token(),
    ))
    .await;
    assert_eq!((status, body), (404, not_found.clone()));
    let (status, _) = send(request(
        &emu,
        Method::GET,
        &token_path(&emu, 424242),
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 404);
    assert!(!emu.live_tokens().iter().any(|t| t.id == id));
    assert!(emu
        .tokens()
        .iter()
        .any(|t| t.id == id && t.state == STATE_DELETED));
}

#[tokio::test]
async fn paths_work_with_and_without_trailing_slash() {
    let emu = emulator().await;
    let id = create(&emu, "slashes", json!([])).await["id"]
        .as_i64()
        .expect("id");
    let account = emu.account_id();
    for path in [
        format!("/api/v3/accounts/{account}/service-tokens/{id}"),
        format!("/api/v3/accounts/{account}/service-tokens/{id}/"),
        format!("/api/v3/accounts/{account}/service-tokens/{id}/permissions"),
        format!("/api/v3/accounts/{account}/service-tokens"),
        format!("/api/v3/accounts/{account}/projects"),
        format!("/api/v2/accounts/{account}"),
        "/api/v2/accounts".to_owned(),
        "/api/v3/accounts/".to_owned(),
    ] {
        let (status, _) = send(request(&emu, Method::GET, &path, &emu.admin_token())).await;
        assert_eq!(status, 200, "{path}");
    }
    let (status, body) = send(request(
        &emu,
        Method::GET,
        "/api/v3/nothing/",
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["status"]["user_message"],
        "The requested resource was not found."
    );
}

#[tokio::test]
async fn put_renames_a_live_token() {
    let emu = emulator().await;
    let id = create(&emu, "before", json!([])).await["id"]
        .as_i64()
        .expect("id");
    let path = token_path(&emu, id);
    let (status, body) =
        send(request(&emu, Method::PUT, &path, &emu.admin_token()).json(&json!({"name": "after"})))
            .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["name"], "after");
    assert_eq!(body["data"]["token_string"], Value::Null);
    let (status, _) =
        send(request(&emu, Method::PUT, &path, &emu.admin_token()).json(&json!({"name": ""})))
            .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn permissions_are_materialised_rows() {
    let emu = emulator().await;
    let id = create(
        &emu,
        "perm",
        json!([{"permission_set": "developer", "project_id": 102}]),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let path = format!("{}permissions/", token_path(&emu, id));
    let (status, body) = send(request(&emu, Method::GET, &path, &emu.admin_token())).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["permission_set"], "developer");
    assert_eq!(body["data"][0]["project_id"], 102);
    assert_eq!(body["data"][0]["all_projects"], false);
    assert_eq!(body["extra"]["pagination"]["total_count"], 1);
}

#[tokio::test]
async fn accounts_and_projects_are_served() {
    let emu = emulator().await;
    let account = emu.account_id();
    let (status, body) = send(request(
        &emu,
        Method::GET,
        &format!("/api/v2/accounts/{account}/"),
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["status"],
        json!({"code": 200, "is_success": true, "user_message": "Success!", "developer_message": ""})
    );
    assert_eq!(body["data"]["id"], account);
    assert_eq!(body["data"]["state"], 1);
    let created = body["data"]["created_at"].as_str().expect("created_at");
    assert!(
        created.contains('T') && DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );

    let (_, body) = send(request(
        &emu,
        Method::GET,
        "/api/v3/accounts/",
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(body["data"][0]["id"], account);

    let path = format!("/api/v3/accounts/{account}/projects/?limit=2&offset=1");
    let (status, body) = send(request(&emu, Method::GET, &path, &emu.admin_token())).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["data"][0]["id"], 102);
    assert_eq!(body["data"][0]["description"], Value::Null);
    assert_eq!(body["extra"]["pagination"]["total_count"], 3);
}

#[tokio::test]
async fn the_seeded_admin_token_is_listed_and_can_be_chosen() {
    let emu = dbt_cloud_emulator::spawn(dbt_cloud_emulator::EmulatorConfig {
        admin_token: Some("dbtc_AbCdEfGsecretsecretsecret".to_owned()),
        account_id: 77,
        ..Default::default()
    })
    .await
    .expect("starts");
    assert_eq!(emu.admin_token(), "dbtc_AbCdEfGsecretsecretsecret");
    let admin = &emu.tokens()[0];
    assert_eq!(admin.name, ADMIN_TOKEN_NAME);
    assert_eq!(admin.uid, "AbCdEfG");
    let (status, body) = send(request(
        &emu,
        Method::GET,
        &tokens_path(&emu),
        &emu.admin_token(),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["name"], ADMIN_TOKEN_NAME);
    assert_eq!(body["data"][0]["account_id"], 77);
    emu.shutdown().await;
}
