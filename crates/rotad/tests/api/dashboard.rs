//! The web dashboard's server rules that need no browser: the session cookie, CSRF, session
//! expiry bounded by the token, sign-out, the viewer's refused POST, a no-access identity, the
//! one-time link, and the pages' headers. The browser tests are tests/browser.

use std::time::Duration;

use dbt_cloud_emulator::{Fault, Operation};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;
use crate::rotation_support::Rig;

/// A browser without a cookie jar or redirects: each answer as it came.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookie(&self) -> String {
        self.headers
            .get(SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF field") + marker.len();
        let end = self.body[start..].find('"').expect("end of value");
        self.body[start..start + end].to_string()
    }
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            base: app.base.clone(),
            cookie: None,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("rotad_session={c}")),
            None => req,
        };
        let res = req.send().await.expect("request");
        Page {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.expect("body"),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(self.http.post(format!("{}{path}", self.base)).form(form))
            .await
    }

    /// Signs in with the form; keeps the session cookie.
    pub(crate) async fn sign_in(&mut self, form: &[(&str, &str)]) -> Page {
        let page = self.post("/sign-in", form).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        self.cookie = Some(cookie_value(&page.set_cookie()));
        page
    }
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("rotad_session="))
        .expect("rotad_session cookie")
        .to_string()
}

/// An identity with `role` in `project`; returns its client id and secret.
async fn member(
    app: &TestApp,
    project: &str,
    role: &str,
    settings: serde_json::Value,
) -> (String, String) {
    let (id, client_id, secret) = app
        .identity_with(
            &format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]),
            "no-access",
            settings,
        )
        .await;
    let m = app
        .post(
            &format!("/api/v1/projects/{project}/memberships/identities/{id}"),
            json!({"roles": [{"role": role, "isTemporary": false}]}),
        )
        .await;
    assert_eq!(m.status, 200, "{}", m.body);
    (client_id, secret)
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_holding_only_a_session_id() {
    let app = TestApp::spawn().await;
    let project = app.project("web").await;
    let (client_id, secret) = member(&app, &project, "admin", json!({})).await;
    let mut browser = Browser::new(&app);
    let page = browser
        .sign_in(&[("clientId", &client_id), ("clientSecret", &secret)])
        .await;
    assert_eq!(page.location(), "/");
    let cookie = page.set_cookie();
    for part in [
        "rotad_session=",
        "Path=/",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http without a public https URL: {cookie}"
    );
    let id = browser.cookie.clone().expect("cookie");
    assert!(id.len() >= 64, "a long random id: {id}");
    // The overview answers with the dashboard's headers.
    let overview = browser.get("/").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("web"), "{}", overview.body);
    let h = &overview.headers;
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!overview.body.contains("<script>"), "no inline script");
    // The store holds neither the session id nor a token in plaintext.
    let dump = app.db.dump().await;
    let text = String::from_utf8_lossy(&dump);
    assert!(!text.contains(&id), "the raw session id is stored");
    assert!(!text.contains(&secret), "the client secret is stored");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let app = TestApp::spawn_with(|args| {
        args.public_url = Some("https://rotad.example.com".to_string());
    })
    .await;
    let mut browser = Browser::new(&app);
    let page = browser.sign_in(&[("accessToken", &app.token)]).await;
    assert!(
        page.set_cookie().contains("; Secure"),
        "{}",
        page.set_cookie()
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_without_a_cookie() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);
    let page = browser
        .post(
            "/sign-in",
            &[("clientId", "nobody"), ("clientSecret", "wrong")],
        )
        .await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains("Invalid credentials"), "{}", page.body);
    assert!(page.set_cookie().is_empty());
    // Without a session, a page sends the browser to sign in.
    let overview = browser.get("/").await;
    assert_eq!(overview.status, StatusCode::SEE_OTHER);
    assert_eq!(overview.location(), "/sign-in");
}

#[tokio::test]
async fn posts_without_the_csrf_token_or_from_another_origin_are_refused() {
    let rig = Rig::new().await;
    let id = rig.rotation("csrf-check", "CSRF_TOKEN").await;
    let before = rig.get(&id).await.body["secretRotation"]["lastRotatedAt"].clone();
    let mut browser = Browser::new(&rig.app);
    browser.sign_in(&[("accessToken", &rig.app.token)]).await;
    let page = browser.get(&format!("/rotations/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Rotate now"), "{}", page.body);
    let csrf = page.csrf();
    let rotate = format!("/rotations/{id}/rotate");

    let missing = browser.post(&rotate, &[]).await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(missing.body.contains("CSRF"), "{}", missing.body);
    let wrong = browser
        .post(&rotate, &[("csrf", "0".repeat(64).as_str())])
        .await;
    assert_eq!(wrong.status, 403);
    let foreign = browser
        .send(
            browser
                .http
                .post(format!("{}{rotate}", browser.base))
                .header("origin", "https://evil.example")
                .form(&[("csrf", csrf.as_str())]),
        )
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    // None of them rotated.
    assert_eq!(
        rig.get(&id).await.body["secretRotation"]["lastRotatedAt"],
        before
    );

    let done = browser.post(&rotate, &[("csrf", csrf.as_str())]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), format!("/rotations/{id}?done=rotated"));
    let after = rig.get(&id).await.body["secretRotation"].clone();
    assert_ne!(after["lastRotatedAt"], before);
    assert_eq!(after["activeIndex"], 1);
    let shown = browser.get(&format!("/rotations/{id}?done=rotated")).await;
    assert!(
        shown.body.contains("data-active-slot=\"2\""),
        "{}",
        shown.body
    );
    // A script's POST may carry the token in a header instead.
    let header = browser
        .send(
            browser
                .http
                .post(format!("{}/rotations/{id}/check", browser.base))
                .header("x-csrf-token", csrf.as_str()),
        )
        .await;
    assert_eq!(header.status, StatusCode::SEE_OTHER, "{}", header.body);
}

