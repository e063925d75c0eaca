//! Connections are an account-admin dbt token in rotad's hands: who may mint through them,
//! which permission sets they hand out, and who sees a project's connections
//! (docs/SECURITY.md, "App connections").

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::assert_envelope;
use crate::rotation_support::{Rig, ROTATIONS};

/// An access token for an identity with organization role `org_role` (and no project role).
async fn org_token(rig: &Rig, name: &str, org_role: &str) -> String {
    let (_, client_id, secret) = rig.app.identity(name, org_role).await;
    let login = rig.app.login(&client_id, &secret).await;
    login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string()
}

fn with_grant(rig: &Rig, name: &str, set: &str) -> Value {
    let mut body = rig.body(name, &name.to_uppercase());
    body["parameters"]["permissionGrants"] = json!([{"permissionSet": set}]);
    body
}

#[tokio::test]
async fn only_org_admins_and_members_mint_through_org_connections() {
    let rig = Rig::new().await;
    // A project member whose organization role is no-access.
    let member = rig.app.member_token(&rig.project, "member").await;
    let res = rig
        .app
        .call(
            Method::POST,
            ROTATIONS,
            Some(&member),
            Some(rig.body("sneaky", "SNEAKY")),
        )
        .await;
    let message = assert_envelope(&res, 403);
    assert!(
        message
            .as_str()
            .unwrap_or_default()
            .contains("organization"),
        "{message}"
    );
    assert!(rig.named("sneaky-token").is_empty(), "nothing was minted");
    // The same member may use a connection of the project itself.
    let scoped = rig.connection_named("dbt-scoped", Some(&rig.project)).await;
    let mut body = rig.body("allowed", "ALLOWED");
    body["connectionId"] = json!(scoped);
    let res = rig
        .app
        .call(Method::POST, ROTATIONS, Some(&member), Some(body))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn admin_permission_sets_are_not_handed_out() {
    let rig = Rig::new().await;
    for set in ["owner", "account_admin", "security_admin", "billing_admin"] {
        let res = rig
            .app
            .post(
                ROTATIONS,
                with_grant(&rig, &format!("x-{}", set.replace('_', "-")), set),
            )
            .await;
        let message = assert_envelope(&res, 403);
        assert!(
            message.as_str().unwrap_or_default().contains(set),
            "names the set: {message}"
        );
    }
    assert!(rig.emu.tokens().iter().all(|t| !t.name.starts_with("x-")));
    // Nor through a PATCH of an existing rotation's grants.
    let id = rig.rotation("plain", "PLAIN").await;
    let res = rig
        .app
        .patch(
            &format!("{ROTATIONS}/{id}"),
            json!({"parameters": {"tokenName": "plain-token",
                "permissionGrants": [{"permissionSet": "account_admin"}]}}),
        )
        .await;
    assert_envelope(&res, 403);
    let row = rig.get(&id).await.body["secretRotation"].clone();
    assert_eq!(
        row["parameters"]["permissionGrants"][0]["permissionSet"],
        "job_runner"
    );
}

#[tokio::test]
async fn a_projects_connections_are_invisible_outside_it() {
    let rig = Rig::new().await;
    let scoped = rig
        .connection_named("dbt-private", Some(&rig.project))
        .await;
    let org_member = org_token(&rig, "org-member", "member").await;
    let base = "/api/v1/app-connections/dbt";
    for path in [
        format!("{base}/{scoped}"),
        format!("{base}/connection-name/dbt-private"),
        format!("{base}/{scoped}/projects"),
        format!("{base}?projectId={}", rig.project),
        format!("/api/v1/app-connections?projectId={}", rig.project),
    ] {
        let res = rig
            .app
            .call(Method::GET, &path, Some(&org_member), None)
            .await;
        assert_envelope(&res, 404);
        assert!(
            !res.body.to_string().contains(&rig.emu.base_url()),
            "{path}: {}",
            res.body
        );
    }
    // A viewer of the project reads it.
    let viewer = rig.app.member_token(&rig.project, "viewer").await;
    let res = rig
        .app
        .call(
            Method::GET,
            &format!("{base}/{scoped}"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test]
async fn only_an_org_admin_widens_what_a_connection_hands_out() {
    let rig = Rig::new().await;
    let base = "/api/v1/app-connections/dbt";
    let credentials = json!({"instanceUrl": rig.emu.base_url(),
        "accountId": rig.emu.account_id().to_string(), "apiToken": rig.emu.admin_token()});
    // The org admin lets one connection hand out account_admin (and job_runner only).
    let res = rig
        .app
        .post(
            base,
            json!({"name": "dbt-wide", "method": "api-token", "credentials": credentials,
                "allowedPermissionSets": ["account_admin", "job_runner"]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body["appConnection"]["allowedPermissionSets"],
        json!(["account_admin", "job_runner"])
    );
    let wide = res.body["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let mut body = with_grant(&rig, "admin-token", "account_admin");
    body["connectionId"] = json!(wide);
    assert_eq!(rig.app.post(ROTATIONS, body).await.status, 200);
    let mut body = with_grant(&rig, "other-set", "job_admin");
    body["connectionId"] = json!(wide);
    let message = assert_envelope(&rig.app.post(ROTATIONS, body).await, 403);
    assert!(message.as_str().unwrap_or_default().contains("job_admin"));

    // A project admin without an org role may narrow a project connection, never widen it.
    let project_admin = rig.app.member_token(&rig.project, "admin").await;
    let scoped = |sets: Value| {
        json!({"name": "dbt-own", "method": "api-token", "credentials": credentials.clone(),
            "projectId": rig.project, "allowedPermissionSets": sets})
    };
    let res = rig
        .app
        .call(
            Method::POST,
            base,
            Some(&project_admin),
            Some(scoped(json!(["owner"]))),
        )
        .await;
    let message = assert_envelope(&res, 403);
    assert!(message.as_str().unwrap_or_default().contains("owner"));
    let res = rig
        .app
        .call(
            Method::POST,
            base,
            Some(&project_admin),
            Some(scoped(json!(["nonsense"]))),
        )
        .await;
    assert_envelope(&res, 422);
    let res = rig
        .app
        .call(
            Method::POST,
            base,
            Some(&project_admin),
            Some(scoped(json!(["job_admin"]))),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);

    // null goes back to the default list.
    let res = rig
        .app
        .patch(
            &format!("{base}/{wide}"),
            json!({"allowedPermissionSets": null}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let sets = res.body["appConnection"]["allowedPermissionSets"].clone();
    assert!(sets
        .as_array()
        .is_some_and(|s| s.contains(&json!("job_admin"))));
    assert!(!sets.to_string().contains("account_admin"), "{sets}");
}
