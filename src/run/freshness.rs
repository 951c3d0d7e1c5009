//! `strata source freshness`: for each selected source table with a freshness threshold, the
//! latest load time (the max of its `loaded_at_field`, rows narrowed by `filter`, or what its
//! `loaded_at_query` returns) against the database's clock, graded with `warn_after` and
//! `error_after` as dbt grades it.

use crate::adapter::Connection;
use crate::parse::SourceNode;
use crate::project::properties::Freshness;
use chrono::{DateTime, Utc};

/// How a source table's check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Checked: the latest load and the clock (UTC), the age in seconds and the grade
    /// (`pass`, `warn` or `error`).
    Checked { max_loaded_at: DateTime<Utc>, snapshotted_at: DateTime<Utc>, age: f64, status: &'static str },
    /// The check could not run (dbt's "runtime error"): the message.
    RuntimeError(String),
}

/// One source table's freshness.
#[derive(Debug, Clone)]
pub struct FreshnessResult {
    /// `source.<package>.<source>.<table>`.
    pub unique_id: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The thresholds it was graded with.
    pub criteria: Freshness,
    /// When the check started and ended.
    pub timing: (DateTime<Utc>, DateTime<Utc>),
    /// Worker thread name.
    pub thread_id: String,
}

impl FreshnessResult {
    /// dbt's status: pass, warn, error, or runtime error.
    pub fn status(&self) -> &'static str {
        match &self.outcome {
            Outcome::Checked { status, .. } => status,
            Outcome::RuntimeError(_) => "runtime error",
        }
    }

    /// Seconds the check took.
    pub fn execution_time(&self) -> f64 {
        (self.timing.1 - self.timing.0).num_microseconds().unwrap_or(0) as f64 / 1e6
    }
}

/// The grade of an age against thresholds: error first, then warn, as in dbt.
pub fn grade(age: f64, f: &Freshness) -> &'static str {
    let over = |t: &Option<(i64, String)>| t.as_ref().is_some_and(|(c, p)| age > (*c * Freshness::seconds(p)) as f64);
    if over(&f.error_after) {
        "error"
    } else if over(&f.warn_after) {
        "warn"
    } else {
        "pass"
    }
}

/// The query that reads a table's latest load time and the clock, in microseconds since the
/// epoch (a naive timestamp counts as UTC, as in dbt).
pub fn query(s: &SourceNode, f: &Freshness) -> Option<String> {
    let t = &s.table;
    let d = s.relation.dialect;
    let now = d.epoch_micros(d.now);
    if let Some(q) = &t.loaded_at_query {
        return Some(format!(
            "with source_query as (\n{}\n)\nselect {} as max_loaded_at, {now} as snapshotted_at",
            q.trim_end().trim_end_matches(';'),
            d.epoch_micros("(select * from source_query)")
        ));
    }
    let field = t.loaded_at_field.as_ref()?;
    let filter = f.filter.as_ref().map(|w| format!("\nwhere {w}")).unwrap_or_default();
    Some(format!(
        "select {} as max_loaded_at, {now} as snapshotted_at\nfrom {}{filter}",
        d.epoch_micros(&format!("max({field})")),
        s.relation.render()
    ))
}

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Check one source table (which has a threshold).
pub fn check(conn: &dyn Connection, s: &SourceNode, thread_id: &str) -> FreshnessResult {
    let start = Utc::now();
    let criteria = s.table.freshness.clone().unwrap_or_default();
    let name = &s.table.name;
    let file = s.table.file.to_string_lossy().replace('\\', "/");
    let fail = |msg: String| Outcome::RuntimeError(format!("Runtime Error in source {name} ({file})\n{msg}"));
    let outcome = match query(s, &criteria) {
        None => fail(format!(
            "Could not compute freshness for source {name}: no 'loaded_at_field' provided and {} adapter does not support metadata-based freshness checks.",
            s.relation.dialect.name
        )),
        Some(sql) => match conn.query(&sql, None) {
            Err(e) => fail(e.to_string().trim_start_matches("database error: ").to_string()),
            Ok(t) => {
                let cell = |i: usize| t.rows.first().and_then(|r| r.get(i)).and_then(|v| v.as_i64());
                match (cell(0), cell(1)) {
                    (Some(max), Some(now)) => {
                        let age = (now - max) as f64 / 1e6;
                        Outcome::Checked {
                            max_loaded_at: utc(max),
                            snapshotted_at: utc(now),
                            age,
                            status: grade(age, &criteria),
                        }
                    }
                    _ => fail(format!(
                        "Could not compute freshness for source {name}: the latest load time is NULL (no rows{})",
                        if criteria.filter.is_some() { " pass the filter" } else { "" }
                    )),
                }
            }
        },
    };
    FreshnessResult {
        unique_id: s.unique_id.clone(),
        outcome,
        criteria,
        timing: (start, Utc::now()),
        thread_id: thread_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_graded_before_warn_and_limits_are_exclusive() {
        let f = Freshness { warn_after: Some((1, "hour".into())), error_after: Some((1, "day".into())), filter: None };
        assert_eq!(grade(3600.0, &f), "pass");
        assert_eq!(grade(3601.0, &f), "warn");
        assert_eq!(grade(86401.0, &f), "error");
        let only_error = Freshness { error_after: Some((30, "minute".into())), ..Default::default() };
        assert_eq!(grade(1801.0, &only_error), "error");
        assert_eq!(grade(1000.0, &only_error), "pass");
    }
}
