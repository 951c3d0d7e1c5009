//! The microbatch strategy's settings as configs carry them: the batch size and event times.
//! Plain values, read at parse (to check a model's config) and used when the model runs.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

/// A batch's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// One calendar month.
    Month,
    /// One calendar year.
    Year,
}

impl BatchSize {
    /// `hour`, `day`, `month` or `year`.
    pub fn parse(s: &str) -> Option<BatchSize> {
        match s.to_ascii_lowercase().as_str() {
            "hour" => Some(BatchSize::Hour),
            "day" => Some(BatchSize::Day),
            "month" => Some(BatchSize::Month),
            "year" => Some(BatchSize::Year),
            _ => None,
        }
    }

    /// The start of the batch `t` falls in.
    pub fn truncate(self, t: NaiveDateTime) -> NaiveDateTime {
        let d = t.date();
        let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(t);
        match self {
            BatchSize::Hour => d.and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
            BatchSize::Day => day(d),
            BatchSize::Month => day(NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d)),
            BatchSize::Year => day(NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d)),
        }
    }

    /// `t` moved by `n` batches (t on a batch boundary).
    pub fn offset(self, t: NaiveDateTime, n: i64) -> NaiveDateTime {
        match self {
            BatchSize::Hour => t + Duration::hours(n),
            BatchSize::Day => t + Duration::days(n),
            BatchSize::Month | BatchSize::Year => {
                let months = if self == BatchSize::Month { n } else { n * 12 };
                let total = i64::from(t.year()) * 12 + i64::from(t.month0()) + months;
                let (y, m) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32 + 1);
                NaiveDate::from_ymd_opt(y, m, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or(t)
            }
        }
    }

    /// A batch's id as dbt writes it: `20240105` (or `2024010513` for hours).
    pub fn id(self, start: NaiveDateTime) -> String {
        match self {
            BatchSize::Hour => start.format("%Y%m%d%H").to_string(),
            _ => start.format("%Y%m%d").to_string(),
        }
    }
}

/// Read a timestamp: `2024-01-05`, `2024-01-05 10:00[:00]` or with a `T`.
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.naive_utc());
    }
    let s = s.trim().trim_end_matches('Z');
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
}
