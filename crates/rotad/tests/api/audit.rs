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