#[tokio::test]
async fn a_viewer_sees_no_rotate_button_and_a_forged_rotate_is_403() {
    let rig = Rig::new().await;
    let id = rig.rotation("viewer-check", "VIEWER_TOKEN").await;
    let before = rig.get(&id).await.body["secretRotation"].clone();
    let (client_id, secret) = member(&rig.app, &rig.project, "viewer", json!({})).await;
    let mut browser = Browser::new(&rig.app);
    browser
        .sign_in(&[("clientId", &client_id), ("clientSecret", &secret)])
        .await;
    let overview = browser.get("/").await;
    assert!(overview.body.contains("viewer-check"), "{}", overview.body);
    let page = browser.get(&format!("/rotations/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("Rotate now"), "{}", page.body);
    assert!(!page.body.contains("Delete rotation"), "{}", page.body);
    let forged = browser
        .post(
            &format!("/rotations/{id}/rotate"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let delete = browser
        .post(
            &format!("/rotations/{id}/delete"),
            &[("csrf", &page.csrf()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(delete.status, 403, "{}", delete.body);
    let after = rig.get(&id).await.body["secretRotation"].clone();
    assert_eq!(after["lastRotatedAt"], before["lastRotatedAt"]);
    assert_eq!(after["activeIndex"], before["activeIndex"]);
}

#[tokio::test]
async fn a_no_access_identity_sees_nothing_of_the_project() {
    let rig = Rig::new().await;
    let id = rig.rotation("hidden-rotation", "HIDDEN_TOKEN").await;
    let (client_id, secret) = member(&rig.app, &rig.project, "no-access", json!({})).await;
    let mut browser = Browser::new(&rig.app);
    browser
        .sign_in(&[("clientId", &client_id), ("clientSecret", &secret)])
        .await;
    let overview = browser.get("/").await;
    assert_eq!(overview.status, 200);
    assert!(!overview.body.contains(&rig.project), "{}", overview.body);
    assert!(
        !overview.body.contains("hidden-rotation"),
        "{}",
        overview.body
    );
    for path in [
        format!("/projects/{}", rig.project),
        format!("/projects/{}/live", rig.project),
        format!("/rotations/{id}"),
    ] {
        let page = browser.get(&path).await;
        assert!(
            matches!(page.status.as_u16(), 403 | 404),
            "{path}: {}",
            page.status
        );
        assert!(
            !page.body.contains("hidden-rotation"),
            "{path}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn sign_out_ends_the_session_and_revokes_its_token() {
    let app = TestApp::spawn().await;
    let project = app.project("bye").await;
    let (client_id, secret) = member(&app, &project, "admin", json!({})).await;
    let mut browser = Browser::new(&app);
    browser
        .sign_in(&[("clientId", &client_id), ("clientSecret", &secret)])
        .await;
    let page = browser.get("/").await;
    assert_eq!(page.status, 200);
    let out = browser.post("/sign-out", &[("csrf", &page.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    assert!(
        out.set_cookie().contains("Max-Age=0"),
        "{}",
        out.set_cookie()
    );
    // The old cookie no longer works.
    let again = browser.get("/").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.location(), "/sign-in");
    let post = browser.post("/sign-out", &[("csrf", &page.csrf())]).await;
    assert_eq!(post.status, 401, "{}", post.body);
}

#[tokio::test]
async fn a_session_ends_with_its_access_token() {
    let app = TestApp::spawn().await;
    let project = app.project("short").await;
    let (client_id, secret) = member(
        &app,
        &project,
        "admin",
        json!({"accessTokenTTL": 2, "accessTokenMaxTTL": 2}),
    )
    .await;
    let mut browser = Browser::new(&app);
    let page = browser
        .sign_in(&[("clientId", &client_id), ("clientSecret", &secret)])
        .await;
    let cookie = page.set_cookie();
    let max_age: i64 = cookie
        .split("Max-Age=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|v| v.trim().parse().ok())
        .expect("Max-Age");
    assert!(
        (0..=2).contains(&max_age),
        "bounded by the token's 2 s: {cookie}"
    );
    assert_eq!(browser.get("/").await.status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = browser.get("/").await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    assert_eq!(expired.location(), "/sign-in");
}

#[tokio::test]
async fn a_revoked_token_ends_the_session_at_once() {
    let app = TestApp::spawn().await;
    let project = app.project("revoked").await;
    let (client_id, secret) = member(&app, &project, "admin", json!({})).await;
    let token = app.login(&client_id, &secret).await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let mut browser = Browser::new(&app);
    browser.sign_in(&[("accessToken", &token)]).await;
    assert_eq!(browser.get("/").await.status, 200);
    let revoke = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/token/revoke",
            None,
            Some(json!({"accessToken": token})),
        )
        .await;
    assert_eq!(revoke.status, 200, "{}", revoke.body);
    assert_eq!(browser.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_one_time_link_signs_in_once() {
    let app = TestApp::spawn().await;
    let server = app.server.as_ref().expect("in-process").app.clone();
    let link = server
        .dashboard_link(&app.token, &Default::default())
        .await
        .expect("link");
    let browser = Browser::new(&app);
    let first = browser.get(&format!("/sign-in/link?t={}", link.id)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let cookie = cookie_value(&first.set_cookie());
    assert_ne!(cookie, link.id, "the session id is not the link's");
    let second = browser.get(&format!("/sign-in/link?t={}", link.id)).await;
    assert_eq!(second.status, 401, "{}", second.body);
    assert!(second.set_cookie().is_empty());
    let mut signed = Browser::new(&app);
    signed.cookie = Some(cookie);
    assert_eq!(signed.get("/").await.status, 200);
    let bogus = browser.get("/sign-in/link?t=nothing").await;
    assert_eq!(bogus.status, 401);
}

#[tokio::test]
async fn failing_rotations_sort_first_with_their_message() {
    let rig = Rig::new().await;
    let good = rig.rotation("aaa-good", "GOOD_TOKEN").await;
    let bad = rig.rotation("zzz-bad", "BAD_TOKEN").await;
    rig.emu
        .inject(Fault::status(Operation::TokenCreate, 500).times(10));
    let failed = rig.rotate(&bad).await;
    assert!(
        failed.status.is_server_error() || failed.status == 400,
        "{}",
        failed.body
    );
    rig.emu.clear_faults();
    let mut browser = Browser::new(&rig.app);
    browser.sign_in(&[("accessToken", &rig.app.token)]).await;
    let page = browser.get(&format!("/projects/{}", rig.project)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (b, g) = (
        page.body
            .find(&format!("data-rotation=\"{bad}\""))
            .expect("bad row"),
        page.body
            .find(&format!("data-rotation=\"{good}\""))
            .expect("good row"),
    );
    assert!(b < g, "the failing rotation comes first");
    assert!(page.body.contains("row-failed") && page.body.contains("✖ Failed"));
    assert!(
        page.body.contains("data-count=\"failing\">1<"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("data-count=\"total\">2<"),
        "{}",
        page.body
    );
    let message = failed.body["message"].as_str().expect("message");
    let shown = message.replace('"', "&quot;").replace('\'', "&#39;");
    assert!(
        page.body.contains(&shown[..shown.len().min(60)]),
        "{message}\n{}",
        page.body
    );
    // The live fragment is the same table.
    let live = browser
        .get(&format!("/projects/{}/live", rig.project))
        .await;
    assert!(live.body.contains("row-failed"), "{}", live.body);
}

#[tokio::test]
async fn an_invalid_name_in_the_create_form_shows_the_apis_message() {
    let rig = Rig::new().await;
    let mut browser = Browser::new(&rig.app);
    browser.sign_in(&[("accessToken", &rig.app.token)]).await;
    let path = format!("/projects/{}/rotations/new", rig.project);
    let form = browser.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("connectionId", rig.connection.as_str()),
        ("environment", "dev"),
        ("secretPath", "/"),
        ("name", "Not A Slug"),
        ("rotationInterval", "30"),
        ("rotateAt", "03:00"),
        ("isAutoRotationEnabled", "true"),
        ("tokenName", "web-made"),
        ("permissionSet", "job_runner"),
        ("secretName", "WEB_TOKEN"),
    ];
    let page = browser.post(&path, &fields).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(
        page.body
            .contains("name field can only contain lowercase letters, numbers, and hyphens"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("id=\"f-name-err\""),
        "the message is the name field's"
    );
    let mut good = fields;
    good[4] = ("name", "web-made");
    let made = browser.post(&path, &good).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let list = rig
        .app
        .get(&format!(
            "/api/v2/secret-rotations?projectId={}",
            rig.project
        ))
        .await;
    assert_eq!(
        list.body["secretRotations"][0]["name"], "web-made",
        "{}",
        list.body
    );
}

#[tokio::test]
async fn unknown_paths_answer_the_dashboard_page_and_the_api_keeps_its_envelope() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);
    let page = browser.get("/no/such/page").await;
    assert_eq!(page.status, 404);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(page.headers.contains_key("content-security-policy"));
    let api = app.get("/api/v1/no-such-route").await;
    assert_eq!(api.status, 404);
    assert_eq!(
        api.body["message"],
        "Route GET:/api/v1/no-such-route not found"
    );
    let css = browser.get("/assets/dashboard.css").await;
    assert_eq!(css.status, 200);
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/css"));
}
