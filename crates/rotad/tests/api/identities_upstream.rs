//! Identities in upstream's shapes: org memberships on list and get, PATCH, search.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_envelope, Answer, TestApp};

/// Asserts a 422 with an issue whose path starts with `path`.
pub fn assert_names(res: &Answer, path: Value) {
    let issues = assert_envelope(res, 422);
    let path = path.as_array().cloned().unwrap_or_default();
    let named = issues.as_array().is_some_and(|issues| {
        issues.iter().any(|issue| {
            issue["path"]
                .as_array()
                .is_some_and(|p| p.len() >= path.len() && p[..path.len()] == path[..])
        })
    });
    assert!(named, "an issue names {path:?}: {issues}");
}

async fn create(app: &TestApp, name: &str, role: Option<&str>) -> String {
    let mut body = json!({"name": name, "organizationId": app.org_id});
    if let Some(role) = role {
        body["role"] = json!(role);
    }
    let res = app.post("/api/v1/identities", body).await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["identity"]["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn list_and_get_answer_org_memberships_with_the_identity_nested() {
    let app = TestApp::spawn().await;
    let id = create(&app, "plain", None).await;
    let (with_ua, _, _) = app.identity("with-ua", "member").await;

    let list = app
        .get(&format!("/api/v1/identities?orgId={}", app.org_id))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let all = list.body["identities"].as_array().expect("identities");
    assert_eq!(list.body["totalCount"], json!(all.len()));
    // The bootstrap admin, and the two created here.
    assert_eq!(all.len(), 3, "{}", list.body);
    let plain = all
        .iter()
        .find(|m| m["identityId"] == id.as_str())
        .expect("listed");
    assert_eq!(plain["role"], "no-access", "role defaults to no-access");
    assert_eq!(plain["orgId"], app.org_id.as_str());
    assert_eq!(plain["identity"]["id"], id.as_str());
    assert_eq!(plain["identity"]["name"], "plain");
    assert_eq!(plain["identity"]["authMethods"], json!([]));
    assert_eq!(plain["identity"]["hasDeleteProtection"], false);
    assert!(plain["customRole"].is_null() && plain["roleId"].is_null());

    let get = app.get(&format!("/api/v1/identities/{with_ua}")).await;
    assert_eq!(get.status, 200, "{}", get.body);
    let m = &get.body["identity"];
    assert_eq!(m["identityId"], with_ua.as_str());
    assert_eq!(m["role"], "member");
    assert_eq!(m["identity"]["name"], "with-ua");
    assert_eq!(m["identity"]["authMethods"], json!(["universal-auth"]));

    let other_org = uuid::Uuid::new_v4();
    let res = app
        .get(&format!("/api/v1/identities?orgId={other_org}"))
        .await;
    assert_envelope(&res, 403);
    let res = app.get(&format!("/api/v1/identities/{other_org}")).await;
    assert_envelope(&res, 404);
}

#[tokio::test]
async fn patch_renames_and_changes_the_role_and_refuses_bad_input() {
    let app = TestApp::spawn().await;
    let id = create(&app, "before", Some("member")).await;
    let path = format!("/api/v1/identities/{id}");

    for (body, field) in [
        (json!({"role": "owner"}), "role"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "x".repeat(65)}), "name"),
        (json!({"bogus": 1}), "bogus"),
        (json!({"hasDeleteProtection": true}), "hasDeleteProtection"),
        (
            json!({"metadata": [{"key": "k", "value": "v"}]}),
            "metadata",
        ),
        (json!({"name": 7}), "name"),
    ] {
        let res = app.patch(&path, body).await;
        assert_names(&res, json!([field]));
    }
    let unchanged = app.get(&path).await;
    assert_eq!(unchanged.body["identity"]["identity"]["name"], "before");
    assert_eq!(unchanged.body["identity"]["role"], "member");

    let res = app
        .patch(&path, json!({"name": "after", "role": "admin"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["identity"]["name"], "after");
    assert_eq!(res.body["identity"]["role"], "admin");
    let res = app.patch(&path, json!({"name": "renamed-only"})).await;
    assert_eq!(res.body["identity"]["role"], "admin", "{}", res.body);
    let got = app.get(&path).await;
    assert_eq!(got.body["identity"]["identity"]["name"], "renamed-only");

    let missing = format!("/api/v1/identities/{}", uuid::Uuid::new_v4());
    assert_envelope(&app.patch(&missing, json!({"name": "x"})).await, 404);
    assert_envelope(&app.patch("/api/v1/identities/nope", json!({})).await, 422);

    // The caller cannot change its own organization role.
    let me = app.get("/api/v1/identities").await.body["identities"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|m| m["role"] == "admin" && m["identityId"] != id.as_str())
                .cloned()
        })
        .expect("bootstrap admin");
    let own = format!(
        "/api/v1/identities/{}",
        me["identityId"].as_str().unwrap_or_default()
    );
    assert_envelope(&app.patch(&own, json!({"role": "member"})).await, 400);
}

