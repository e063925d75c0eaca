//! The rotation lifecycle against the dbt Cloud emulator.

use dbt_cloud_emulator::{Fault, Operation};
use serde_json::json;

use crate::helpers::assert_envelope;
use crate::rotation_support::{minted_as, schema_errors, seed, Rig, ROTATIONS};

#[tokio::test]
async fn create_rotate_rotate_keeps_the_invariants() {
    let rig = Rig::new().await;
    let res = rig.create("nightly", "DBT_TOKEN").await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(
        schema_errors(&seed()["responses"]["200"], &res.body, "$").is_empty(),
        "create answers the seed's shape"
    );
    let r = &res.body["secretRotation"];
    let id = r["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(r["activeIndex"], 0);
    assert_eq!(r["rotationStatus"], "success");
    assert_eq!(r["type"], "dbt-service-token");
    assert_eq!(r["connection"]["app"], "dbt");
    assert_eq!(r["folder"]["path"], "/");
    assert!(r["nextRotationAt"].is_string());
    assert_eq!(
        rig.named("nightly-token").len(),
        1,
        "create issues one token"
    );
    let (slots, active) = rig.slots(&id).await;
    assert_eq!((slots.len(), active), (1, 0));
    // dbt's real name: the rotation's tokenName, then the intent's suffix.
    let dbt_name = slots[0]["tokenName"].as_str().unwrap_or_default();
    assert!(minted_as(dbt_name, "nightly-token"), "{dbt_name}");
    let first = slots[0]["serviceToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let token = rig.token(&first).expect("in emulator");
    assert_eq!(slots[0]["tokenId"], token.id);
    assert_eq!(token.grants[0].permission_set, "job_runner");
    rig.assert_invariants(&id, "DBT_TOKEN", "nightly-token")
        .await;

    let one = rig.rotate(&id).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["secretRotation"]["activeIndex"], 1);
    assert_eq!(one.body["secretRotation"]["isLastRotationManual"], true);
    let (slots, _) = rig.slots(&id).await;
    assert_eq!(slots.len(), 2);
    assert!(
        rig.is_live(&first),
        "the previous token stays live after one rotation"
    );
    rig.assert_invariants(&id, "DBT_TOKEN", "nightly-token")
        .await;

    let two = rig.rotate(&id).await;
    assert_eq!(two.status, 200, "{}", two.body);
    assert_eq!(two.body["secretRotation"]["activeIndex"], 0);
    assert_eq!(
        rig.token(&first).map(|t| t.state),
        Some(2),
        "the token of two rotations ago is revoked at once"
    );
    rig.assert_invariants(&id, "DBT_TOKEN", "nightly-token")
        .await;
    assert_eq!(rig.named("nightly-token").len(), 3);

    let secret = rig
        .app
        .get(&format!(
            "/api/v3/secrets/raw/DBT_TOKEN?workspaceId={}&environment=dev",
            rig.project
        ))
        .await;
    assert_eq!(secret.body["secret"]["isRotatedSecret"], true);
    assert_eq!(secret.body["secret"]["rotationId"], id.as_str());
    assert_eq!(
        secret.body["secret"]["version"], 3,
        "each rotation is a new secret version"
    );
}

#[tokio::test]
async fn reads_by_id_name_list_options_and_check() {
    let rig = Rig::new().await;
    let id = rig.rotation("reader", "READ_TOKEN").await;
    let get = rig.get(&id).await;
    assert!(
        schema_errors(&seed()["responses"]["200"], &get.body, "$").is_empty(),
        "{}",
        get.body
    );
    let by_name = rig
        .app
        .get(&format!(
            "{ROTATIONS}/rotation-name/reader?projectId={}&environment=dev&secretPath=/",
            rig.project
        ))
        .await;
    assert_eq!(
        by_name.body["secretRotation"]["id"],
        id.as_str(),
        "{}",
        by_name.body
    );
    let missing = rig
        .app
        .get(&format!(
            "{ROTATIONS}/rotation-name/nope?projectId={}&environment=dev&secretPath=/",
            rig.project
        ))
        .await;
    assert_envelope(&missing, 404);
    let list = rig
        .app
        .get(&format!("{ROTATIONS}?projectId={}", rig.project))
        .await;
    assert_eq!(
        list.body["secretRotations"].as_array().map(Vec::len),
        Some(1)
    );
    for item in list.body["secretRotations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        assert!(schema_errors(
            &seed()["responses"]["200"]["properties"]["secretRotation"],
            &item,
            "$"
        )
        .is_empty());
    }
    let all = rig
        .app
        .get(&format!(
            "/api/v2/secret-rotations?projectId={}",
            rig.project
        ))
        .await;
    assert_eq!(all.body["secretRotations"][0]["id"], id.as_str());
    let options = rig.app.get("/api/v2/secret-rotations/options").await;
    assert_eq!(
        options.body["secretRotationOptions"][0]["type"],
        "dbt-service-token"
    );
    assert_envelope(&rig.app.get(&format!("{ROTATIONS}?projectId=")).await, 422);
    assert_envelope(&rig.get("00000000-0000-0000-0000-000000000000").await, 404);
    assert_envelope(&rig.get("not-a-uuid").await, 422);

    let check = rig
        .app
        .post(&format!("{ROTATIONS}/{id}/check-credentials"), json!({}))
        .await;
    assert_eq!(check.status, 204, "{}", check.body);
    // Revoke the published token behind rotad's back: the check now says so.
    let (slots, active) = rig.slots(&id).await;
    let token_id = slots[active as usize]["tokenId"]
        .as_i64()
        .unwrap_or_default();
    let del = reqwest::Client::new()
        .delete(format!(
            "{}/api/v3/accounts/{}/service-tokens/{token_id}/",
            rig.emu.base_url(),
            rig.emu.account_id()
        ))
        .header("authorization", format!("Token {}", rig.emu.admin_token()))
        .send()
        .await
        .expect("delete");
    assert!(del.status().is_success());
    let dead = rig
        .app
        .post(&format!("{ROTATIONS}/{id}/check-credentials"), json!({}))
        .await;
    let message = assert_envelope(&dead, 400);
    assert!(
        message.as_str().unwrap_or_default().contains("not live"),
        "{message}"
    );
}

