//! `/api/v1/webhooks`: create, list, disable, test, delete; validation, SSRF, permissions;
//! `secrets.modified` on secret writes, by environment and path.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_envelope, TestApp};
use crate::webhook_sink::{Sink, KEY};

async fn wait_events(sink: &Sink, event: &str, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = sink.events(event);
        if events.len() >= n {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "only {} {event} events",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn webhook_lifecycle_and_secret_change_events() {
    let app = TestApp::spawn_with(|a| a.scheduler_poll_interval = Duration::from_millis(200)).await;
    let project = app.project("hooks").await;
    let sink = Sink::start().await;
    let id = sink.subscribe(&app, &project, "/app/**").await;

    let list = app
        .get(&format!(
            "/api/v1/webhooks?workspaceId={project}&environment=dev"
        ))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let hooks = list.body["webhooks"].as_array().expect("webhooks");
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["id"], id.as_str());
    assert_eq!(hook["secretPath"], "/app/**");
    assert_eq!(hook["url"], sink.url.as_str());
    assert_eq!(hook["environment"]["slug"], "dev");
    assert_eq!(hook["isDisabled"], false);
    assert!(
        !list.body.to_string().contains(KEY),
        "the signing key is never returned"
    );

    // A write below /app is announced; one elsewhere is not.
    let folder = app
        .post(
            "/api/v2/folders",
            json!({"projectId": project, "environment": "dev", "name": "app", "path": "/"}),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.body);
    assert_eq!(
        app.create_secret(&project, "/", "ROOT_ONLY", "x")
            .await
            .status,
        200
    );
    assert_eq!(
        app.create_secret(&project, "/app", "APP_KEY", "value-1")
            .await
            .status,
        200
    );
    let events = wait_events(&sink, "secrets.modified", 1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let events_now = sink.events("secrets.modified");
    assert_eq!(events_now.len(), 1, "{events_now:?}");
    assert_eq!(events[0]["project"]["secretPath"], "/app");
    assert_eq!(events[0]["project"]["environment"], "dev");
    assert_eq!(events[0]["project"]["projectId"], project.as_str());
    assert_eq!(events[0]["project"]["workspaceId"], project.as_str());
    assert_eq!(events[0]["project"]["projectName"], "hooks");
    assert!(events[0]["timestamp"].is_i64(), "{}", events[0]);
    assert!(
        !events[0].to_string().contains("value-1"),
        "no secret value in events"
    );
    assert!(sink.all_signed());

    // Test, then disable: a disabled webhook gets nothing.
    let tested = app
        .post(&format!("/api/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert_eq!(tested.body["webhook"]["lastStatus"], "success");
    let test_events = wait_events(&sink, "test", 1).await;
    assert_eq!(test_events.len(), 1);
    assert_eq!(test_events[0]["project"]["secretPath"], "/app/**");
    assert!(sink.all_signed(), "the test event is signed too");
    let ids: Vec<_> = sink.requests().into_iter().map(|r| r.delivery_id).collect();
    assert!(ids.iter().all(Option::is_some), "{ids:?}");
    assert_ne!(ids[0], ids[1], "each delivery has its own id");
    let off = app
        .patch(
            &format!("/api/v1/webhooks/{id}"),
            json!({"isDisabled": true}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["webhook"]["isDisabled"], true);
    let update = app
        .patch(
            "/api/v3/secrets/raw/APP_KEY",
            json!({"workspaceId": project, "environment": "dev", "secretPath": "/app", "secretValue": "value-2"}),
        )
        .await;
    assert_eq!(update.status, 200, "{}", update.body);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sink.events("secrets.modified").len(), 1);

    let gone = app
        .delete(&format!("/api/v1/webhooks/{id}"), json!({}))
        .await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    let again = app
        .delete(&format!("/api/v1/webhooks/{id}"), json!({}))
        .await;
    assert_envelope(&again, 404);
    // The key is sealed at rest.
    let dump = app.db.dump().await;
    assert!(!dump.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
}

#[tokio::test]
async fn bad_webhooks_are_refused_and_change_nothing() {
    let app = TestApp::spawn_with(|a| a.allow_internal_ip_connections = false).await;
    let project = app.project("strict-hooks").await;
    let create = |body: serde_json::Value| app.post("/api/v1/webhooks", body);
    let base = json!({"workspaceId": project, "environment": "dev", "webhookUrl": "https://hooks.example.com/x"});

    for (url, status) in [
        ("http://127.0.0.1:9/hook", 400),
        ("https://10.0.0.1/hook", 400),
        ("https://user:pass@hooks.example.com/", 400),
        ("not a url", 400),
        ("", 422),
    ] {
        let mut body = base.clone();
        body["webhookUrl"] = json!(url);
        assert_envelope(&create(body).await, status);
    }
    let mut unknown = base.clone();
    unknown["surprise"] = json!(true);
    assert_envelope(&create(unknown).await, 422);
    let mut env = base.clone();
    env["environment"] = json!("nope");
    assert_envelope(&create(env).await, 404);
    let mut kind = base.clone();
    kind["type"] = json!("slack");
    assert_envelope(&create(kind).await, 422);
    assert_envelope(
        &app.post(
            &format!("/api/v1/webhooks/{}/test", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await,
        404,
    );

    let list = app
        .get(&format!("/api/v1/webhooks?workspaceId={project}"))
        .await;
    assert_eq!(list.body["webhooks"], json!([]), "nothing was created");

    // Viewers read but do not manage; other projects' callers get 403.
    let viewer = app.member_token(&project, "viewer").await;
    let as_viewer = app
        .call(
            Method::GET,
            &format!("/api/v1/webhooks?workspaceId={project}"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(as_viewer.status, 200, "{}", as_viewer.body);
    let denied = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(&viewer),
            Some(base.clone()),
        )
        .await;
    assert_envelope(&denied, 403);
    let other = app.project("other").await;
    let outsider = app.member_token(&other, "admin").await;
    let denied = app
        .call(
            Method::GET,
            &format!("/api/v1/webhooks?workspaceId={project}"),
            Some(&outsider),
            None,
        )
        .await;
    assert_envelope(&denied, 403);
}

#[tokio::test]
async fn deliveries_are_retried_with_backoff_until_accepted() {
    let app = TestApp::spawn_with(|a| a.scheduler_poll_interval = Duration::from_millis(200)).await;
    let project = app.project("retried").await;
    let sink = Sink::start_failing(2).await;
    let id = sink.subscribe(&app, &project, "/").await;
    let started = Instant::now();
    assert_eq!(
        app.create_secret(&project, "/", "RETRIED", "v")
            .await
            .status,
        200
    );
    // Refused twice: retried after about 3 s, then 6 s more.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = app
            .get(&format!("/api/v1/webhooks?workspaceId={project}"))
            .await;
        let hook = &list.body["webhooks"][0];
        if sink.events("secrets.modified").len() == 1 {
            break;
        }
        if started.elapsed() > Duration::from_secs(1) && started.elapsed() < Duration::from_secs(8)
        {
            // Between the attempts the webhook shows the last failure.
            if hook["lastStatus"] == "failed" {
                assert_eq!(
                    hook["lastRunErrorMessage"],
                    "Webhook responded with status 500"
                );
            }
        }
        assert!(Instant::now() < deadline, "never delivered: {hook}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    // Every attempt verified; the retries of one delivery share its id and are each stamped
    // with their own time.
    let requests = sink.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(sink.all_signed(), "{requests:?}");
    assert!(requests[0].delivery_id.is_some());
    assert!(requests
        .iter()
        .all(|r| r.delivery_id == requests[0].delivery_id));
    let stamps: Vec<i64> = requests
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter_map(|b| b["timestamp"].as_i64())
        .collect();
    assert_eq!(stamps.len(), 3);
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert!(
        took >= Duration::from_secs(8),
        "two backoffs (3 s, 6 s) before success: {took:?}"
    );
    let list = app
        .get(&format!("/api/v1/webhooks?workspaceId={project}"))
        .await;
    assert_eq!(list.body["webhooks"][0]["id"], id.as_str());
    assert_eq!(list.body["webhooks"][0]["lastStatus"], "success");
    assert_eq!(
        list.body["webhooks"][0]["lastRunErrorMessage"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn a_receiver_with_another_key_rejects_every_delivery() {
    let app = TestApp::spawn_with(|a| a.scheduler_poll_interval = Duration::from_millis(200)).await;
    let project = app.project("wrong-key").await;
    let sink = Sink::start_with("not-the-signing-key", 0).await;
    let id = sink.subscribe(&app, &project, "/").await;

    let tested = app
        .post(&format!("/api/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert_eq!(tested.body["webhook"]["lastStatus"], "failed");
    assert_eq!(
        tested.body["webhook"]["lastRunErrorMessage"],
        "Webhook responded with status 401"
    );
    assert_eq!(
        app.create_secret(&project, "/", "REJECTED", "v")
            .await
            .status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while sink.requests().len() < 2 {
        assert!(Instant::now() < deadline, "the event was never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = sink.requests();
    assert!(requests.iter().all(|r| r.status == 401), "{requests:?}");
    // Signed all the same: with the webhook's key, which this receiver does not hold.
    assert!(sink.all_signed(), "{requests:?}");
    assert!(sink.events("secrets.modified").is_empty());
}
