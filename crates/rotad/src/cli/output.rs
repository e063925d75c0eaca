//! Text output for people: aligned tables, `key: value` blocks, short forms of tokens and times.

use serde_json::Value;

/// Pretty JSON on stdout (the `--json` mode).
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// An aligned table with a header row; `empty` is printed instead when there are no rows.
pub fn table(headers: &[&str], rows: &[Vec<String>], empty: &str) {
    if rows.is_empty() {
        println!("{empty}");
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `key: value` lines with the keys aligned.
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in pairs {
        println!(
            "{key:<width$}  {value}",
            width = width + 1,
            key = format!("{key}:")
        );
    }
}

/// A JSON field as display text: strings bare, `null`/missing as `-`.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) if s.is_empty() => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS UTC`; `-` when absent.
pub fn when(v: &Value) -> String {
    match v.as_str() {
        Some(s) if s.len() >= 19 => format!("{} UTC", s[..19].replace('T', " ")),
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "-".to_string(),
    }
}

/// The first characters of a secret only: `dbtc_ab12…`.
pub fn short_secret(s: &str) -> String {
    let keep = 9;
    if s.chars().count() <= keep {
        "…".to_string()
    } else {
        format!("{}…", s.chars().take(keep).collect::<String>())
    }
}

/// Seconds as `30d`, `2h`, `5m` or `42s`.
pub fn duration(secs: i64) -> String {
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening() {
        assert_eq!(short_secret("dbtc_ab12cd34ef56"), "dbtc_ab12…");
        assert_eq!(short_secret("short"), "…");
        assert_eq!(
            when(&Value::from("2026-01-02T03:04:05.678Z")),
            "2026-01-02 03:04:05 UTC"
        );
        assert_eq!(when(&Value::Null), "-");
        assert_eq!(duration(2_592_000), "30d");
        assert_eq!(duration(7200), "2h");
    }
}
