//! `PATCH /api/v2/secret-rotations/dbt-service-token/{rotationId}` exactly as the seed says.

use serde_json::{json, Value};

use crate::helpers::assert_envelope;
use crate::rotation_support::{schema_errors, seed, Rig, ROTATIONS};

/// (body, accepted?) pairs: each bound of the seed's request schema from both sides.
fn cases() -> Vec<(Value, bool)> {
    let s64 = "a".repeat(64);
    let s65 = "a".repeat(65);
    let d256 = "d".repeat(256);
    let d257 = "d".repeat(257);
    let t255 = "t".repeat(255);
    let t256 = "t".repeat(256);
    let grants = json!([{"permissionSet": "job_admin"}]);
    vec![
        (json!({"name": "a"}), true),
        (json!({"name": ""}), false),
        (json!({"name": s64}), true),
        (json!({"name": s65}), false),
        (json!({"name": "Not A Slug"}), false),
        (json!({"name": 5}), false),
        (json!({"description": d256}), true),
        (json!({"description": d257}), false),
        (json!({"description": null}), true),
        (json!({"isAutoRotationEnabled": false}), true),
        (json!({"isAutoRotationEnabled": "yes"}), false),
        (json!({"rotationInterval": 1}), true),
        (json!({"rotationInterval": 0}), false),
        (json!({"rotationInterval": "7"}), false),
        (json!({"rotateAtUtc": {"hours": 0, "minutes": 0}}), true),
        (json!({"rotateAtUtc": {"hours": -1, "minutes": 0}}), false),
        (json!({"rotateAtUtc": {"hours": 23, "minutes": 59}}), true),
        (json!({"rotateAtUtc": {"hours": 24, "minutes": 0}}), false),
        (json!({"rotateAtUtc": {"hours": 1, "minutes": -1}}), false),
        (json!({"rotateAtUtc": {"hours": 1, "minutes": 60}}), false),
        (json!({"rotateAtUtc": {"hours": 1}}), false),
        (json!({"rotateAtUtc": {"minutes": 1}}), false),
        (
            json!({"rotateAtUtc": {"hours": 1, "minutes": 1, "seconds": 1}}),
            false,
        ),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": grants}}),
            true,
        ),
        (
            json!({"parameters": {"tokenName": "", "permissionGrants": grants}}),
            false,
        ),
        (
            json!({"parameters": {"tokenName": t255, "permissionGrants": grants}}),
            true,
        ),
        (
            json!({"parameters": {"tokenName": t256, "permissionGrants": grants}}),
            false,
        ),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": []}}),
            false,
        ),
        (json!({"parameters": {"tokenName": "t"}}), false),
        (json!({"parameters": {"permissionGrants": grants}}), false),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": [{"permissionSet": "webhooks_only", "projectId": 7}]}}),
            true,
        ),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": [{"permissionSet": "superuser"}]}}),
            false,
        ),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": [{"projectId": 7}]}}),
            false,
        ),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": [{"permissionSet": "admin", "projectId": "7"}]}}),
            false,
        ),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": [{"permissionSet": "admin", "extra": 1}]}}),
            false,
        ),
        (
            json!({"parameters": {"tokenName": "t", "permissionGrants": grants, "extra": 1}}),
            false,
        ),
        (json!({"secretsMapping": {"serviceToken": "X"}}), true),
        (json!({"secretsMapping": {"serviceToken": ""}}), false),
        (json!({"secretsMapping": {}}), false),
        (
            json!({"secretsMapping": {"serviceToken": "Y", "other": "Z"}}),
            false,
        ),
        (
            json!({"connectionId": "00000000-0000-0000-0000-000000000000"}),
            false,
        ),
        (json!({"unknown": true}), false),
        (json!({}), true),
    ]
}

