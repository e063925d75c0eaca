//! Security hardening (docs/SECURITY.md): see the tests below.
//!
//! - Past versions of a secret a rotation manages are the rotation's earlier tokens: only who
//!   may read a rotation's generated credentials may read them.

use reqwest::Method;
use serde_json::json;

use crate::helpers::assert_envelope;
use crate::rotation_support::Rig;

/// Rotate twice: version 1 of the mapped secret is the first token (live until the second
/// rotation, then revoked, but a token all the same). Viewers and members read the current
/// value as before and get 403 for version 1; project admins get it.
#[tokio::test]
async fn old_versions_of_a_rotated_secret_need_the_generated_credentials_permission() {
    let rig = Rig::new().await;
    let app = &rig.app;
    let id = rig.rotation("versions", "DBT_VERSIONED").await;
    let first = rig.published("DBT_VERSIONED").await;
    for _ in 0..2 {
        let res = rig.rotate(&id).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }
    let current = rig.published("DBT_VERSIONED").await;
    assert_ne!(first, current);
    let base = format!(
        "/api/v3/secrets/raw/DBT_VERSIONED?workspaceId={}&environment=dev",
        rig.project
    );
    let v4 = format!(
        "/api/v4/secrets/DBT_VERSIONED?projectId={}&environment=dev",
        rig.project
    );

    for role in ["viewer", "member"] {
        let token = app.member_token(&rig.project, role).await;
        for path in [format!("{base}&version=1"), format!("{v4}&version=1")] {
            let res = app.call(Method::GET, &path, Some(&token), None).await;
            let message = assert_envelope(&res, 403);
            assert!(
                message
                    .as_str()
                    .is_some_and(|m| m.contains("read-generated-credentials")),
                "{role}: {message}"
            );
            assert!(
                !res.body.to_string().contains(&first),
                "{role}: the old token leaks"
            );
        }
        // Versions that do not exist are no different: no hint of how many there are.
        let res = app
            .call(Method::GET, &format!("{base}&version=99"), Some(&token), None)
            .await;
        assert_envelope(&res, 403);
        // The current value, with or without its version number, stays readable.
        for path in [base.clone(), format!("{base}&version=3")] {
            let res = app.call(Method::GET, &path, Some(&token), None).await;
            assert_eq!(res.status, 200, "{role}: {}", res.body);
            assert_eq!(res.body["secret"]["secretValue"], current.as_str());
            assert_eq!(res.body["secret"]["version"], 3);
        }
    }

    // Project admins (a membership, or an organization admin) read every version.
    let admin = app.member_token(&rig.project, "admin").await;
    for token in [admin.as_str(), app.token.as_str()] {
        let res = app
            .call(Method::GET, &format!("{base}&version=1"), Some(token), None)
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.body["secret"]["secretValue"], first.as_str());
        assert_eq!(res.body["secret"]["version"], 1);
    }
}

/// Secrets no rotation manages keep their history readable to whoever may read them.
#[tokio::test]
async fn old_versions_of_a_plain_secret_stay_readable_to_viewers() {
    let rig = Rig::new().await;
    let app = &rig.app;
    let res = app.create_secret(&rig.project, "/", "PLAIN", "one").await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .patch(
            "/api/v3/secrets/raw/PLAIN",
            json!({"workspaceId": rig.project, "environment": "dev", "secretValue": "two"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let viewer = app.member_token(&rig.project, "viewer").await;
    let path = format!(
        "/api/v3/secrets/raw/PLAIN?workspaceId={}&environment=dev&version=1",
        rig.project
    );
    let res = app.call(Method::GET, &path, Some(&viewer), None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["secret"]["secretValue"], "one");
}
