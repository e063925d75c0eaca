//! The `dbt` app connection API: reads, deletion, who may do what, and where the API token
//! may never appear.

use dbt_cloud_emulator::{Fault, Operation};
use reqwest::Method;
use serde_json::{json, Value};

use crate::connections::{body, create, credentials, emulator, issue_path, message, BASE};
use crate::helpers::{assert_envelope, Answer, TestApp};

#[tokio::test]
async fn read_routes_answer_upstream_shapes() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let id = create(&app, &emu, "reader").await;

    let one = app.get(&format!("{BASE}/{id}")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["appConnection"]["id"], id.as_str());

    let by_name = app.get(&format!("{BASE}/connection-name/reader")).await;
    assert_eq!(by_name.status, 200, "{}", by_name.body);
    assert_eq!(by_name.body["appConnection"]["id"], id.as_str());
    let unknown = app.get(&format!("{BASE}/connection-name/nope")).await;
    assert_envelope(&unknown, 404);

    for path in [BASE, "/api/v1/app-connections"] {
        let list = app.get(path).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let ids: Vec<&str> = list.body["appConnections"]
            .as_array()
            .map(|a| a.iter().filter_map(|c| c["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, vec![id.as_str()], "{path}");
    }

    let available = app.get(&format!("{BASE}/available")).await;
    assert_eq!(available.status, 200, "{}", available.body);
    assert_eq!(
        available.body,
        json!({"appConnections": [{"app": "dbt", "name": "reader", "id": id, "projectId": null, "orgId": app.org_id}]})
    );

    let projects = app.get(&format!("{BASE}/{id}/projects")).await;
    assert_eq!(projects.status, 200, "{}", projects.body);
    let list = projects.body["projects"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 3, "{}", projects.body);
    assert_eq!(list[0]["id"], 101);
    assert_eq!(list[0]["name"], "Analytics");
    assert_eq!(
        list[1]["description"], "",
        "a missing description reads as empty"
    );
    assert!(list[0]["createdAt"].is_string());

    emu.inject(Fault::status(Operation::ProjectList, 500));
    let failed = app.get(&format!("{BASE}/{id}/projects")).await;
    assert_eq!(
        message(&failed, 400),
        "Failed to list projects: There was a server error. Please contact support!"
    );

    let bad_id = app.get(&format!("{BASE}/not-a-uuid")).await;
    assert_eq!(issue_path(&bad_id), json!(["connectionId"]));
}

#[tokio::test]
async fn delete_removes_the_connection() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let id = create(&app, &emu, "doomed").await;
    let path = format!("{BASE}/{id}");
    let deleted = app.delete(&path, json!({})).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["appConnection"]["id"], id.as_str());
    let gone = app.get(&path).await;
    assert_eq!(
        message(&gone, 404),
        format!("Could not find App Connection with ID {id}")
    );
    let again = app.delete(&path, json!({})).await;
    assert_envelope(&again, 404);
    // The name is free again.
    create(&app, &emu, "doomed").await;
}

