use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};

#[tokio::test]
async fn every_write_and_secret_read_is_audited_and_filterable() {
    let app = TestApp::spawn().await;
    let project = app.project("audited").await;
    let other = app.project("other").await;
    app.create_secret(&project, "/", "S", "secret-value-123")
        .await;
    app.get(&format!(
        "/api/v3/secrets/raw/S?workspaceId={project}&environment=dev"
    ))
    .await;
    app.create_secret(&other, "/", "T", "v").await;

    let all = app.get("/api/v1/organization/audit-logs?limit=100").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let logs = all.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let types: Vec<&str> = logs
        .iter()
        .filter_map(|l| l["event"]["type"].as_str())
        .collect();
    for t in ["create-project", "create-secret", "get-secret"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    assert!(
        !all.body.to_string().contains("secret-value-123"),
        "no secret values in the audit log"
    );

    let filtered = app
        .get(&format!("/api/v1/organization/audit-logs?projectId={project}&eventType=create-secret,get-secret"))
        .await;
    let f = filtered.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(f.len(), 2, "{}", filtered.body);
    assert!(f.iter().all(|l| l["projectId"] == project.as_str()));

    let page = app
        .get("/api/v1/organization/audit-logs?limit=1&offset=1")
        .await;
    assert_eq!(page.body["auditLogs"].as_array().map(Vec::len), Some(1));
    assert_eq!(page.body["auditLogs"][0]["id"], logs[1]["id"]);

    let future = app
        .get("/api/v1/organization/audit-logs?startDate=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(future.body["auditLogs"], json!([]));
    let bad = app
        .get("/api/v1/organization/audit-logs?startDate=yesterday")
        .await;
    assert_envelope(&bad, 422);

    let viewer = app.member_token(&project, "viewer").await;
    let denied = app
        .call(
            reqwest::Method::GET,
            "/api/v1/organization/audit-logs",
            Some(&viewer),
            None,
        )
        .await;
    assert_envelope(&denied, 403);
}

/// Read events are written in batches (`ROTAD_AUDIT_READS=batched`); identical ones of one
/// batch become one entry with a `count`. However the reads fall into batches, every read is
/// accounted for, and the log shows them as soon as it is read.
#[tokio::test]
async fn batched_read_events_account_for_every_read() {
    let app = TestApp::spawn().await;
    let project = app.project("polled").await;
    app.create_secret(&project, "/", "POLLED", "v").await;
    for _ in 0..25 {
        let read = app
            .get(&format!(
                "/api/v3/secrets/raw/POLLED?workspaceId={project}&environment=dev"
            ))
            .await;
        assert_eq!(read.status, 200, "{}", read.body);
    }
    let logs = app
        .get(&format!(
            "/api/v1/organization/audit-logs?projectId={project}&eventType=get-secret&limit=100"
        ))
        .await;
    let entries = logs.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!entries.is_empty() && entries.len() <= 25, "{}", logs.body);
    let reads: u64 = entries
        .iter()
        .map(|e| e["event"]["metadata"]["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(reads, 25, "{}", logs.body);
}

/// With `ROTAD_AUDIT_READS=sync` every read is its own entry; with `off` reads leave none,
/// while writes are audited either way.
#[tokio::test]
async fn read_events_can_be_written_one_by_one_or_not_at_all() {
    for (mode, expected) in [
        (rotad::config::AuditReads::Sync, 3),
        (rotad::config::AuditReads::Off, 0),
    ] {
        let app = TestApp::spawn_with(|args| args.audit_reads = mode).await;
        let project = app.project("reads").await;
        app.create_secret(&project, "/", "READ", "v").await;
        for _ in 0..3 {
            app.get(&format!(
                "/api/v3/secrets/raw/READ?workspaceId={project}&environment=dev"
            ))
            .await;
        }
        let logs = app
            .get(&format!(
                "/api/v1/organization/audit-logs?projectId={project}&eventType=get-secret,create-secret"
            ))
            .await;
        let entries = logs.body["auditLogs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let reads = entries
            .iter()
            .filter(|e| e["event"]["type"] == "get-secret")
            .count();
        assert_eq!(reads, expected, "{mode:?}: {}", logs.body);
        assert!(
            entries
                .iter()
                .any(|e| e["event"]["type"] == "create-secret"),
            "{mode:?}: writes are always audited"
        );
    }
}

/// The entries of an audit-log query (asserting it answered 200).
async fn entries(app: &TestApp, query: &str) -> Vec<serde_json::Value> {
    let res = app
        .get(&format!(
            "/api/v1/organization/audit-logs?limit=100&{query}"
        ))
        .await;
    assert_eq!(res.status, 200, "{query}: {}", res.body);
    res.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn keys(entries: &[serde_json::Value]) -> Vec<String> {
    let mut keys: Vec<String> = entries
        .iter()
        .filter_map(|e| e["event"]["metadata"]["secretKey"].as_str())
        .map(str::to_string)
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn audit_logs_filter_by_upstreams_fields_and_check_their_window() {
    let app = TestApp::spawn().await;
    let project = app.project("audit-filters").await;
    let folder = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": "dev", "name": "app", "path": "/"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    assert_eq!(
        app.create_secret(&project, "/", "ROOT_KEY", "v")
            .await
            .status,
        200
    );
    assert_eq!(
        app.create_secret(&project, "/app", "APP_KEY", "v")
            .await
            .status,
        200
    );
    let staging = app
        .post(
            "/api/v3/secrets/raw/STAGING_KEY",
            json!({"workspaceId": project, "environment": "staging", "secretValue": "v"}),
        )
        .await;
    assert_eq!(staging.status, 200, "{}", staging.body);
    let member = app.member_token(&project, "member").await;
    let by_member = app
        .call(
            reqwest::Method::POST,
            "/api/v3/secrets/raw/MEMBER_KEY",
            Some(&member),
            Some(json!({"workspaceId": project, "environment": "dev", "secretValue": "v"})),
        )
        .await;
    assert_eq!(by_member.status, 200, "{}", by_member.body);

    let base = format!("projectId={project}&eventType=create-secret");
    assert_eq!(
        keys(&entries(&app, &base).await),
        ["APP_KEY", "MEMBER_KEY", "ROOT_KEY", "STAGING_KEY"]
    );
    assert_eq!(
        keys(&entries(&app, &format!("{base}&environment=staging")).await),
        ["STAGING_KEY"]
    );
    assert_eq!(
        keys(&entries(&app, &format!("{base}&secretPath=/app/")).await),
        ["APP_KEY"]
    );
    assert_eq!(
        keys(&entries(&app, &format!("{base}&secretKey=ROOT_KEY")).await),
        ["ROOT_KEY"]
    );
    assert_eq!(
        keys(
            &entries(
                &app,
                &format!("{base}&eventMetadata=environment=dev,secretPath=/")
            )
            .await
        ),
        ["MEMBER_KEY", "ROOT_KEY"]
    );
    // Numbers in the metadata match their digits on both backends.
    assert_eq!(
        keys(&entries(&app, &format!("{base}&eventMetadata=secretVersion=1")).await).len(),
        4
    );
    assert!(
        entries(&app, &format!("{base}&eventMetadata=secretVersion=2"))
            .await
            .is_empty()
    );

    // By actor: the member's own writes only.
    let mine = entries(&app, &format!("{base}&secretKey=MEMBER_KEY")).await;
    let member_id = mine[0]["actor"]["metadata"]["identityId"]
        .as_str()
        .expect("identityId")
        .to_string();
    let by_actor = entries(&app, &format!("projectId={project}&actor={member_id}")).await;
    assert!(!by_actor.is_empty());
    assert!(by_actor
        .iter()
        .all(|e| e["actor"]["metadata"]["identityId"] == member_id.as_str()));
    assert_eq!(keys(&by_actor), ["MEMBER_KEY"]);
    let identities = entries(&app, &format!("{base}&actorType=identity")).await;
    assert_eq!(identities.len(), 4);
    assert!(entries(&app, &format!("{base}&actorType=platform"))
        .await
        .is_empty());
    assert_eq!(
        entries(&app, &format!("{base}&userAgentType=other"))
            .await
            .len(),
        4
    );
    assert!(entries(&app, &format!("{base}&userAgentType=cli"))
        .await
        .is_empty());

    // Upstream's row fields.
    let row = &mine[0];
    assert_eq!(row["orgId"], app.org_id.as_str());
    assert_eq!(row["projectId"], project.as_str());
    assert_eq!(row["projectName"], "audit-filters");
    assert_eq!(row["userAgentType"], "other");
    assert_eq!(row["expiresAt"], serde_json::Value::Null);
    assert!(row["createdAt"].is_string() && row["updatedAt"].is_string());

    // The window: since the last midnight UTC by default; checked when both ends are given.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(entries(&app, &format!("{base}&endDate={yesterday}"))
        .await
        .is_empty());
    assert_eq!(
        entries(&app, &format!("{base}&startDate={yesterday}"))
            .await
            .len(),
        4
    );
    for (query, message) in [
        (
            "startDate=2026-02-01T00:00:00Z&endDate=2026-01-01T00:00:00Z",
            "End date cannot be before start date",
        ),
        (
            "startDate=2026-01-01T00:00:00Z&endDate=2026-06-01T00:00:00Z",
            "Dates must be within 3 months",
        ),
    ] {
        let res = app
            .get(&format!("/api/v1/organization/audit-logs?{query}"))
            .await;
        assert_eq!(assert_envelope(&res, 400), message);
    }
    for query in [
        "actorType=robot",
        "userAgentType=fax",
        "eventMetadata=novalue",
        "eventMetadata=bad%22key=1",
    ] {
        let res = app
            .get(&format!("/api/v1/organization/audit-logs?{query}"))
            .await;
        assert_envelope(&res, 422);
    }

    // Who may read: org admins; a project's admins for that project; nobody else.
    let no_access = app.member_token(&project, "no-access").await;
    let denied = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/organization/audit-logs?projectId={project}"),
            Some(&no_access),
            None,
        )
        .await;
    assert!(
        matches!(denied.status.as_u16(), 403 | 404),
        "{}",
        denied.body
    );
    assert_envelope(&denied, denied.status.as_u16());
    let project_admin = app.member_token(&project, "admin").await;
    let allowed = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/organization/audit-logs?{base}"),
            Some(&project_admin),
            None,
        )
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.body["auditLogs"].as_array().map(Vec::len), Some(4));
}
