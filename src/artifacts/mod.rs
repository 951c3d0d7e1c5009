//! Files under `target/` that other tools read: `run_results.json` (dbt's run-results v6),
//! `manifest.json` (v12) and `catalog.json` (v1).
//! In: [`RunResults`], the manifest, the database catalog. Out: JSON files.

pub mod catalog;
pub mod manifest;

use crate::results::RunResults;
use crate::Invocation;
use serde_json::{json, Value as Json};
use std::path::Path;

/// dbt's schema URL for run results v6.
pub const RUN_RESULTS_SCHEMA: &str = "https://schemas.getdbt.com/dbt/run-results/v6.json";

pub(crate) fn metadata(schema: &str, inv: &Invocation) -> Json {
    json!({
        "dbt_schema_version": schema,
        "dbt_version": concat!("strata-", env!("CARGO_PKG_VERSION")),
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "invocation_id": inv.id,
        "invocation_started_at": inv.started_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "env": {},
    })
}

/// run_results.json: the results sorted by unique id for stable output, borrowed from
/// [`RunResults`] and serialized straight to the file (a JSON value tree of a 1,000-model build's
/// 2,300 results, each with its compiled SQL copied in, cost twice as much as writing it).
pub fn run_results_json<'a>(results: &'a RunResults, inv: &Invocation, args: Json) -> RunResultsOut<'a> {
    let ts = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut rs: Vec<&crate::results::NodeResult> = results.results.iter().collect();
    rs.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let results_out = rs
        .into_iter()
        .map(|r| ResultOut {
            status: r.status.as_str(),
            timing: r
                .timing
                .iter()
                .map(|(s, e)| TimingOut { name: "execute", started_at: ts(s), completed_at: ts(e) })
                .collect(),
            thread_id: &r.thread_id,
            execution_time: r.execution_time,
            adapter_response: &r.adapter_response,
            message: &r.message,
            failures: r.failures,
            unique_id: &r.unique_id,
            compiled: r.compiled_code.is_some(),
            compiled_code: r.compiled_code.as_deref(),
            relation_name: r.relation_name.as_deref(),
            batch_results: r.batch_results.as_ref(),
        })
        .collect();
    RunResultsOut {
        metadata: metadata(RUN_RESULTS_SCHEMA, inv),
        results: results_out,
        elapsed_time: results.elapsed,
        args,
    }
}

/// run_results.json (dbt's run-results v6), its fields in dbt's order.
#[derive(serde::Serialize)]
pub struct RunResultsOut<'a> {
    metadata: Json,
    results: Vec<ResultOut<'a>>,
    elapsed_time: f64,
    args: Json,
}

#[derive(serde::Serialize)]
struct ResultOut<'a> {
    status: &'a str,
    timing: Vec<TimingOut>,
    thread_id: &'a str,
    execution_time: f64,
    adapter_response: &'a Json,
    message: &'a str,
    failures: Option<i64>,
    unique_id: &'a str,
    compiled: bool,
    compiled_code: Option<&'a str>,
    relation_name: Option<&'a str>,
    batch_results: Option<&'a Json>,
}

#[derive(serde::Serialize)]
struct TimingOut {
    name: &'static str,
    started_at: String,
    completed_at: String,
}

/// dbt's schema URL for sources v3.
pub const SOURCES_SCHEMA: &str = "https://schemas.getdbt.com/dbt/sources/v3.json";

/// sources.json (dbt's sources v3) for `source freshness`: each checked source's latest load,
/// age and grade, sorted by unique id. As in dbt, a check that could not run is not listed.
pub fn sources_json(results: &[crate::run::freshness::FreshnessResult], inv: &Invocation, elapsed: f64) -> Json {
    use crate::run::freshness::Outcome;
    let ts = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut rs: Vec<&crate::run::freshness::FreshnessResult> = results.iter().collect();
    rs.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let items: Vec<Json> = rs
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Checked { max_loaded_at, snapshotted_at, age, status } => Some(json!({
                "unique_id": r.unique_id,
                "max_loaded_at": max_loaded_at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
                "snapshotted_at": snapshotted_at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
                "max_loaded_at_time_ago_in_s": age,
                "status": status,
                "criteria": r.criteria.to_json(),
                "adapter_response": {"_message": "OK"},
                "timing": [
                    {"name": "compile", "started_at": ts(&r.timing.0), "completed_at": ts(&r.timing.0)},
                    {"name": "execute", "started_at": ts(&r.timing.0), "completed_at": ts(&r.timing.1)},
                ],
                "thread_id": r.thread_id,
                "execution_time": r.execution_time(),
            })),
            Outcome::RuntimeError(_) => None,
        })
        .collect();
    json!({"metadata": metadata(SOURCES_SCHEMA, inv), "results": items, "elapsed_time": elapsed})
}

/// Write `value` as pretty JSON to `target_dir/name`.
pub fn write_json(target_dir: &Path, name: &str, value: &impl serde::Serialize) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(target_dir)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(target_dir.join(name))?);
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::other)?;
    out.flush()
}