#[tokio::test]
async fn org_members_read_and_only_admins_write() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let id = create(&app, &emu, "shared").await;
    let (_, client_id, secret) = app.identity("org-member", "member").await;
    let login = app.login(&client_id, &secret).await;
    let member = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let as_member = |method: Method, path: String, body: Option<Value>| {
        let member = member.clone();
        let app = &app;
        async move { app.call(method, &path, Some(&member), body).await }
    };

    let created = as_member(Method::POST, BASE.to_string(), Some(body(&emu, "mine"))).await;
    assert_eq!(
        message(&created, 403),
        "You are not allowed to create on app-connections"
    );
    assert_eq!(created.body["error"], "PermissionDenied");
    let list = as_member(Method::GET, BASE.to_string(), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let one = as_member(Method::GET, format!("{BASE}/{id}"), None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    let available = as_member(Method::GET, format!("{BASE}/available"), None).await;
    assert_eq!(available.status, 200, "{}", available.body);
    let patched = as_member(
        Method::PATCH,
        format!("{BASE}/{id}"),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_envelope(&patched, 403);
    let deleted = as_member(Method::DELETE, format!("{BASE}/{id}"), None).await;
    assert_envelope(&deleted, 403);

    // No organization role, no project: nothing.
    let project = app.project("p").await;
    let outsider = app.member_token(&project, "viewer").await;
    let list = app.call(Method::GET, BASE, Some(&outsider), None).await;
    assert_envelope(&list, 403);
    let one = app
        .call(Method::GET, &format!("{BASE}/{id}"), Some(&outsider), None)
        .await;
    assert_envelope(&one, 403);
}

#[tokio::test]
async fn project_connections_belong_to_their_project() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let project = app.project("scoped").await;
    let org_wide = create(&app, &emu, "org-wide").await;
    let mut b = body(&emu, "scoped-conn");
    b["projectId"] = json!(project);
    let res = app.post(BASE, b).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["appConnection"]["projectId"], project.as_str());
    let scoped = res.body["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    let names = |answer: &Answer| -> Vec<String> {
        answer.body["appConnections"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&app.get(BASE).await), vec!["org-wide"]);
    assert_eq!(
        names(&app.get(&format!("{BASE}?projectId={project}")).await),
        vec!["scoped-conn"]
    );

    // A project member (no organization role) reads and uses the project's connections, and
    // not the organization's (docs/SECURITY.md, "App connections").
    let member = app.member_token(&project, "member").await;
    let list = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={project}"),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(names(&list), vec!["scoped-conn"], "{}", list.body);
    let available = app
        .call(
            Method::GET,
            &format!("{BASE}/available?projectId={project}"),
            Some(&member),
            None,
        )
        .await;
    let mut usable = names(&available);
    usable.sort();
    assert_eq!(usable, vec!["scoped-conn"], "{}", available.body);
    let viewer = app.member_token(&project, "viewer").await;
    let refused = app
        .call(
            Method::GET,
            &format!("{BASE}/available?projectId={project}"),
            Some(&viewer),
            None,
        )
        .await;
    assert_envelope(&refused, 403);

    let unknown_project = app
        .post(
            BASE,
            json!({"name": "ghost", "method": "api-token", "credentials": credentials(&emu),
                "projectId": "00000000-0000-0000-0000-000000000000"}),
        )
        .await;
    assert_envelope(&unknown_project, 404);
    let deleted = app.delete(&format!("{BASE}/{scoped}"), json!({})).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let _ = org_wide;
}

#[tokio::test]
async fn the_api_token_is_never_shown_logged_or_stored_in_clear() {
    let app = TestApp::spawn().await;
    let emu = emulator().await;
    let token = emu.admin_token();
    let mut bodies = Vec::new();
    let created = app.post(BASE, body(&emu, "secretive")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    bodies.push(created.body);
    for path in [
        BASE.to_string(),
        "/api/v1/app-connections".to_string(),
        format!("{BASE}/{id}"),
        format!("{BASE}/connection-name/secretive"),
        format!("{BASE}/available"),
        format!("{BASE}/{id}/projects"),
    ] {
        let res = app.get(&path).await;
        assert_eq!(res.status, 200, "{path}: {}", res.body);
        bodies.push(res.body);
    }
    bodies.push(
        app.patch(
            &format!("{BASE}/{id}"),
            json!({"name": "renamed", "credentials": credentials(&emu)}),
        )
        .await
        .body,
    );
    for b in &bodies {
        assert!(!b.to_string().contains(&token), "token in {b}");
    }

    let audit = app.get("/api/v1/organization/audit-logs?limit=1000").await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let text = audit.body.to_string();
    for kind in [
        "create-app-connection",
        "update-app-connection",
        "get-app-connection",
        "get-app-connections",
    ] {
        assert!(text.contains(&format!("\"{kind}\"")), "{kind} audited");
    }
    assert!(!text.contains(&token), "token in the audit log");

    let dump = app.db.dump().await;
    let needle = token.as_bytes();
    assert!(
        !dump.windows(needle.len()).any(|w| w == needle),
        "the API token is stored in clear"
    );

    let deleted = app.delete(&format!("{BASE}/{id}"), json!({})).await;
    assert!(!deleted.body.to_string().contains(&token));
    let audit = app
        .get("/api/v1/organization/audit-logs?eventType=delete-app-connection")
        .await;
    assert_eq!(
        audit.body["auditLogs"].as_array().map(Vec::len),
        Some(1),
        "{}",
        audit.body
    );
}
