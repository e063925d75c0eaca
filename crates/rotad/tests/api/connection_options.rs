//! App connections in upstream's shapes: the options list, `credentialsHash` and `project` in
//! answers, and the settings dbt connections refuse.

use reqwest::Method;
use serde_json::json;

use crate::connections::{body, create, credentials, emulator, BASE};
use crate::helpers::{assert_envelope, TestApp};
use crate::identities_upstream::assert_names;

#[tokio::test]
async fn the_options_list_offers_dbt_with_its_method() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/app-connections/options").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let options = res.body["appConnectionOptions"]
        .as_array()
        .expect("options");
    assert_eq!(options.len(), 1, "{}", res.body);
    assert_eq!(options[0]["app"], "dbt");
    assert_eq!(options[0]["methods"], json!(["api-token"]));
    assert!(options[0]["name"].is_string());

    let anonymous = app
        .call(Method::GET, "/api/v1/app-connections/options", None, None)
        .await;
    assert_envelope(&anonymous, 401);
    let project = app.project("opts").await;
    let viewer = app.member_token(&project, "viewer").await;
    let res = app
        .call(
            Method::GET,
            "/api/v1/app-connections/options",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn answers_carry_the_credentials_hash_and_the_project() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let org_wide = create(&app, &emu, "org-wide").await;
    let got = app.get(&format!("{BASE}/{org_wide}")).await;
    let connection = &got.body["appConnection"];
    assert!(connection["project"].is_null(), "{}", got.body);
    let hash = connection["credentialsHash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_eq!(hash.len(), 64);
    let token = emu.admin_token();
    assert!(!got.body.to_string().contains(&token), "never the token");

    // A renamed connection keeps its hash; new credentials change it.
    let res = app
        .patch(&format!("{BASE}/{org_wide}"), json!({"name": "renamed"}))
        .await;
    assert_eq!(res.body["appConnection"]["credentialsHash"], hash.as_str());
    let res = app
        .patch(
            &format!("{BASE}/{org_wide}"),
            json!({"credentials": credentials(&emu)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_ne!(res.body["appConnection"]["credentialsHash"], hash.as_str());

    let project = app.project("owned").await;
    let mut scoped = body(&emu, "scoped");
    scoped["projectId"] = json!(project);
    let res = app.post(BASE, scoped).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["appConnection"]["project"]["id"], project.as_str());
    assert_eq!(res.body["appConnection"]["project"]["name"], "owned");
    assert_eq!(
        res.body["appConnection"]["project"]["type"],
        "secret-manager"
    );
    let list = app
        .get(&format!("/api/v1/app-connections?projectId={project}"))
        .await;
    let listed = list.body["appConnections"].as_array().expect("list");
    assert!(listed
        .iter()
        .any(|c| c["project"]["id"] == project.as_str() && c["credentialsHash"].is_string()));
}

#[tokio::test]
async fn platform_managed_credentials_and_gateways_are_refused() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    for (field, value, name) in [
        ("isPlatformManagedCredentials", json!(true), "kept-platform"),
        (
            "gatewayId",
            json!(uuid::Uuid::new_v4().to_string()),
            "kept-gateway",
        ),
    ] {
        let mut input = body(&emu, "refused");
        input[field] = value.clone();
        assert_names(&app.post(BASE, input).await, json!([field]));
        let id = create(&app, &emu, name).await;
        let res = app
            .patch(
                &format!("{BASE}/{id}"),
                json!({ field: value, "name": "changed" }),
            )
            .await;
        assert_names(&res, json!([field]));
        let got = app.get(&format!("{BASE}/{id}")).await;
        assert_eq!(got.body["appConnection"]["name"], name);
    }
    let list = app.get(BASE).await;
    assert!(
        !list.body.to_string().contains("\"refused\""),
        "{}",
        list.body
    );

    // Their upstream defaults are accepted.
    let mut input = body(&emu, "defaults");
    input["isPlatformManagedCredentials"] = json!(false);
    input["gatewayId"] = json!(null);
    let res = app.post(BASE, input).await;
    assert_eq!(res.status, 200, "{}", res.body);
}