/// The field a case is about (the issue's path must start with it).
fn field(body: &Value) -> String {
    body.as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_bound_of_the_seed_from_both_sides() {
    let rig = Rig::new().await;
    let id = rig.rotation("bounds", "BOUNDS").await;
    let url = format!("{ROTATIONS}/{id}");
    let seed = seed();
    for (body, ok) in cases() {
        let before = rig.get(&id).await.body;
        let res = rig.app.patch(&url, body.clone()).await;
        if ok {
            assert_eq!(res.status, 200, "{body} accepted: {}", res.body);
            let errors = schema_errors(&seed["responses"]["200"], &res.body, "$");
            assert!(
                errors.is_empty(),
                "{body}: answer breaks the seed's schema: {errors:?}"
            );
            // Put the name and mapping back for the next case.
            let reset = rig
                .app
                .patch(
                    &url,
                    json!({"name": "bounds", "secretsMapping": {"serviceToken": "BOUNDS"}}),
                )
                .await;
            assert_eq!(reset.status, 200, "{}", reset.body);
        } else {
            assert_envelope(&res, 422);
            assert!(
                schema_errors(&seed["responses"]["422"], &res.body, "$").is_empty(),
                "{}",
                res.body
            );
            assert_eq!(res.body["error"], "ValidationFailure");
            let path = &res.body["message"][0]["path"];
            assert_eq!(
                path[0],
                json!(field(&body)),
                "{body}: the issue names the field: {}",
                res.body
            );
            let after = rig.get(&id).await.body;
            assert_eq!(before, after, "{body}: a refused PATCH changes nothing");
        }
    }
}

#[tokio::test]
async fn patch_renames_reschedules_and_remaps() {
    let rig = Rig::new().await;
    let id = rig.rotation("first", "FIRST").await;
    rig.rotation("second", "SECOND").await;
    let url = format!("{ROTATIONS}/{id}");

    let taken = rig.app.patch(&url, json!({"name": "second"})).await;
    assert_eq!(
        assert_envelope(&taken, 400),
        "A Secret Rotation with the name \"second\" already exists at the secret path \"/\""
    );
    let clash = rig
        .app
        .patch(&url, json!({"secretsMapping": {"serviceToken": "SECOND"}}))
        .await;
    assert_envelope(&clash, 400);

    // The published secret moves to its new name, same value, still protected.
    let value = rig.published("FIRST").await;
    let remap = rig
        .app
        .patch(&url, json!({"secretsMapping": {"serviceToken": "RENAMED"}}))
        .await;
    assert_eq!(remap.status, 200, "{}", remap.body);
    assert_eq!(
        remap.body["secretRotation"]["secretsMapping"]["serviceToken"],
        "RENAMED"
    );
    assert_eq!(rig.published("RENAMED").await, value);
    let old = rig
        .app
        .get(&format!(
            "/api/v3/secrets/raw/FIRST?workspaceId={}&environment=dev",
            rig.project
        ))
        .await;
    assert_envelope(&old, 404);

    // Schedule changes move nextRotationAt; turning auto-rotation off clears it.
    let created = rig.get(&id).await.body["secretRotation"]["createdAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let day = &created[..10];
    let res = rig
        .app
        .patch(
            &url,
            json!({"rotationInterval": 2, "rotateAtUtc": {"hours": 23, "minutes": 59}}),
        )
        .await;
    let next = res.body["secretRotation"]["nextRotationAt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(next.ends_with("T23:59:00.000Z"), "{next}");
    assert!(next.as_str() > day, "{next} after {day}");
    let off = rig
        .app
        .patch(&url, json!({"isAutoRotationEnabled": false}))
        .await;
    assert_eq!(off.body["secretRotation"]["nextRotationAt"], Value::Null);
    let on = rig
        .app
        .patch(&url, json!({"isAutoRotationEnabled": true}))
        .await;
    assert!(on.body["secretRotation"]["nextRotationAt"].is_string());

    // New parameters apply from the next rotation on.
    let params = rig
        .app
        .patch(&url, json!({"parameters": {"tokenName": "renamed-token", "permissionGrants": [{"permissionSet": "metadata_only"}]}}))
        .await;
    assert_eq!(params.status, 200, "{}", params.body);
    assert_eq!(
        rig.named("renamed-token").len(),
        0,
        "no token is issued by a PATCH"
    );
    assert_eq!(rig.rotate(&id).await.status, 200);
    let fresh = rig.named("renamed-token");
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].grants[0].permission_set, "metadata_only");
    rig.assert_invariants(&id, "RENAMED", "renamed-token").await;
}

#[tokio::test]
async fn patch_answers_the_seed_error_shapes() {
    let rig = Rig::new().await;
    let id = rig.rotation("shapes", "SHAPES").await;
    let seed = seed();
    let missing = rig
        .app
        .patch(
            &format!("{ROTATIONS}/00000000-0000-0000-0000-000000000000"),
            json!({}),
        )
        .await;
    assert_envelope(&missing, 404);
    assert!(
        schema_errors(&seed["responses"]["404"], &missing.body, "$").is_empty(),
        "{}",
        missing.body
    );
    let anon = rig
        .app
        .call(
            reqwest::Method::PATCH,
            &format!("{ROTATIONS}/{id}"),
            None,
            Some(json!({})),
        )
        .await;
    assert_envelope(&anon, 401);
    assert!(
        schema_errors(&seed["responses"]["401"], &anon.body, "$").is_empty(),
        "{}",
        anon.body
    );
    let viewer = rig.app.member_token(&rig.project, "viewer").await;
    let denied = rig
        .app
        .call(
            reqwest::Method::PATCH,
            &format!("{ROTATIONS}/{id}"),
            Some(&viewer),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_envelope(&denied, 403);
    assert!(
        schema_errors(&seed["responses"]["403"], &denied.body, "$").is_empty(),
        "{}",
        denied.body
    );
    let conflict = rig
        .app
        .patch(
            &format!("{ROTATIONS}/{id}"),
            json!({"secretsMapping": {"serviceToken": "SHAPES"}}),
        )
        .await;
    assert_eq!(
        conflict.status, 200,
        "same mapping is no conflict: {}",
        conflict.body
    );
}

/// The seed's fields that are not `nullable`: only `description` may be `null`.
const NOT_NULLABLE: [&str; 6] = [
    "name",
    "rotationInterval",
    "isAutoRotationEnabled",
    "rotateAtUtc",
    "parameters",
    "secretsMapping",
];

/// A refused PATCH: a 422 in the seed's envelope whose issue names `field` (in its path and
/// its message), and the rotation exactly as it was.
async fn assert_refused(
    rig: &Rig,
    id: &str,
    before: &Value,
    res: &crate::helpers::Answer,
    field: &str,
    what: &str,
) {
    let message = assert_envelope(res, 422);
    assert_eq!(
        res.body["error"], "ValidationFailure",
        "{what}: {}",
        res.body
    );
    assert!(
        schema_errors(&seed()["responses"]["422"], &res.body, "$").is_empty(),
        "{what}: {}",
        res.body
    );
    let issues = message.as_array().cloned().unwrap_or_default();
    assert!(!issues.is_empty(), "{what}: an issue: {}", res.body);
    assert!(
        issues
            .iter()
            .any(|i| i["message"].as_str().is_some_and(|m| m.contains(field))),
        "{what}: the message names {field}: {}",
        res.body
    );
    let after = rig.get(id).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(
        before["secretRotation"], after.body["secretRotation"],
        "{what}: a refused PATCH changes nothing"
    );
}

#[tokio::test]
async fn patch_with_null_for_a_non_nullable_field_answers_422_naming_it() {
    let rig = Rig::new().await;
    let id = rig.rotation("nulls", "NULLS").await;
    let url = format!("{ROTATIONS}/{id}");
    let before = rig.get(&id).await.body;
    assert!(before["secretRotation"].is_object(), "{before}");
    for field in NOT_NULLABLE {
        let res = rig.app.patch(&url, json!({ field: null })).await;
        assert_refused(&rig, &id, &before, &res, field, &format!("{field}: null")).await;
        assert_eq!(
            res.body["message"][0]["path"],
            json!([field]),
            "{field}: the issue's path is the field: {}",
            res.body
        );
        // Alongside a valid change, nothing of the body applies.
        let mixed = rig
            .app
            .patch(
                &url,
                json!({ "name": "renamed", "description": "changed", field: null }),
            )
            .await;
        assert_refused(
            &rig,
            &id,
            &before,
            &mixed,
            field,
            &format!("{field}: null with others"),
        )
        .await;
    }
    // `description` is the one nullable field.
    let cleared = rig.app.patch(&url, json!({"description": null})).await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.body["secretRotation"]["description"], Value::Null);
}

#[tokio::test]
async fn patch_without_a_body_answers_422_and_changes_nothing() {
    let rig = Rig::new().await;
    let id = rig.rotation("nobody", "NOBODY").await;
    let url = format!("{ROTATIONS}/{id}");
    let before = rig.get(&id).await.body;
    assert!(before["secretRotation"].is_object(), "{before}");

    // No body and no Content-Type.
    let none = rig
        .app
        .call(reqwest::Method::PATCH, &url, Some(&rig.app.token), None)
        .await;
    assert_refused(&rig, &id, &before, &none, "body", "no body").await;

    // A JSON Content-Type with an empty (or blank) body, and a body that is JSON `null`.
    for (content_type, raw) in [
        (Some("application/json"), ""),
        (Some("application/json"), "  \n"),
        (None, "  "),
        (Some("application/json"), "null"),
    ] {
        let mut req = rig
            .app
            .http
            .patch(format!("{}{url}", rig.app.base))
            .bearer_auth(&rig.app.token)
            .body(raw);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.expect("send");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let answer = crate::helpers::Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        };
        assert_refused(
            &rig,
            &id,
            &before,
            &answer,
            "body",
            &format!("{content_type:?} {raw:?}"),
        )
        .await;
    }

    // An empty object is a PATCH that changes no field, as before.
    let empty = rig.app.patch(&url, json!({})).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["secretRotation"]["id"], json!(id));
    assert_eq!(empty.body["secretRotation"]["name"], "nobody");
}

