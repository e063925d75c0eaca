//! Call counts, create concurrency tracking, the HTTP control API and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{create, emulator, request, send, token_path, tokens_path};
use dbt_cloud_emulator::{Operation, TokenInfo};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn calls_are_counted_per_operation_and_reset() {
    let emu = emulator().await;
    let account = format!("/api/v2/accounts/{}/", emu.account_id());
    send(request(&emu, Method::GET, &account, &emu.admin_token())).await;
    let id = create(&emu, "counted", json!([])).await["id"]
        .as_i64()
        .expect("id");
    send(request(
        &emu,
        Method::GET,
        &token_path(&emu, id),
        &emu.admin_token(),
    ))
    .await;
    send(request(
        &emu,
        Method::GET,
        &tokens_path(&emu),
        &emu.admin_token(),
    ))
    .await;
    send(request(
        &emu,
        Method::GET,
        &tokens_path(&emu),
        "dbtc_unknown",
    ))
    .await;
    send(request(
        &emu,
        Method::DELETE,
        &token_path(&emu, id),
        &emu.admin_token(),
    ))
    .await;

    assert_eq!(emu.calls(Operation::AccountGet), 1);
    assert_eq!(emu.calls(Operation::TokenCreate), 1);
    assert_eq!(emu.calls(Operation::TokenGet), 1);
    assert_eq!(
        emu.calls(Operation::TokenList),
        2,
        "rejected calls count too"
    );
    assert_eq!(emu.calls(Operation::TokenDelete), 1);
    assert_eq!(emu.calls(Operation::ProjectList), 0);
    assert_eq!(emu.calls(Operation::Any), 6);

    emu.create_token("direct", Vec::new());
    assert_eq!(
        emu.calls(Operation::Any),
        6,
        "harness calls are not API calls"
    );
    emu.reset_calls();
    assert_eq!(emu.calls(Operation::Any), 0);
}

#[tokio::test]
async fn concurrent_creates_are_tracked_per_token_name() {
    let emu = emulator().await;
    emu.set_latency(Duration::from_millis(300));
    let body = |name: &str| json!({"name": name, "permission_grants": []});
    let mut parallel = Vec::new();
    for _ in 0..3 {
        parallel.push(send(
            request(&emu, Method::POST, &tokens_path(&emu), &emu.admin_token())
                .json(&body("burst")),
        ));
    }
    let statuses: Vec<u16> = futures_join(parallel).await;
    assert_eq!(statuses, [200, 200, 200]);
    for _ in 0..2 {
        let (status, _) = send(
            request(&emu, Method::POST, &tokens_path(&emu), &emu.admin_token()).json(&body("calm")),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(emu.max_concurrent_creates("burst"), 3);
    assert_eq!(emu.max_concurrent_creates("calm"), 1);
    assert_eq!(emu.max_concurrent_creates("never"), 0);
    emu.reset_calls();
    assert_eq!(emu.max_concurrent_creates("burst"), 0);
}

/// Awaits the futures concurrently and returns their statuses in order.
async fn futures_join<F>(futures: Vec<F>) -> Vec<u16>
where
    F: std::future::Future<Output = (u16, Value)> + Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.expect("join").0);
    }
    statuses
}

#[tokio::test]
async fn the_http_control_api_mirrors_the_rust_handle() {
    let emu = emulator().await;
    let client = common::client();
    let control = |path: &str| format!("{}/_emulator/{path}", emu.base_url());

    let info: Value = client
        .get(control("info"))
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert_eq!(info["admin_token"], emu.admin_token());
    assert_eq!(info["account_id"], emu.account_id());

    let fault =
        json!({"operation": "token_list", "kind": {"type": "status", "code": 503}, "times": 1});
    let response = client
        .post(control("faults"))
        .json(&fault)
        .send()
        .await
        .expect("inject");
    assert_eq!(response.status(), 204);
    assert_eq!(
        send(request(
            &emu,
            Method::GET,
            &tokens_path(&emu),
            &emu.admin_token()
        ))
        .await
        .0,
        503
    );

    let fault = json!({"operation": "any", "kind": {"type": "drop"}, "times": 5});
    client
        .post(control("faults"))
        .json(&fault)
        .send()
        .await
        .expect("inject");
    client
        .delete(control("faults"))
        .send()
        .await
        .expect("clear");
    assert_eq!(
        send(request(
            &emu,
            Method::GET,
            &tokens_path(&emu),
            &emu.admin_token()
        ))
        .await
        .0,
        200
    );

    let created: TokenInfo = client
        .post(control("tokens"))
        .json(&json!({"name": "reader", "grants": [{"permission_set": "account_viewer"}]}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("token info");
    assert_eq!(created.name, "reader");
    assert_eq!(
        send(request(
            &emu,
            Method::GET,
            &tokens_path(&emu),
            &created.token_string
        ))
        .await
        .0,
        200
    );

    let tokens: Vec<TokenInfo> = client
        .get(control("tokens"))
        .send()
        .await
        .expect("tokens")
        .json()
        .await
        .expect("json");
    assert_eq!(tokens, emu.tokens());

    let calls: Value = client
        .get(control("calls"))
        .send()
        .await
        .expect("calls")
        .json()
        .await
        .expect("json");
    assert_eq!(calls["token_list"], 3);
    assert_eq!(calls["any"], 3);
    client.delete(control("calls")).send().await.expect("reset");
    assert_eq!(emu.calls(Operation::Any), 0);

    let response = client
        .put(control("latency"))
        .json(&json!({"ms": 120}))
        .send()
        .await
        .expect("latency");
    assert_eq!(response.status(), 204);
    let started = std::time::Instant::now();
    send(request(
        &emu,
        Method::GET,
        &tokens_path(&emu),
        &emu.admin_token(),
    ))
    .await;
    assert!(started.elapsed() >= Duration::from_millis(120));

    let concurrency: Value = client
        .get(control("concurrency"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(concurrency, json!({}));
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_prints_its_address_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbt-cloud-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--account-id",
            "42",
            "--admin-token",
            "dbtc_BinTest0123456789abcdef",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("one line");
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(key))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{key} missing in {line}"))
    };
    let base_url = field("base_url=");
    assert_eq!(field("account_id="), "42");
    assert_eq!(field("admin_token="), "dbtc_BinTest0123456789abcdef");

    let response = common::client()
        .get(format!("{base_url}/api/v2/accounts/42/"))
        .header("Authorization", "Bearer dbtc_BinTest0123456789abcdef")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("exit status");
    assert!(status.success(), "exits cleanly on SIGTERM: {status}");
}