#[tokio::test]
async fn rotated_secrets_are_protected_until_the_rotation_goes() {
    let rig = Rig::new().await;
    let id = rig.rotation("guarded", "GUARDED").await;
    let scope = json!({"workspaceId": rig.project, "environment": "dev", "secretPath": "/"});
    let mut edit = scope.clone();
    edit["secretValue"] = json!("mine now");
    let res = rig.app.patch("/api/v3/secrets/raw/GUARDED", edit).await;
    assert_eq!(assert_envelope(&res, 400), "Cannot update rotated secret");
    let mut rename = scope.clone();
    rename["newSecretName"] = json!("OTHER");
    let res = rig.app.patch("/api/v3/secrets/raw/GUARDED", rename).await;
    assert_eq!(
        assert_envelope(&res, 400),
        "Cannot update rotated secret name"
    );
    let res = rig
        .app
        .delete("/api/v3/secrets/raw/GUARDED", scope.clone())
        .await;
    assert_eq!(assert_envelope(&res, 400), "Cannot delete rotated secrets");

    // Deleting the rotation without flags leaves the token live and the secret editable.
    let published = rig.published("GUARDED").await;
    let del = rig
        .app
        .delete(&format!("{ROTATIONS}/{id}"), json!({}))
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    assert_eq!(del.body["secretRotation"]["id"], id.as_str());
    assert!(rig.is_live(&published));
    let mut edit = scope.clone();
    edit["secretValue"] = json!("now editable");
    assert_eq!(
        rig.app
            .patch("/api/v3/secrets/raw/GUARDED", edit)
            .await
            .status,
        200
    );
    assert_envelope(&rig.get(&id).await, 404);
}

