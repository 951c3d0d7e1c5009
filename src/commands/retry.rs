//! `strata retry`: the previous command again, on the nodes run_results.json says errored,
//! failed or were skipped (and a microbatch model's failed batches).

use super::context::Loaded;
use super::run::{run, BUILD_TYPES};
use crate::diagnostics::Diagnostic;
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::{Cmd, Settings};

/// `retry`: the previous command again, on the nodes that errored, failed or were skipped.
pub(super) fn retry(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    let path = l.target_dir.join("run_results.json");
    let previous: serde_json::Value =
        match std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            Some(v) => v,
            None => {
                printer.diagnostics(&[Diagnostic::error(
                    "E0901",
                    format!("no previous run to retry: cannot read {}", path.display()),
                )
                .with_help("run `strata build` (or run, seed, test) first")]);
                return 2;
            }
        };
    let which = previous.pointer("/args/which").and_then(|v| v.as_str()).unwrap_or("build").to_string();
    let todo: std::collections::BTreeSet<String> = previous
        .get("results")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .filter(|r| {
            matches!(
                r.get("status").and_then(|s| s.as_str()),
                Some("error" | "fail" | "skipped" | "runtime error" | "partial success")
            )
        })
        .filter_map(|r| r.get("unique_id").and_then(|u| u.as_str()).map(str::to_string))
        .collect();
    if todo.is_empty() {
        printer.info("Nothing to retry: the last run had no errors, failures or skipped nodes.");
        return 0;
    }
    // A node built again is tested again, with its tests as they are now (a test whose
    // definition changed has a new unique id).
    let mut todo = todo;
    let tests: Vec<String> = l
        .manifest
        .nodes
        .values()
        .filter(|n| n.is_test() && n.depends_on.iter().any(|d| todo.contains(d)))
        .map(|n| n.unique_id.clone())
        .collect();
    todo.extend(tests);
    let mut s = settings.clone();
    s.command = match which.as_str() {
        "run" => Cmd::Run,
        "seed" => Cmd::Seed,
        "test" => Cmd::Test,
        _ => Cmd::Build,
    };
    s.select = vec![];
    s.exclude = vec![];
    s.full_refresh =
        settings.full_refresh || previous.pointer("/args/full_refresh").and_then(|v| v.as_bool()).unwrap_or(false);
    let types: &[ResourceType] = match s.command {
        Cmd::Run => &[ResourceType::Model],
        Cmd::Seed => &[ResourceType::Seed],
        Cmd::Test => &[ResourceType::Test, ResourceType::UnitTest],
        _ => BUILD_TYPES,
    };
    printer.info(&format!(
        "Retrying {} node{} of the last `{which}`",
        todo.len(),
        if todo.len() == 1 { "" } else { "s" }
    ));
    // A microbatch model runs again only the batches that failed.
    let mut batches = crate::run::Batches::new();
    for r in previous.get("results").and_then(|r| r.as_array()).into_iter().flatten() {
        let (Some(id), Some(failed)) = (
            r.get("unique_id").and_then(|u| u.as_str()),
            r.pointer("/batch_results/failed").and_then(|f| f.as_array()).filter(|f| !f.is_empty()),
        ) else {
            continue;
        };
        let when = |v: &serde_json::Value| v.as_str().and_then(crate::run::microbatch::parse_time);
        let list: Vec<_> = failed.iter().filter_map(|b| Some((when(b.get(0)?)?, when(b.get(1)?)?))).collect();
        if list.len() == failed.len() {
            batches.insert(id.to_string(), list);
        }
    }
    run(&s, l, printer, types, Some(&todo), batches)
}
