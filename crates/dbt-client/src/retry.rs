//! Backoff between attempts: exponential with jitter, or dbt's `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::DbtError;
use crate::options::ClientOptions;

/// How long to wait before retry number `attempt + 1` after `error`, or `None` to give up
/// now because dbt asked for a longer wait than `max_retry_delay`.
pub(crate) fn delay_before_retry(
    attempt: u32,
    error: &DbtError,
    options: &ClientOptions,
) -> Option<Duration> {
    match error.retry_after() {
        Some(asked) if asked > options.max_retry_delay => None,
        Some(asked) => Some(asked),
        None => Some(backoff(
            attempt,
            options.retry_base_delay,
            options.max_retry_delay,
        )),
    }
}

/// `base * 2^attempt`, capped, with "equal jitter": half fixed, half random.
pub(crate) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(20));
    let ceiling = base.saturating_mul(factor).min(cap);
    let half = ceiling / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    let jitter = if jitter_ms == 0 {
        Duration::ZERO
    } else {
        Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_ms))
    };
    half + jitter
}

/// Reads `Retry-After` (seconds or an HTTP date), falling back to
/// `x-rate-limit-retry-after-seconds`.
pub(crate) fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = read(RETRY_AFTER.as_str()) {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = DateTime::parse_from_rfc2822(value) {
            let wait = at.with_timezone(&Utc) - now;
            return Some(wait.to_std().unwrap_or(Duration::ZERO));
        }
    }
    read("x-rate-limit-retry-after-seconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_millis(1000);
        for attempt in 0..10 {
            let ceiling = (base * 2u32.pow(attempt)).min(cap);
            let delay = backoff(attempt, base, cap);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{attempt}: {delay:?}"
            );
        }
        assert_eq!(backoff(3, Duration::ZERO, cap), Duration::ZERO);
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_the_scim_header() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("time");
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers, now), None);
        headers.insert(
            "x-rate-limit-retry-after-seconds",
            HeaderValue::from_static("9"),
        );
        assert_eq!(
            parse_retry_after(&headers, now),
            Some(Duration::from_secs(9))
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(
            parse_retry_after(&headers, now),
            Some(Duration::from_secs(120))
        );
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Fri, 02 Jan 2026 03:04:35 GMT"),
        );
        assert_eq!(
            parse_retry_after(&headers, now),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn a_retry_after_beyond_the_cap_gives_up() {
        let options = ClientOptions {
            max_retry_delay: Duration::from_secs(10),
            ..ClientOptions::default()
        };
        let limited = |secs| DbtError::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
            message: None,
        };
        assert_eq!(
            delay_before_retry(0, &limited(3), &options),
            Some(Duration::from_secs(3))
        );
        assert_eq!(delay_before_retry(0, &limited(300), &options), None);
        let server = DbtError::Server {
            status: 500,
            message: None,
        };
        assert!(delay_before_retry(0, &server, &options).is_some());
    }
}
