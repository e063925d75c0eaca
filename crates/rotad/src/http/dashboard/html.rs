//! HTML for the dashboard, written out by hand: every value passes through [`esc`] (or
//! [`attr`]) on its way into the page, and nothing else is interpolated.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::services::sessions::Session;

/// Escapes text for an element's content or a quoted attribute value.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value for a quoted attribute (the same rules as [`esc`]).
pub fn attr(text: &str) -> String {
    esc(text)
}

/// Percent-encodes a value for a URL's query string.
pub fn q(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Milliseconds since the epoch as RFC 3339 UTC, and as a short readable UTC text.
pub fn utc(ms: i64) -> Option<(String, String)> {
    let at: DateTime<Utc> = DateTime::from_timestamp_millis(ms)?;
    Some((
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ))
}

/// How far `ms` is from `now`, in words ("in 3 h", "5 min ago").
pub fn relative(ms: i64, now: i64) -> String {
    let diff = ms - now;
    let secs = diff.abs() / 1000;
    let amount = if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min", secs / 60)
    } else if secs < 86_400 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} d", secs / 86_400)
    };
    if diff >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A `<time>` the page's script shows in the browser's time zone (relative and absolute),
/// with UTC in its `title`; without the script it reads in UTC. `None` or 0 is "never".
pub fn time(ms: Option<i64>, now: i64, never: &str) -> String {
    match ms.filter(|m| *m > 0).and_then(|m| utc(m).map(|u| (m, u))) {
        Some((m, (iso, text))) => format!(
            "<time datetime=\"{iso}\" title=\"{text}\" data-local><span class=\"rel\">{}</span> \
             <span class=\"abs\">{text}</span></time>",
            relative(m, now)
        ),
        None => esc(never),
    }
}

/// The navigation and page frame around `body`.
pub fn page(title: &str, session: Option<&Session>, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · rotad</title>\
         <link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\
         <script src=\"/assets/dashboard.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a><header class=\"top\">\
         <a class=\"brand\" href=\"/\">rotad</a>",
        esc(title)
    );
    if let Some(s) = session {
        let _ = write!(
            out,
            "<nav aria-label=\"Main\"><ul><li><a href=\"/\">Rotations</a></li>\
             <li><a href=\"/audit\">Audit log</a></li></ul></nav>\
             <div class=\"who\"><span>Signed in as <strong>{}</strong></span>\
             <form method=\"post\" action=\"/sign-out\">{}\
             <button type=\"submit\">Sign out</button></form></div>",
            esc(&s.ctx.actor.name),
            csrf_field(s)
        );
    }
    let _ = write!(
        out,
        "</header><main id=\"main\"><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        attr(&session.csrf_token)
    )
}

/// A notice box: `kind` is `error` or `ok`; the text says which, not only its colour.
pub fn notice(kind: &str, text: &str) -> String {
    let (label, role) = if kind == "error" {
        ("Error", "alert")
    } else {
        ("Done", "status")
    };
    format!(
        "<p class=\"notice {kind}\" role=\"{role}\"><strong>{label}:</strong> {}</p>",
        esc(text)
    )
}

/// A labelled text input, with the API's message beside it when it failed validation.
pub fn field(
    name: &str,
    label: &str,
    value: &str,
    kind: &str,
    error: Option<&str>,
    extra: &str,
) -> String {
    let id = format!("f-{name}");
    let mut out = format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label><input id=\"{id}\" name=\"{}\" \
         type=\"{kind}\" value=\"{}\" {extra}",
        esc(label),
        attr(name),
        attr(value)
    );
    if let Some(e) = error {
        let _ = write!(
            out,
            " aria-invalid=\"true\" aria-describedby=\"{id}-err\"><p class=\"field-error\" \
             id=\"{id}-err\"><strong>Error:</strong> {}</p></div>",
            esc(e)
        );
    } else {
        out.push_str("></div>");
    }
    out
}

/// A labelled drop-down of `(value, text)` options, `selected` chosen, with the API's message
/// below it when it failed validation.
pub fn select<'a>(
    id: &str,
    name: &str,
    label: &str,
    options: impl IntoIterator<Item = (&'a str, &'a str)>,
    selected: &str,
    error: Option<&str>,
) -> String {
    let mut out = format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label><select id=\"{id}\" name=\"{}\">",
        esc(label),
        attr(name)
    );
    for (value, text) in options {
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            attr(value),
            if value == selected { " selected" } else { "" },
            esc(text)
        );
    }
    out.push_str("</select>");
    if let Some(e) = error {
        let _ = write!(
            out,
            "<p class=\"field-error\"><strong>Error:</strong> {}</p>",
            esc(e)
        );
    }
    out.push_str("</div>");
    out
}

/// The environment picker of a project's forms (the field `environment`, by slug).
pub fn environment_select(
    id: &str,
    environments: &[crate::store::Environment],
    selected: &str,
    error: Option<&str>,
) -> String {
    select(
        id,
        "environment",
        "Environment",
        environments
            .iter()
            .map(|e| (e.slug.as_str(), e.name.as_str())),
        selected,
        error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn relative_times_read_both_ways() {
        assert_eq!(relative(3_600_000, 0), "in 1 h");
        assert_eq!(relative(0, 120_000), "2 min ago");
        assert_eq!(relative(2 * 86_400_000, 0), "in 2 d");
    }

    #[test]
    fn times_carry_utc_in_the_title() {
        let t = time(Some(1_700_000_000_000), 1_700_000_000_000, "never");
        assert!(t.contains("datetime=\"2023-11-14T22:13:20Z\""), "{t}");
        assert!(t.contains("title=\"2023-11-14 22:13:20 UTC\""), "{t}");
        assert_eq!(time(None, 0, "never"), "never");
    }
}
