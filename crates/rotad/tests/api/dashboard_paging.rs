//! The dashboard's overview of a project larger than one page: the counts cover every rotation,
//! failing and held ones sort first across pages, the read is audited with the ids shown only,
//! and a page costs the same statements however many rotations the project holds.

use dbt_cloud_emulator::{Fault, Operation};

use crate::dashboard::Browser;
use crate::rotation_support::Rig;
use crate::statements;

/// Rows per page of the overview's table (`http/dashboard/overview.rs` `PAGE_SIZE`).
const PAGE_SIZE: usize = 100;

/// The rotation ids of a page's table rows, in order.
fn shown(body: &str) -> Vec<String> {
    body.split("data-rotation=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

fn count(body: &str, name: &str) -> String {
    let marker = format!("data-count=\"{name}\">");
    let start = body.find(&marker).expect("the count") + marker.len();
    body[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The `get-secret-rotations` entries of the project's audit log since the start of the test.
async fn listing_reads(rig: &Rig, since_ms: i64) -> Vec<serde_json::Value> {
    let start = rotad::time::rfc3339(since_ms);
    let answer = rig
        .app
        .get(&format!(
            "/api/v1/organization/audit-logs?projectId={}&eventType=get-secret-rotations&startDate={start}&limit=100",
            rig.project
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_overview_counts_every_rotation_and_pages_failing_first() {
    let since = rotad::time::now_ms() - 60_000;
    let rig = Rig::new().await;
    let mut good = Vec::new();
    for i in 0..PAGE_SIZE {
        good.push(
            rig.rotation(&format!("good-{i:03}"), &format!("GOOD_{i:03}"))
                .await,
        );
    }
    let bad = rig.rotation("zzz-bad", "BAD_TOKEN").await;
    rig.emu
        .inject(Fault::status(Operation::TokenCreate, 500).times(10));
    let failed = rig.rotate(&bad).await;
    assert!(!failed.status.is_success(), "{}", failed.body);
    rig.emu.clear_faults();
    // Everything due in ten days, three rotations within the hour; one rotation failed but is
    // held by an executor right now, so it reads as rotating, not failing.
    let now = rotad::time::now_ms();
    let db = &rig.app.db;
    db.execute(&format!(
        "UPDATE secret_rotations SET next_rotation_at = {} WHERE project_id = '{}'",
        now + 10 * 86_400_000,
        rig.project
    ))
    .await;
    let due = [&good[60], &good[61], &good[62]];
    for (i, id) in due.iter().enumerate() {
        db.execute(&format!(
            "UPDATE secret_rotations SET next_rotation_at = {} WHERE id = '{id}'",
            now + 3_600_000 + i as i64
        ))
        .await;
    }
    let held = &good[50];
    db.execute(&format!(
        "UPDATE secret_rotations SET rotation_status = 'failed', lease_owner = 'test-executor', \
         lease_expires_at = {} WHERE id = '{held}'",
        now + 600_000
    ))
    .await;

    let mut browser = Browser::new(&rig.app);
    browser.sign_in(&[("accessToken", &rig.app.token)]).await;
    let overview = browser.get("/").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert_eq!(count(&overview.body, "total"), "101", "{}", overview.body);
    assert_eq!(count(&overview.body, "failing"), "1");
    assert_eq!(count(&overview.body, "due"), "3");
    let first = shown(&overview.body);
    assert_eq!(first.len(), PAGE_SIZE);
    assert_eq!(first[0], bad, "the failing rotation comes first");
    assert_eq!(&first[1], held, "then the one being rotated");
    assert_eq!(
        first[2..5].iter().collect::<Vec<_>>(),
        due.to_vec(),
        "then by next rotation"
    );
    assert!(overview.body.contains("row-failed") && overview.body.contains("row-rotating"));
    assert!(overview.body.contains("?page=2\">2</a>"), "a pager");

    // The read is audited once, with the ids shown and no others.
    let reads = listing_reads(&rig, since).await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    let metadata = &reads[0]["event"]["metadata"];
    assert_eq!(metadata["count"], PAGE_SIZE, "{metadata}");
    let audited: Vec<String> = metadata["rotationIds"]
        .as_array()
        .expect("rotationIds")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(audited, first);

    // Page 2 holds the rest; the project page and the live fragment agree with the overview.
    let second = browser
        .get(&format!("/projects/{}?page=2", rig.project))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    let rest = shown(&second.body);
    assert_eq!(rest.len(), 1, "{}", second.body);
    let mut all: Vec<String> = first.iter().chain(&rest).cloned().collect();
    all.sort();
    let mut expected: Vec<String> = good.iter().chain([&bad]).cloned().collect();
    expected.sort();
    assert_eq!(all, expected, "every rotation on exactly one page");
    let past = browser
        .get(&format!("/projects/{}/live?page=9", rig.project))
        .await;
    assert_eq!(
        shown(&past.body),
        rest,
        "a page past the end shows the last"
    );
    let live = browser
        .get(&format!("/projects/{}/live", rig.project))
        .await;
    assert_eq!(shown(&live.body), first);
    // Every entry names only the rows its page showed (identical reads of one batch may be
    // written as one entry: `services/read_audit.rs`).
    for entry in listing_reads(&rig, since).await {
        let ids = entry["event"]["metadata"]["rotationIds"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            ids == audited
                .iter()
                .map(|i| serde_json::json!(i))
                .collect::<Vec<_>>()
                || ids
                    == rest
                        .iter()
                        .map(|i| serde_json::json!(i))
                        .collect::<Vec<_>>(),
            "{entry}"
        );
    }
}

/// The statements of one dashboard page load, made inside its request.
async fn statements_of(browser: &Browser, path: &str) -> Vec<String> {
    let mark = statements::mark();
    let page = browser.get(path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    statements::of_requests_since(mark)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overviews_statements_do_not_grow_with_its_rotations() {
    statements::install();
    let rig = Rig::new().await;
    rig.rotation("first", "FIRST").await;
    let mut browser = Browser::new(&rig.app);
    browser.sign_in(&[("accessToken", &rig.app.token)]).await;
    let live = format!("/projects/{}/live", rig.project);
    let mut costs = Vec::new();
    for more in [0, 12] {
        for i in 0..more {
            rig.rotation(&format!("more-{i}"), &format!("MORE_{i}"))
                .await;
        }
        for path in ["/", live.as_str()] {
            // Once to fill the caches, then measured.
            statements_of(&browser, path).await;
            costs.push((path.to_string(), statements_of(&browser, path).await));
        }
    }
    let report: String = costs
        .iter()
        .map(|(path, sql)| format!("\n{path}: {} statements\n  {}", sql.len(), sql.join("\n  ")))
        .collect();
    eprintln!("{report}");
    assert_eq!(costs[0].1.len(), costs[2].1.len(), "{report}");
    assert_eq!(costs[1].1.len(), costs[3].1.len(), "{report}");
    // The live fragment: the session, the counts, the page. The overview adds the projects
    // and their environments.
    for (i, (path, sql)) in costs.iter().enumerate() {
        let budget = if i % 2 == 0 { 5 } else { 3 };
        assert!(sql.len() <= budget, "{path}: {report}");
    }
}

#[tokio::test]
async fn the_rotation_timeline_shows_changes_however_often_the_page_is_read() {
    let rig = Rig::new().await;
    let id = rig.rotation("watched", "WATCHED").await;
    let mut browser = Browser::new(&rig.app);
    browser.sign_in(&[("accessToken", &rig.app.token)]).await;
    let path = format!("/rotations/{id}");
    let mut last = String::new();
    // Each view is audited twice (the rotation read, the generated credentials read).
    for _ in 0..3 {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        last = page.body;
    }
    let timeline = last
        .split("class=\"timeline\"")
        .nth(1)
        .and_then(|t| t.split("</ol>").next())
        .expect("the timeline");
    assert!(
        timeline.contains("<strong>create-secret-rotation</strong>"),
        "{timeline}"
    );
    assert!(!timeline.contains("<strong>get-"), "{timeline}");
}
