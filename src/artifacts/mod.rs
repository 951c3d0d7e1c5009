//! Files under `target/` that other tools read: `run_results.json` (dbt's run-results v6),
//! `manifest.json` (v12) and `catalog.json` (v1).
//! In: [`RunResults`], the manifest, the database catalog. Out: JSON files.

pub mod catalog;
pub mod manifest;

use crate::run::RunResults;
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

/// run_results.json as a JSON value; results sorted by unique id for stable output.
pub fn run_results_json(results: &RunResults, inv: &Invocation, args: Json) -> Json {
    let mut rs: Vec<&crate::run::NodeResult> = results.results.iter().collect();
    rs.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let items: Vec<Json> = rs
        .iter()
        .map(|r| {
            let timing: Vec<Json> = match &r.timing {
                Some((s, e)) => vec![json!({
                    "name": "execute",
                    "started_at": s.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "completed_at": e.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                })],
                None => vec![],
            };
            json!({
                "status": r.status.as_str(),
                "timing": timing,
                "thread_id": r.thread_id,
                "execution_time": r.execution_time,
                "adapter_response": r.adapter_response,
                "message": r.message,
                "failures": r.failures,
                "unique_id": r.unique_id,
                "compiled": r.compiled_code.is_some(),
                "compiled_code": r.compiled_code,
                "relation_name": r.relation_name,
                "batch_results": r.batch_results,
            })
        })
        .collect();
    json!({
        "metadata": metadata(RUN_RESULTS_SCHEMA, inv),
        "results": items,
        "elapsed_time": results.elapsed,
        "args": args,
    })
}

/// Write `value` as pretty JSON to `target_dir/name`.
pub fn write_json(target_dir: &Path, name: &str, value: &Json) -> std::io::Result<()> {
    std::fs::create_dir_all(target_dir)?;
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(target_dir.join(name), text)
}
