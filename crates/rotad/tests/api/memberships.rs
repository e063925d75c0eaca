//! Project memberships of identities: PATCH (roles replaced) and the paged list.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};
use crate::identities_upstream::assert_names;

fn member_path(project: &str, id: &str) -> String {
    format!("/api/v1/projects/{project}/memberships/identities/{id}")
}

/// An identity logged in with `role` in `project`: (identity id, token).
async fn member(app: &TestApp, project: &str, name: &str, role: &str) -> (String, String) {
    let (id, client_id, secret) = app.identity(name, "no-access").await;
    let res = app
        .post(
            &member_path(project, &id),
            json!({"roles": [{"role": role}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let token = app.login(&client_id, &secret).await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    (id, token)
}

#[tokio::test]
async fn patch_replaces_the_roles_and_a_demotion_holds_at_the_next_request() {
    let app = TestApp::spawn().await;
    let project = app.project("demote").await;
    let (id, token) = member(&app, &project, "writer", "member").await;
    let write = |key: &str| json!({"workspaceId": project, "environment": "dev", "secretValue": "v", "type": "shared", "secretKey": key});
    let res = app
        .call(
            Method::POST,
            "/api/v3/secrets/raw/A",
            Some(&token),
            Some(write("A")),
        )
        .await;
    assert_eq!(res.status, 200, "a member writes: {}", res.body);

    let res = app
        .patch(
            &member_path(&project, &id),
            json!({"roles": [
                {"role": "viewer", "isTemporary": false},
                {"role": "member", "isTemporary": true, "temporaryMode": "relative",
                 "temporaryRange": "1h", "temporaryAccessStartTime": "2020-01-01T00:00:00Z"}
            ]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let roles = res.body["roles"].as_array().expect("roles");
    assert_eq!(roles.len(), 2);
    assert_eq!(roles[0]["role"], "viewer");
    assert_eq!(roles[0]["isTemporary"], false);
    assert!(roles[0]["customRoleId"].is_null() && roles[0]["customRoleSlug"].is_null());
    assert!(roles[0]["id"]
        .as_str()
        .is_some_and(|i| uuid::Uuid::parse_str(i).is_ok()));
    assert_ne!(roles[0]["id"], roles[1]["id"]);
    assert_eq!(roles[1]["temporaryMode"], "relative");
    assert_eq!(
        roles[1]["temporaryAccessEndTime"],
        "2020-01-01T01:00:00.000Z"
    );

    // The lapsed temporary member role grants nothing: the viewer is refused at once.
    let res = app
        .call(
            Method::POST,
            "/api/v3/secrets/raw/B",
            Some(&token),
            Some(write("B")),
        )
        .await;
    assert_envelope(&res, 403);
    let res = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{project}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "a viewer reads: {}", res.body);

    let got = app.get(&member_path(&project, &id)).await;
    let membership = &got.body["identityMembership"];
    assert_eq!(membership["identity"]["id"], id.as_str());
    assert_eq!(membership["identity"]["name"], "writer");
    assert_eq!(
        membership["identity"]["authMethods"],
        json!(["universal-auth"])
    );
    assert_eq!(membership["project"]["id"], project.as_str());
    assert_eq!(membership["project"]["name"], "demote");
    let ids: Vec<_> = got.body["identityMembership"]["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![roles[0]["id"].clone(), roles[1]["id"].clone()],
        "stable role ids"
    );

    let res = app
        .patch(
            &member_path(&project, &id),
            json!({"roles": [{"role": "no-access"}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{project}"),
            Some(&token),
            None,
        )
        .await;
    assert_envelope(&res, 403);
}

#[tokio::test]
async fn patch_validates_like_create_and_changes_nothing_on_bad_input() {
    let app = TestApp::spawn().await;
    let project = app.project("rules").await;
    let (id, _) = member(&app, &project, "ruled", "member").await;
    let path = member_path(&project, &id);
    for (body, field) in [
        (json!({"roles": []}), json!(["roles"])),
        (
            json!({"roles": [{"role": "owner"}]}),
            json!(["roles", 0, "role"]),
        ),
        (
            json!({"roles": [{"role": "viewer", "isTemporary": true, "temporaryMode": "relative"}]}),
            json!(["roles", 0, "temporaryRange"]),
        ),
        (
            json!({"roles": [{"role": "viewer", "temporaryRange": "1h"}]}),
            json!(["roles", 0, "temporaryRange"]),
        ),
        (
            json!({"roles": [{"role": "viewer"}], "role": "viewer"}),
            json!(["role"]),
        ),
        (
            json!({"roles": [{"role": "viewer", "bogus": 1}]}),
            json!(["roles", 0, "bogus"]),
        ),
        (json!({}), json!(["roles"])),
    ] {
        assert_names(&app.patch(&path, body).await, field);
    }
    let got = app.get(&path).await;
    assert_eq!(got.body["identityMembership"]["roles"][0]["role"], "member");
    assert_eq!(
        got.body["identityMembership"]["roles"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let (stranger, _, _) = app.identity("stranger", "no-access").await;
    let res = app
        .patch(
            &member_path(&project, &stranger),
            json!({"roles": [{"role": "viewer"}]}),
        )
        .await;
    assert_envelope(&res, 404);
    let res = app.get(&member_path(&project, &stranger)).await;
    assert_envelope(&res, 404);
    let res = app
        .patch(
            &member_path(&project, "nope"),
            json!({"roles": [{"role": "viewer"}]}),
        )
        .await;
    assert_envelope(&res, 422);
}

#[tokio::test]
async fn only_project_admins_change_roles() {
    let app = TestApp::spawn().await;
    let project = app.project("guarded").await;
    let (target, _) = member(&app, &project, "target", "viewer").await;
    let (_, member_token) = member(&app, &project, "peer", "member").await;
    let res = app
        .call(
            Method::PATCH,
            &member_path(&project, &target),
            Some(&member_token),
            Some(json!({"roles": [{"role": "admin"}]})),
        )
        .await;
    assert_envelope(&res, 403);
    let got = app.get(&member_path(&project, &target)).await;
    assert_eq!(got.body["identityMembership"]["roles"][0]["role"], "viewer");
    let list = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{project}/memberships/identities"),
            Some(&member_token),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "members read the list: {}", list.body);

    let (_, admin_token) = member(&app, &project, "boss", "admin").await;
    let res = app
        .call(
            Method::PATCH,
            &member_path(&project, &target),
            Some(&admin_token),
            Some(json!({"roles": [{"role": "member"}]})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let other = app.project("elsewhere").await;
    let res = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{other}/memberships/identities"),
            Some(&admin_token),
            None,
        )
        .await;
    assert_envelope(&res, 403);
}

#[tokio::test]
async fn the_list_pages_with_a_total_count() {
    let app = TestApp::spawn().await;
    let project = app.project("listed").await;
    let mut ids = Vec::new();
    for name in ["m1", "m2", "m3"] {
        ids.push(member(&app, &project, name, "viewer").await.0);
    }
    let base = format!("/api/v1/projects/{project}/memberships/identities");
    let app = &app;
    let list = |query: String| {
        let path = format!("{base}{query}");
        async move { app.get(&path).await }
    };
    let all = list(String::new()).await;
    assert_eq!(all.status, 200, "{}", all.body);
    let total = all.body["totalCount"].as_i64().expect("totalCount");
    let listed = all.body["identityMemberships"].as_array().expect("list");
    assert_eq!(listed.len() as i64, total);
    for id in &ids {
        let m = listed
            .iter()
            .find(|m| m["identityId"] == id.as_str())
            .expect("listed");
        assert_eq!(m["identity"]["id"], id.as_str());
        assert_eq!(m["roles"][0]["role"], "viewer");
        assert!(m["identity"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with('m')));
    }

    let page = list(format!("?offset={}&limit=2", total - 3)).await;
    let names: Vec<_> = page.body["identityMemberships"]
        .as_array()
        .expect("page")
        .iter()
        .map(|m| m["identity"]["name"].clone())
        .collect();
    assert_eq!(names, [json!("m1"), json!("m2")]);
    assert_eq!(page.body["totalCount"], total);
    let past = list("?offset=100".to_string()).await;
    assert_eq!(past.body["identityMemberships"], json!([]));
    assert_eq!(past.body["totalCount"], total);

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?offset=-1", "offset"),
        ("?limit=x", "limit"),
        ("?identityName=m1", "identityName"),
        ("?orderBy=name", "orderBy"),
    ] {
        assert_names(&list(query.to_string()).await, json!([field]));
    }
    let missing = uuid::Uuid::new_v4();
    let res = app
        .get(&format!(
            "/api/v1/projects/{missing}/memberships/identities"
        ))
        .await;
    assert_envelope(&res, 404);
}
