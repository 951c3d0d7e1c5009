//! `strata source freshness`: load -> select sources -> on-run-start -> check each source's
//! freshness -> print and write sources.json -> on-run-end.

use super::context::{compile_globals, connect, on_run_start, selected, Loaded};
use crate::compile::Compiler;
use crate::output::Printer;
use crate::settings::Settings;
use std::path::Path;

/// `source freshness`: each selected source table that has a threshold, checked in unique-id
/// order between the project's on-run-start and on-run-end hooks; sources.json written; exit 1
/// when one is stale past `error_after` or cannot be checked.
pub(super) fn source_freshness(settings: &Settings, l: &Loaded, printer: &Printer, output: Option<&Path>) -> i32 {
    let ids = match selected(settings, l, &l.state, printer) {
        Ok(ids) => ids,
        Err(code) => return code,
    };
    let ids: std::collections::BTreeSet<String> = ids.into_iter().collect();
    let sources: Vec<&crate::parse::SourceNode> = l
        .manifest
        .sources
        .values()
        .filter(|s| ids.contains(&s.unique_id))
        .filter(|s| s.table.freshness.as_ref().is_some_and(|f| f.has_threshold()))
        .collect();
    let (_db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let started = std::time::Instant::now();
    // Sources are checked one at a time, whatever --threads says.
    let target = l.project.target.as_ref().map(|t| t.name.as_str()).unwrap_or_default();
    printer.info(&format!("Concurrency: 1 threads (target='{target}')"));
    printer.info("");
    let compiler = Compiler::new(&l.engine, compile_globals(l), &l.manifest);
    let mut hooks = match on_run_start(&compiler, l, conn.clone(), printer) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let total = sources.len();
    let mut results = vec![];
    for (i, s) in sources.iter().enumerate() {
        let name = format!("{}.{}", s.table.source_name, s.table.name);
        printer.freshness_started(i + 1, total, &s.unique_id, &name);
        let r = crate::run::freshness::check(conn.as_ref(), s, "Thread-1");
        printer.freshness_finished(i + 1, total, &r, &name);
        results.push(r);
    }
    let mut code = 0;
    match crate::run::run_hooks(&compiler, &l.project.config.on_run_end, "on-run-end", conn.clone(), vec![]) {
        Ok(n) => hooks += n,
        Err(d) => {
            printer.diagnostics(&[d]);
            code = 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let json = crate::artifacts::sources_json(&results, &l.invocation, elapsed);
    let path = output.map(Path::to_path_buf).unwrap_or_else(|| l.target_dir.join("sources.json"));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if let Err(e) = crate::artifacts::write_json(dir, &name, &json) {
        printer.warn(&format!("cannot write {}: {e}", path.display()));
    }
    printer.freshness_summary(&results, hooks, elapsed, &l.manifest.sources);
    if results.iter().any(|r| matches!(r.status(), "error" | "runtime error")) {
        code = 1;
    }
    code
}