#[tokio::test]
async fn delete_with_flags_revokes_and_removes() {
    let rig = Rig::new().await;
    let id = rig.rotation("doomed", "DOOMED").await;
    rig.rotate(&id).await;
    let bad = rig
        .app
        .delete(&format!("{ROTATIONS}/{id}?deleteSecrets=yes"), json!({}))
        .await;
    assert_envelope(&bad, 422);
    let del = rig
        .app
        .delete(
            &format!("{ROTATIONS}/{id}?deleteSecrets=true&revokeGeneratedCredentials=true"),
            json!({}),
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    assert!(
        rig.named("doomed-token").iter().all(|t| t.state == 2),
        "both slots revoked"
    );
    let gone = rig
        .app
        .get(&format!(
            "/api/v3/secrets/raw/DOOMED?workspaceId={}&environment=dev",
            rig.project
        ))
        .await;
    assert_envelope(&gone, 404);
}

#[tokio::test]
async fn create_checks_everything_before_calling_dbt() {
    let rig = Rig::new().await;
    rig.rotation("taken", "TAKEN").await;
    let before = rig.emu.calls(Operation::TokenCreate);

    let dup = rig.create("taken", "OTHER").await;
    assert_eq!(
        assert_envelope(&dup, 400),
        "A Secret Rotation with the name \"taken\" already exists at the secret path \"/\""
    );
    rig.app
        .create_secret(&rig.project, "/", "EXISTS", "v")
        .await;
    let clash = rig.create("clash", "EXISTS").await;
    assert_eq!(
        assert_envelope(&clash, 400),
        "The following secrets already exist at the path \"/\": EXISTS"
    );
    let mut body = rig.body("nowhere", "NOWHERE");
    body["secretPath"] = json!("/missing");
    let folder = rig.app.post(ROTATIONS, body).await;
    assert!(assert_envelope(&folder, 400)
        .as_str()
        .unwrap_or_default()
        .starts_with("Could not find folder with path \"/missing\""));
    let mut body = rig.body("noconn", "NOCONN");
    body["connectionId"] = json!("00000000-0000-0000-0000-000000000000");
    assert_envelope(&rig.app.post(ROTATIONS, body).await, 404);
    let mut body = rig.body("badgrant", "BADGRANT");
    body["parameters"]["permissionGrants"] = json!([{"permissionSet": "root"}]);
    assert_envelope(&rig.app.post(ROTATIONS, body).await, 422);
    assert_eq!(
        rig.emu.calls(Operation::TokenCreate),
        before,
        "no dbt call for a refused create"
    );
}

#[tokio::test]
async fn a_failed_create_leaves_nothing_behind() {
    let rig = Rig::new().await;
    // dbt refuses outright.
    rig.emu.inject(Fault::status(Operation::TokenCreate, 500));
    let res = rig.create("refused", "REFUSED").await;
    let message = assert_envelope(&res, 400);
    assert!(
        message
            .as_str()
            .unwrap_or_default()
            .starts_with("Failed to create service token"),
        "{message}"
    );
    // dbt creates the token but the answer is lost: rotad must find and revoke it.
    rig.emu.inject(Fault::drop(Operation::TokenCreate).after());
    let res = rig.create("lost", "LOST").await;
    assert_envelope(&res, 400);
    for name in ["refused-token", "lost-token"] {
        assert!(
            rig.named(name).iter().all(|t| t.state == 2),
            "no live token named {name}"
        );
    }
    assert_eq!(
        rig.named("lost-token").len(),
        1,
        "the lost token existed and is now revoked"
    );
    let list = rig
        .app
        .get(&format!("{ROTATIONS}?projectId={}", rig.project))
        .await;
    assert_eq!(list.body["secretRotations"], json!([]));
    for secret in ["REFUSED", "LOST"] {
        let res = rig
            .app
            .get(&format!(
                "/api/v3/secrets/raw/{secret}?workspaceId={}&environment=dev",
                rig.project
            ))
            .await;
        assert_envelope(&res, 404);
    }
}

#[tokio::test]
async fn what_a_rotation_stands_on_cannot_be_deleted_under_it() {
    let rig = Rig::new().await;
    let folder = rig
        .app
        .post(
            "/api/v2/folders",
            json!({"projectId": rig.project, "environment": "dev", "name": "jobs", "path": "/"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    let mut body = rig.body("nested", "NESTED");
    body["secretPath"] = json!("/jobs");
    let created = rig.app.post(ROTATIONS, body).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["secretRotation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let conn = rig
        .app
        .delete(
            &format!("/api/v1/app-connections/dbt/{}", rig.connection),
            json!({}),
        )
        .await;
    assert_eq!(
        assert_envelope(&conn, 400),
        "Cannot delete App Connection with existing connections. Remove all existing connections and try again."
    );
    let folder = rig
        .app
        .delete(
            "/api/v1/folders/jobs",
            json!({"workspaceId": rig.project, "environment": "dev", "path": "/"}),
        )
        .await;
    assert_envelope(&folder, 400);
    let project = rig
        .app
        .delete(&format!("/api/v1/projects/{}", rig.project), json!({}))
        .await;
    assert_envelope(&project, 400);
    assert_eq!(
        rig.get(&id).await.status,
        200,
        "the rotation is still there"
    );

    let del = rig
        .app
        .delete(
            &format!("{ROTATIONS}/{id}?deleteSecrets=true&revokeGeneratedCredentials=true"),
            json!({}),
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    let folder = rig
        .app
        .delete(
            "/api/v1/folders/jobs",
            json!({"workspaceId": rig.project, "environment": "dev", "path": "/"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    let conn = rig
        .app
        .delete(
            &format!("/api/v1/app-connections/dbt/{}", rig.connection),
            json!({}),
        )
        .await;
    assert_eq!(conn.status, 200, "{}", conn.body);
}
