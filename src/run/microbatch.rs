//! The microbatch incremental strategy: a model with an `event_time` is built one time window
//! (`batch_size`: hour, day, month or year) at a time. Each batch reads its parents that declare
//! an `event_time` filtered to the window, replaces the window's rows in the model's table and
//! commits on its own; a failed batch leaves the others committed (`partial success`) and
//! `strata retry` runs only the failed ones.
//! In: the node, its config and the run's event-time window. Out: one [`NodeResult`] with
//! `batch_results`.

use super::{error_result, Env, NodeResult, Status};
use crate::compile::inject_ctes;
use crate::parse::Node;
use crate::templating::relation::Relation;
use crate::templating::{Overrides, Phase};
use chrono::NaiveDateTime;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

pub use crate::project::microbatch::{parse_time, BatchSize};

/// The batches from `start` to `end`: `start` goes down to its batch's beginning, `end` up to
/// the end of the batch it falls in (an `end` on a boundary is exclusive).
pub fn batches(size: BatchSize, start: NaiveDateTime, end: NaiveDateTime) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    let mut out = vec![];
    let mut b = size.truncate(start);
    while b < end {
        let next = size.offset(b, 1);
        out.push((b, next));
        b = next;
    }
    out
}

/// The window a run builds: `--event-time-start`/`--event-time-end` when given; otherwise from
/// `begin` on a first build (or a full refresh), else `lookback` batches before the current one;
/// up to the end of the current batch.
pub fn window(
    size: BatchSize,
    begin: Option<NaiveDateTime>,
    lookback: i64,
    first: bool,
    now: NaiveDateTime,
    flags: (Option<NaiveDateTime>, Option<NaiveDateTime>),
) -> Result<(NaiveDateTime, NaiveDateTime), String> {
    let end = flags.1.unwrap_or_else(|| size.offset(size.truncate(now), 1));
    let start = match (flags.0, first, begin) {
        (Some(s), _, _) => s,
        (None, true, Some(b)) => b,
        (None, true, None) => return Err("needs `begin` (where its first build starts)".into()),
        (None, false, _) => size.offset(size.truncate(now), -lookback),
    };
    if start >= end {
        return Err(format!("the event-time window is empty: start {start} is not before end {end}"));
    }
    Ok((start, end))
}

fn ts(t: NaiveDateTime) -> String {
    format!("timestamp '{}'", t.format("%Y-%m-%d %H:%M:%S"))
}