#[tokio::test]
async fn a_demoted_identity_is_refused_at_its_very_next_request() {
    let app = TestApp::spawn().await;
    let (id, client_id, secret) = app.identity("org-admin", "admin").await;
    let token = app.login(&client_id, &secret).await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let create =
        |name: &str| json!({"name": name, "organizationId": app.org_id, "role": "no-access"});
    let res = app
        .call(
            Method::POST,
            "/api/v1/identities",
            Some(&token),
            Some(create("one")),
        )
        .await;
    assert_eq!(res.status, 200, "the admin may create: {}", res.body);

    let res = app
        .patch(
            &format!("/api/v1/identities/{id}"),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .call(
            Method::POST,
            "/api/v1/identities",
            Some(&token),
            Some(create("two")),
        )
        .await;
    assert_envelope(&res, 403);
    // A member may still read, and may not PATCH identities.
    let list = app
        .call(Method::GET, "/api/v1/identities", Some(&token), None)
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let res = app
        .call(
            Method::PATCH,
            &format!("/api/v1/identities/{id}"),
            Some(&token),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_envelope(&res, 403);
    let res = app
        .call(
            Method::POST,
            "/api/v1/identities/search",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(res.status, 200, "members may search: {}", res.body);

    let res = app
        .patch(
            &format!("/api/v1/identities/{id}"),
            json!({"role": "no-access"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let list = app
        .call(Method::GET, "/api/v1/identities", Some(&token), None)
        .await;
    assert_envelope(&list, 403);
}

fn names_of(res: &Answer) -> Vec<String> {
    res.body["identities"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["identity"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn search_filters_orders_and_pages() {
    let app = TestApp::spawn().await;
    for (name, role) in [
        ("ci-alpha", "member"),
        ("ci-beta", "no-access"),
        ("ci-gamma", "member"),
        ("deploy", "admin"),
    ] {
        create(&app, name, Some(role)).await;
    }
    let search = |body: Value| app.post("/api/v1/identities/search", body);

    let res = search(json!({"search": {"name": {"$contains": "CI-"}}, "limit": 2})).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(names_of(&res), ["ci-alpha", "ci-beta"]);
    assert_eq!(res.body["totalCount"], 3);
    let res =
        search(json!({"search": {"name": {"$contains": "ci-"}}, "limit": 2, "offset": 2})).await;
    assert_eq!(names_of(&res), ["ci-gamma"]);
    assert_eq!(res.body["totalCount"], 3);

    let res =
        search(json!({"search": {"role": {"$in": ["member"]}}, "orderDirection": "desc"})).await;
    assert_eq!(names_of(&res), ["ci-gamma", "ci-alpha"]);
    let res = search(json!({"search": {"name": "deploy"}})).await;
    assert_eq!(names_of(&res), ["deploy"]);
    let res = search(json!({"search": {"name": {"$contains": "ci"}, "role": "no-access"}})).await;
    assert_eq!(names_of(&res), ["ci-beta"]);
    let res = search(json!({"orderBy": "role", "search": {"name": {"$contains": "ci-"}}})).await;
    assert_eq!(names_of(&res), ["ci-alpha", "ci-gamma", "ci-beta"]);
    let res = search(json!({})).await;
    assert_eq!(
        res.body["totalCount"], 5,
        "with the bootstrap admin: {}",
        res.body
    );
    assert_eq!(
        res.body["identities"][0]["identity"]["orgId"],
        app.org_id.as_str()
    );

    for (body, path) in [
        (
            json!({"search": {"$or": [{"name": "x"}]}}),
            json!(["search", "$or"]),
        ),
        (json!({"limit": 0}), json!(["limit"])),
        (json!({"limit": 101}), json!(["limit"])),
        (json!({"offset": -1}), json!(["offset"])),
        (json!({"orderBy": "createdAt"}), json!(["orderBy"])),
        (json!({"orderDirection": "up"}), json!(["orderDirection"])),
        (json!({"bogus": true}), json!(["bogus"])),
        (
            json!({"search": {"name": {"$in": ["x"]}}}),
            json!(["search", "name", "$in"]),
        ),
        (
            json!({"search": {"role": {"$contains": "x"}}}),
            json!(["search", "role", "$contains"]),
        ),
    ] {
        assert_names(&search(body).await, path);
    }
    assert_envelope(&search(json!({"search": {"metadata": {}}})).await, 422);
}

#[tokio::test]
async fn the_new_routes_are_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let doc = app.call(Method::GET, "/api/docs/json", None, None).await;
    let paths = &doc.body["paths"];
    for (path, method) in [
        ("/api/v1/identities/{identityId}", "patch"),
        ("/api/v1/identities/search", "post"),
        (
            "/api/v1/auth/universal-auth/identities/{identityId}",
            "patch",
        ),
        (
            "/api/v1/auth/universal-auth/identities/{identityId}",
            "delete",
        ),
        (
            "/api/v1/auth/universal-auth/identities/{identityId}/client-secrets/{clientSecretId}",
            "get",
        ),
        ("/api/v1/projects/{projectId}/memberships/identities", "get"),
        (
            "/api/v1/projects/{projectId}/memberships/identities/{identityId}",
            "patch",
        ),
    ] {
        assert!(
            paths[path][method].is_object(),
            "OpenAPI lists {method} {path}"
        );
    }
}