/// Many PATCHes of one rotation at once (docs/ARCHITECTURE.md, "PATCH lanes"): every one is
/// answered 200 with the rotation as its own PATCH left it, none is lost to a failed fence,
/// and each has its own audit entry, however they were grouped into transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_patches_of_one_rotation_at_once_are_each_applied_and_audited() {
    let rig = crate::rotation_support::Rig::new().await;
    let id = rig.rotation("crowded", "CROWDED").await;
    let path = format!("/api/v2/secret-rotations/dbt-service-token/{id}");
    let calls: Vec<_> = (0..40)
        .map(|n| {
            rig.spawn_call(
                reqwest::Method::PATCH,
                &path,
                serde_json::json!({"description": format!("patch {n}"), "rotationInterval": 1 + n % 5}),
            )
        })
        .collect();
    let mut described = Vec::new();
    for (n, call) in calls.into_iter().enumerate() {
        let answer = call.await.expect("task").expect("answer");
        assert_eq!(answer.status(), 200, "PATCH {n}");
        let body: serde_json::Value = answer.json().await.expect("json");
        let rotation = &body["secretRotation"];
        assert_eq!(rotation["description"], format!("patch {n}"), "{body}");
        assert_eq!(rotation["rotationInterval"], 1 + n % 5, "{body}");
        described.push(format!("patch {n}"));
    }
    let last = rig.get(&id).await.body["secretRotation"].clone();
    assert!(
        described.iter().any(|d| last["description"] == d.as_str()),
        "{last}"
    );
    let logs = rig
        .app
        .get("/api/v1/organization/audit-logs?eventType=update-secret-rotation&limit=100")
        .await;
    let entries = logs.body["auditLogs"].as_array().map(Vec::len);
    assert_eq!(entries, Some(40), "{}", logs.body);
    rig.assert_invariants(&id, "CROWDED", "crowded-token").await;
}
