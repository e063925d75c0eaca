//! Sign-in (a machine identity's universal-auth client id and secret, or an access token), the
//! one-time sign-in link, and sign-out.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::html::{esc, notice, page};
use super::{html_response, redirect, same_origin, session_cookie, Dash, DashError, Form};
use crate::error::Error;
use crate::http::extract::Meta;
use crate::services::AppState;

fn sign_in_page(error: Option<&str>, client_id: &str) -> String {
    let mut body = String::new();
    if let Some(e) = error {
        body.push_str(&notice("error", e));
    }
    body.push_str(&format!(
        "<p>Sign in as a machine identity. The dashboard acts with exactly that identity's \
         permissions.</p>\
         <form method=\"post\" action=\"/sign-in\" class=\"card\">\
         <fieldset><legend>Universal auth</legend>\
         <div class=\"field\"><label for=\"f-client-id\">Client ID</label>\
         <input id=\"f-client-id\" name=\"clientId\" autocomplete=\"username\" value=\"{}\"></div>\
         <div class=\"field\"><label for=\"f-client-secret\">Client secret</label>\
         <input id=\"f-client-secret\" name=\"clientSecret\" type=\"password\" \
         autocomplete=\"current-password\"></div></fieldset>\
         <p>or</p>\
         <fieldset><legend>Access token</legend>\
         <div class=\"field\"><label for=\"f-token\">Access token</label>\
         <input id=\"f-token\" name=\"accessToken\" type=\"password\" autocomplete=\"off\"></div>\
         </fieldset>\
         <button type=\"submit\">Sign in</button></form>",
        esc(client_id)
    ));
    page("Sign in", None, &body)
}

pub async fn form() -> Response {
    html_response(StatusCode::OK, sign_in_page(None, ""))
}

fn signed_in(app: &AppState, id: &str, expires_at: i64, to: &str) -> Response {
    let mut response = redirect(to);
    if let Ok(value) = HeaderValue::from_str(&session_cookie(app, id, expires_at)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A sign-in form post. There is no session yet to hold a CSRF token, so a cross-origin post
/// is refused by its `Origin`; the session cookie is `SameSite=Strict` besides.
pub async fn submit(
    State(app): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    if !same_origin(&app, &headers) {
        return Err(Error::forbidden("Cross-origin form posts are refused").into());
    }
    let form = Form::parse(&body);
    let (client_id, secret, token) = (
        form.get("clientId").trim(),
        form.get("clientSecret"),
        form.get("accessToken").trim(),
    );
    let outcome = if !token.is_empty() {
        app.dashboard_sign_in_with_token(token, &meta).await
    } else if !client_id.is_empty() && !secret.is_empty() {
        app.dashboard_sign_in_with_secret(client_id, secret, &meta)
            .await
    } else {
        Err(Error::bad_request(
            "Enter a client ID and client secret, or an access token",
        ))
    };
    match outcome {
        Ok(issued) => Ok(signed_in(&app, &issued.id, issued.expires_at, "/")),
        Err(e @ (Error::Unauthorized(_) | Error::Forbidden(_) | Error::BadRequest(_))) => {
            let (status, message) = super::status_and_message(&e);
            Ok(html_response(
                status,
                sign_in_page(Some(&message), client_id),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    t: String,
}

/// Redeems a one-time sign-in link (`rotad demo --keep` prints one).
pub async fn link(
    State(app): State<AppState>,
    Meta(meta): Meta,
    Query(q): Query<LinkQuery>,
) -> Response {
    match app.redeem_dashboard_link(q.t.trim(), &meta).await {
        Ok(issued) => signed_in(&app, &issued.id, issued.expires_at, "/"),
        Err(e) => {
            let (status, message) = super::status_and_message(&e);
            html_response(status, sign_in_page(Some(&message), ""))
        }
    }
}

/// Ends the session (CSRF-checked like every form); the cookie is cleared.
pub async fn sign_out(
    State(app): State<AppState>,
    dash: Dash,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DashError> {
    dash.form(&app, &headers, &body)?;
    app.dashboard_sign_out(&dash.id).await?;
    let mut response = redirect("/sign-in");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("rotad_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}