/// Build a microbatch model.
pub(super) fn run(env: &Env, node: &Node, existing: Option<&str>, full_refresh: bool) -> NodeResult {
    let t0 = Instant::now();
    let started = chrono::Utc::now();
    let conn = env.conn.clone();
    let fail = |msg: String| {
        let mut r = error_result(node, env.thread_id, msg, t0.elapsed().as_secs_f64(), None);
        r.timing = Some((started, chrono::Utc::now()));
        r
    };
    let what = format!("microbatch model {} ({})", node.name, node.original_file_path);
    let Some(event_time) = node.config.get_str("event_time") else {
        return fail(format!("{what} needs `event_time`: the column that places each row in a batch"));
    };
    let Some(size) = node.config.get_str("batch_size").as_deref().and_then(BatchSize::parse) else {
        return fail(format!("{what} needs `batch_size`: hour, day, month or year"));
    };
    let begin = match node.config.get_str("begin") {
        Some(b) => match parse_time(&b) {
            Some(t) => Some(t),
            None => return fail(format!("{what}: `begin` '{b}' is not a date or timestamp")),
        },
        None => None,
    };
    let lookback = node.config.get("lookback").and_then(|v| v.as_i64()).unwrap_or(1).max(0);
    let table_exists = existing == Some("table");
    let first = !table_exists || full_refresh;
    let todo = match env.opts.batches.get(&node.unique_id) {
        Some(list) => list.clone(),
        None => {
            let now = chrono::Utc::now().naive_utc();
            match window(size, begin, lookback, first, now, env.opts.event_time) {
                Ok((s, e)) => batches(size, s, e),
                Err(msg) => return fail(format!("{what} {msg}")),
            }
        }
    };
    // Parents that declare an event_time are read through a CTE filtered to the batch.
    let compiler = env.compiler;
    let m = compiler.manifest();
    let filtered: Vec<(String, Relation, String)> = node
        .depends_on
        .iter()
        .filter_map(|id| {
            let (rel, et) = match m.nodes.get(id) {
                Some(n) => (n.relation.clone(), n.config.get_str("event_time")?),
                None => {
                    let s = m.sources.get(id)?;
                    (s.relation.clone(), s.table.config.get_str("event_time")?)
                }
            };
            Some((id.clone(), rel, et))
        })
        .collect();
    let rel = node.relation.render();
    let (mut ok, mut failed, mut messages, mut last_sql) = (vec![], vec![], vec![], None);
    let mut created = !first;
    for (i, (b0, b1)) in todo.iter().enumerate() {
        let mut ctes = vec![];
        let mut relations = std::collections::HashMap::new();
        for (k, (id, parent, et)) in filtered.iter().enumerate() {
            let name = format!("__strata_batch_{k}");
            ctes.push((
                name.clone(),
                format!(
                    "select * from {} where {} >= {} and {} < {}",
                    parent.render(),
                    node.relation.dialect.quote(et),
                    ts(*b0),
                    node.relation.dialect.quote(et),
                    ts(*b1)
                ),
            ));
            relations.insert(
                id.clone(),
                Relation {
                    database: None,
                    schema: None,
                    identifier: Some(name),
                    kind: None,
                    external: None,
                    dialect: node.relation.dialect,
                },
            );
        }
        let mut ctx = compiler.node_context(node, created);
        ctx.overrides = Some(Arc::new(Overrides { relations, ..Default::default() }));
        ctx.model = ctx.model.with(
            "batch",
            json!({"id": size.id(*b0), "event_time_start": b0.and_utc().to_rfc3339(), "event_time_end": b1.and_utc().to_rfc3339()}),
        );
        let sql = match compiler.compile_in(node, ctx, Phase::Run, Some(conn.clone())) {
            Ok(c) => {
                let sql = inject_ctes(&c.sql, &ctes);
                compiler
                    .record(&node.unique_id, &crate::compile::CompiledNode { sql: sql.clone(), ..Default::default() });
                sql
            }
            Err(d) => {
                failed.push((*b0, *b1));
                messages.push(format!("batch {}: {}", size.id(*b0), d.message));
                continue;
            }
        };
        let body = if !created {
            let drop_view = if existing == Some("view") && i == 0 {
                format!("drop view if exists {rel};\n")
            } else {
                String::new()
            };
            format!("{drop_view}create or replace table {rel} as (\n{sql}\n)")
        } else {
            format!(
                "delete from {rel} where {et} >= {} and {et} < {};\ninsert into {rel} by name (\n{sql}\n)",
                ts(*b0),
                ts(*b1),
                et = node.relation.dialect.quote(&event_time)
            )
        };
        let stmt = node.relation.dialect.transaction(&body);
        match conn.execute(&stmt) {
            Ok(_) => {
                created = true;
                ok.push((*b0, *b1));
            }
            Err(e) => {
                conn.rollback();
                failed.push((*b0, *b1));
                messages.push(format!("batch {}: {e}", size.id(*b0)));
            }
        }
        last_sql = Some(stmt);
    }
    if let Some(sql) = &last_sql {
        env.files.write([("run", compiler.manifest().target_rel_path(node), sql.clone())]);
        compiler.record_built(&node.unique_id);
    }
    let fmt = |v: &[(NaiveDateTime, NaiveDateTime)]| -> Vec<[String; 2]> {
        v.iter().map(|(a, b)| [a.and_utc().to_rfc3339(), b.and_utc().to_rfc3339()]).collect()
    };
    let status = match (ok.is_empty(), failed.is_empty()) {
        (_, true) => Status::Success,
        (true, false) => Status::Error,
        (false, false) => Status::PartialSuccess,
    };
    let mut message = format!("{} of {} batches", ok.len(), todo.len());
    for m in &messages {
        message.push_str(&format!("\n  {m}"));
    }
    NodeResult {
        unique_id: node.unique_id.clone(),
        status,
        message,
        execution_time: t0.elapsed().as_secs_f64(),
        adapter_response: json!({"_message": format!("OK {} batches", ok.len()), "code": "BATCHES", "rows_affected": ok.len()}),
        thread_id: env.thread_id.to_string(),
        timing: Some((started, chrono::Utc::now())),
        compiled_code: last_sql,
        relation_name: Some(rel),
        failures: None,
        batch_results: Some(json!({"successful": fmt(&ok), "failed": fmt(&failed)})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        parse_time(s).unwrap()
    }

    #[test]
    fn batches_cover_the_window_on_boundaries() {
        let b = batches(BatchSize::Day, t("2024-01-01 10:00"), t("2024-01-03"));
        assert_eq!(b, [(t("2024-01-01"), t("2024-01-02")), (t("2024-01-02"), t("2024-01-03"))]);
        let m = batches(BatchSize::Month, t("2023-11-15"), t("2024-02-01"));
        assert_eq!(
            m.iter().map(|(s, _)| BatchSize::Month.id(*s)).collect::<Vec<_>>(),
            ["20231101", "20231201", "20240101"]
        );
        assert_eq!(batches(BatchSize::Hour, t("2024-01-01 10:30"), t("2024-01-01 12:00")).len(), 2);
        assert_eq!(BatchSize::Year.offset(t("2024-01-01"), -2), t("2022-01-01"));
    }

    #[test]
    fn window_is_begin_first_then_lookback() {
        let now = t("2024-03-10 15:00");
        let first = window(BatchSize::Day, Some(t("2024-03-01")), 1, true, now, (None, None)).unwrap();
        assert_eq!(first, (t("2024-03-01"), t("2024-03-11")));
        let later = window(BatchSize::Day, Some(t("2024-03-01")), 2, false, now, (None, None)).unwrap();
        assert_eq!(later, (t("2024-03-08"), t("2024-03-11")));
        let flags =
            window(BatchSize::Day, None, 1, false, now, (Some(t("2024-02-01")), Some(t("2024-02-03")))).unwrap();
        assert_eq!(flags, (t("2024-02-01"), t("2024-02-03")));
        assert!(window(BatchSize::Day, None, 1, true, now, (None, None)).unwrap_err().contains("begin"));
        assert!(window(BatchSize::Day, None, 1, true, now, (Some(t("2024-02-03")), Some(t("2024-02-01")))).is_err());
    }
}
