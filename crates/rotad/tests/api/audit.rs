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
