//! `nextRotationAt`, by upstream's formula, in UTC.
//!
//! Days (production): the rotation's time of day on the day of the last rotation, plus the
//! interval in days, plus one more day when the last rotation was manual (or the creation) and
//! happened at or after that time of day. Minutes (upstream's development mode): plus the
//! interval in minutes, seconds set to `rotateAtUtc.minutes`, one more minute under the same
//! rule. Seconds (rotad's own, for tests and demos): plus the interval in seconds.

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::config::TimeUnit;
use crate::time::to_datetime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateAt {
    pub hours: u32,
    pub minutes: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub auto: bool,
    pub failed: bool,
    pub interval: i64,
    pub rotate_at: RotateAt,
    pub unit: TimeUnit,
}

impl Schedule {
    /// When to rotate next after a rotation at `last_rotated_at` (`now` for a failed one).
    pub fn next(&self, last_rotated_at: i64, manual: bool, now: i64) -> Option<i64> {
        if !self.auto {
            return None;
        }
        if self.failed {
            return Some(self.retry_after_failure(now));
        }
        let last = to_datetime(last_rotated_at);
        let RotateAt { hours, minutes } = self.rotate_at;
        let next = match self.unit {
            TimeUnit::Day => {
                let slot = at_time(last, hours, minutes, 0);
                let late = (last.hour(), last.minute(), last.second(), last.nanosecond())
                    >= (hours, minutes, 0, 0);
                let extra = i64::from(manual && late);
                slot + Duration::days(self.interval + extra)
            }
            TimeUnit::Minute => {
                let base = last + Duration::minutes(self.interval);
                let at = base
                    .with_second(minutes.min(59))
                    .unwrap_or(base)
                    .with_nanosecond(0)
                    .unwrap_or(base);
                let extra = i64::from(manual && last.second() >= minutes);
                at + Duration::minutes(extra)
            }
            TimeUnit::Second => last + Duration::seconds(self.interval),
        };
        Some(next.timestamp_millis())
    }

    /// Upstream's "next UTC rotation interval": tomorrow at the rotation's time of day.
    pub fn retry_after_failure(&self, now: i64) -> i64 {
        let now = to_datetime(now);
        let RotateAt { hours, minutes } = self.rotate_at;
        let next = match self.unit {
            TimeUnit::Day => at_time(now, hours, minutes, 0) + Duration::days(1),
            TimeUnit::Minute => {
                let base = now + Duration::minutes(1);
                base.with_second(minutes.min(59))
                    .unwrap_or(base)
                    .with_nanosecond(0)
                    .unwrap_or(base)
            }
            TimeUnit::Second => now + Duration::seconds(self.interval.max(1)),
        };
        next.timestamp_millis()
    }
}

/// Delay before attempt `attempt + 1` of a failure episode: `base` (at least 1 s) doubled per
/// failed attempt, capped at 10 minutes, plus up to 25 % jitter so replicas and many failing
/// rotations do not retry in step.
pub fn retry_delay_ms(attempt: i64, base_ms: i64) -> i64 {
    let base = base_ms.max(1000);
    let exponent = attempt.clamp(1, 20) - 1;
    let delay = base.saturating_mul(1i64 << exponent).min(600_000);
    let jitter = rand::random::<f64>() * 0.25;
    delay + (delay as f64 * jitter) as i64
}

fn at_time(day: DateTime<Utc>, hours: u32, minutes: u32, seconds: u32) -> DateTime<Utc> {
    day.date_naive()
        .and_hms_opt(hours.min(23), minutes.min(59), seconds)
        .map(|t| t.and_utc())
        .unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp_millis())
            .unwrap_or_default()
    }

    fn days(interval: i64, hours: u32, minutes: u32) -> Schedule {
        Schedule {
            auto: true,
            failed: false,
            interval,
            rotate_at: RotateAt { hours, minutes },
            unit: TimeUnit::Day,
        }
    }

    #[test]
    fn upstream_examples() {
        let s = days(30, 0, 0);
        assert_eq!(
            s.next(ms("2025-01-01T14:00:00Z"), true, 0),
            Some(ms("2025-02-01T00:00:00Z"))
        );
        assert_eq!(
            s.next(ms("2025-01-01T00:00:30Z"), true, 0),
            Some(ms("2025-02-01T00:00:00Z"))
        );
        assert_eq!(
            s.next(ms("2025-02-01T00:00:07Z"), false, 0),
            Some(ms("2025-03-03T00:00:00Z"))
        );
    }

    #[test]
    fn before_the_slot_the_same_day_counts() {
        let s = days(1, 15, 30);
        assert_eq!(
            s.next(ms("2025-01-01T10:00:00Z"), true, 0),
            Some(ms("2025-01-02T15:30:00Z"))
        );
        assert_eq!(
            s.next(ms("2025-01-01T16:00:00Z"), true, 0),
            Some(ms("2025-01-03T15:30:00Z"))
        );
    }

    #[test]
    fn disabled_and_failed() {
        let mut s = days(7, 2, 0);
        s.auto = false;
        assert_eq!(s.next(ms("2025-01-01T10:00:00Z"), true, 0), None);
        s.auto = true;
        s.failed = true;
        assert_eq!(
            s.next(0, false, ms("2025-01-01T10:00:00Z")),
            Some(ms("2025-01-02T02:00:00Z"))
        );
    }

    #[test]
    fn retries_grow_and_are_capped() {
        let first = retry_delay_ms(1, 200);
        assert!((1000..=1250).contains(&first), "{first}");
        let second = retry_delay_ms(2, 200);
        assert!((2000..=2500).contains(&second), "{second}");
        assert!(retry_delay_ms(50, 5000) <= 750_000);
    }

    #[test]
    fn minutes_and_seconds() {
        let s = Schedule {
            unit: TimeUnit::Minute,
            ..days(2, 0, 10)
        };
        assert_eq!(
            s.next(ms("2025-01-01T10:00:05Z"), true, 0),
            Some(ms("2025-01-01T10:02:10Z"))
        );
        assert_eq!(
            s.next(ms("2025-01-01T10:00:15Z"), true, 0),
            Some(ms("2025-01-01T10:03:10Z"))
        );
        let s = Schedule {
            unit: TimeUnit::Second,
            ..days(5, 0, 0)
        };
        assert_eq!(
            s.next(ms("2025-01-01T10:00:00Z"), true, 0),
            Some(ms("2025-01-01T10:00:05Z"))
        );
    }
}
