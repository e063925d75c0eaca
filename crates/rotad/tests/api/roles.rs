//! Roles (docs/SECURITY.md, "Roles"): a membership keeps every role it is given, each with its
//! own expiry; a temporary role lapses at start + range, and with it what it allowed.

use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_temporary_role_lapses_and_the_permanent_one_stays() {
    let app = TestApp::spawn().await;
    let project = app.project("temporary").await;
    let (id, client_id, secret) = app.identity("contractor", "no-access").await;
    let now = Utc::now().to_rfc3339();
    let membership = format!("/api/v1/projects/{project}/memberships/identities/{id}");
    let res = app
        .post(
            &membership,
            json!({"roles": [
                {"role": "viewer", "isTemporary": false},
                {"role": "admin", "isTemporary": true, "temporaryMode": "relative",
                 "temporaryRange": "2s", "temporaryAccessStartTime": now},
            ]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let roles = res.body["identityMembership"]["roles"].clone();
    assert_eq!(
        roles.as_array().map(Vec::len),
        Some(2),
        "both kept: {roles}"
    );
    assert_eq!(roles[1]["isTemporary"], true);
    assert!(roles[1]["temporaryAccessEndTime"].is_string(), "{roles}");

    let login = app.login(&client_id, &secret).await;
    let token = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let write = |key: &'static str| {
        let (app, token, project) = (&app, token.clone(), project.clone());
        async move {
            app.call(
                Method::POST,
                &format!("/api/v3/secrets/raw/{key}"),
                Some(&token),
                Some(
                    json!({"workspaceId": project, "environment": "dev", "secretPath": "/",
                    "secretValue": "v", "type": "shared"}),
                ),
            )
            .await
            .status
            .as_u16()
        }
    };
    let read = || {
        let (app, token, project) = (&app, token.clone(), project.clone());
        async move {
            app.call(
                Method::GET,
                &format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev"),
                Some(&token),
                None,
            )
            .await
            .status
            .as_u16()
        }
    };
    assert_eq!(
        write("WHILE_ADMIN").await,
        200,
        "the temporary admin role holds"
    );
    // The role's range is what is under test: let it pass.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(write("AFTER").await, 403, "the admin role lapsed");
    assert_eq!(read().await, 200, "the permanent viewer role stays");
}

#[tokio::test]
async fn a_membership_whose_only_role_lapsed_sees_nothing() {
    let app = TestApp::spawn().await;
    let project = app.project("lapsed").await;
    let (id, client_id, secret) = app.identity("visitor", "no-access").await;
    let started = (Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let res = app
        .post(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({"roles": [{"role": "admin", "isTemporary": true, "temporaryMode": "relative",
                "temporaryRange": "1h", "temporaryAccessStartTime": started}]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let login = app.login(&client_id, &secret).await;
    let token = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let res = app
        .call(
            Method::GET,
            &format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status.as_u16(), 403, "{}", res.body);
}
