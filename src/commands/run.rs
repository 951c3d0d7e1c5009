//! `strata run`, `seed`, `snapshot`, `build` and `test`: load -> select -> plan and check ->
//! connect -> on-run-start -> execute the plan (`crate::run`) -> on-run-end -> write
//! run_results.json and the build state -> print the summary.

use super::context::{check_compiled, compile_globals, connect, on_run_start, plan_for, Loaded};
use crate::compile::Compiler;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::run::RunOptions;
use crate::settings::{Cmd, Settings};
use crate::templating::Phase;
use rayon::prelude::*;
use serde_json::json;
use std::collections::HashMap;

pub(super) const BUILD_TYPES: &[ResourceType] =
    &[ResourceType::Model, ResourceType::Seed, ResourceType::Snapshot, ResourceType::Test, ResourceType::UnitTest];
pub(super) fn run(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    types: &[ResourceType],
    only: Option<&std::collections::BTreeSet<String>>,
    batches: crate::run::Batches,
) -> i32 {
    let plan = match plan_for(settings, l, types, printer) {
        Ok(p) => crate::run::runnable(&l.manifest, &p),
        Err(c) => return c,
    };
    let plan: Vec<String> = plan.into_iter().filter(|id| only.is_none_or(|o| o.contains(id))).collect();
    let globals = compile_globals(l);
    let compiler = Compiler::new(&l.engine, globals, &l.manifest).with_log(&l.compiled);
    let mut bad = crate::run::check_materializations(&compiler, &l.manifest, &plan);
    let duckdb = l.project.target.as_ref().and_then(|t| t.duckdb());
    let external_root = duckdb.map(|d| d.external_root.as_str()).unwrap_or(".");
    let planned: Vec<&crate::parse::Node> = plan.iter().filter_map(|id| l.manifest.nodes.get(id)).collect();
    bad.extend(crate::run::external::check(&planned, external_root, &l.project.root));
    if !bad.is_empty() {
        printer.diagnostics(&bad);
        return 2;
    }
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let target = l.project.target.as_ref().map(|t| (t.name.clone(), t.threads)).unwrap_or_default();
    let threads = settings.threads.unwrap_or(target.1).max(1);
    printer.info(&format!("Concurrency: {threads} threads (target='{}')", target.0));
    printer.info("");
    // Schemas first, on one connection, so workers never race to create the same schema.
    let mut schemas: Vec<(String, String)> = plan
        .iter()
        .filter(|id| !l.manifest.nodes[*id].is_test())
        .filter_map(|id| {
            let r = &l.manifest.nodes[id].relation;
            Some((r.database.clone()?, r.schema.clone()?))
        })
        .collect();
    schemas.sort();
    schemas.dedup();
    for (d, s) in &schemas {
        let sql = format!("create schema if not exists {}.{}", l.engine.dialect.quote(d), l.engine.dialect.quote(s));
        if let Err(e) = conn.execute(&sql) {
            printer.diagnostics(&[Diagnostic::error("E0802", format!("cannot create schema {d}.{s}: {e}"))]);
            return 2;
        }
    }
    // Compile every model and snapshot first: the static analysis checks the whole selection
    // before anything runs, and fingerprints say what changed. A model whose render ran no query
    // is not rendered again to run.
    let analyse = settings.static_analysis != crate::lineage::Mode::Off;
    let skipping = matches!(settings.command, Cmd::Run | Cmd::Build | Cmd::Seed | Cmd::Snapshot)
        && !settings.full_refresh
        && !settings.rebuild_all;
    let to_compile: Vec<&String> = plan
        .iter()
        .filter(|id| match l.manifest.nodes[*id].resource_type {
            ResourceType::Model => analyse || skipping,
            ResourceType::Snapshot => skipping,
            _ => false,
        })
        .collect();
    let compiled: HashMap<String, String> = to_compile
        .par_iter()
        .map_init(
            || db.connect().ok(),
            |c, id| {
                let node = &l.manifest.nodes[*id];
                let r = compiler.compile(node, Phase::Compile, c.clone(), false).ok()?;
                compiler.remember(id, &r);
                Some(((*id).clone(), r.sql))
            },
        )
        .flatten()
        .collect();
    if analyse && plan.iter().any(|id| l.manifest.nodes[id].resource_type == ResourceType::Model) {
        let models: HashMap<String, String> = compiled
            .iter()
            .filter(|(id, _)| l.manifest.nodes[*id].resource_type == ResourceType::Model)
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        let lineage = match check_compiled(settings, l, &models, conn.as_ref(), printer) {
            Ok(x) => x,
            Err(code) => return code,
        };
        let bad = crate::run::check_unique_keys(&l.manifest, &plan, &lineage);
        if !bad.is_empty() {
            printer.diagnostics(&bad);
            return 2;
        }
    }
    // Only materializations look at what exists; a `test` run builds nothing.
    let catalog = |printer: &Printer| {
        let read = if matches!(settings.command, Cmd::Test) { Ok(Default::default()) } else { conn.relations() };
        read.map_err(|e| {
            printer.diagnostics(&[Diagnostic::error("E0803", format!("cannot read the catalog: {e}"))]);
            2
        })
    };
    let existing = match catalog(printer) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut recorded = crate::state::BuildState::read(&l.target_dir);
    let event_time = (
        settings.event_time_start.as_deref().and_then(crate::run::microbatch::parse_time),
        settings.event_time_end.as_deref().and_then(crate::run::microbatch::parse_time),
    );
    // Sources' data markers and every node's fingerprint, and what is left unchanged. When
    // on-run-start hooks may (re)create the sources, the contents are fingerprinted after them.
    let start_hooks = !l.project.config.on_run_start.is_empty();
    let fingerprint = |content: bool, existing: &HashMap<(String, String, String), String>| {
        let marks = crate::state::source_marks(&l.manifest, conn.as_ref(), &l.invocation.id, content && skipping);
        let fingerprints = crate::state::fingerprints(
            &l.manifest,
            l.dag.order(),
            &plan,
            &compiled,
            &recorded,
            &marks,
            &l.invocation.id,
        );
        let mut unchanged = if skipping {
            crate::state::unchanged(&l.manifest, &plan, &fingerprints, &recorded, existing)
        } else {
            Default::default()
        };
        // A microbatch model asked for a window, or for batches to retry, builds them.
        if event_time != (None, None) || !batches.is_empty() {
            unchanged.retain(|id| !l.manifest.nodes.get(id).is_some_and(crate::parse::Node::is_microbatch));
        }
        (fingerprints, unchanged)
    };
    let (mut fingerprints, mut unchanged) = fingerprint(!start_hooks, &existing);
    // Column checks of the selected tests. The columns of a relation that is left unchanged (and
    // of every relation in `test`, which builds nothing) are read from the database's catalog
    // rather than inferred from the model's SQL.
    if plan.iter().any(|id| l.manifest.nodes[id].is_test()) {
        let trusted = |id: &str| matches!(settings.command, Cmd::Test) || unchanged.contains(id);
        let problems = crate::testing::preflight(&compiler, db.as_ref(), &plan, &l.project.root, &trusted);
        if !problems.is_empty() {
            let mut d = Diagnostics::default();
            d.extend(problems);
            d.sort();
            printer.diagnostics(&d.items);
            return 2;
        }
    }
    let mut hooks = match on_run_start(&compiler, l, conn.clone(), printer) {
        Ok(n) => n,
        Err(code) => return code,
    };
    // on-run-start hooks may create or drop relations.
    let existing = if hooks > 0 {
        match catalog(printer) {
            Ok(e) => e,
            Err(code) => return code,
        }
    } else {
        existing
    };
    if start_hooks {
        (fingerprints, unchanged) = fingerprint(true, &existing);
    }
    let opts = RunOptions {
        threads,
        fail_fast: settings.fail_fast,
        full_refresh: settings.full_refresh,
        target_dir: l.target_dir.clone(),
        existing,
        project_root: l.project.root.clone(),
        unchanged,
        event_time,
        batches,
        external_root: external_root.to_string(),
        python: crate::run::python::interpreter(std::env::var("STRATA_PYTHON").ok()),
        module_paths: duckdb.map(|d| d.module_paths.clone()).unwrap_or_default(),
        selected: plan.iter().cloned().collect(),
        fk_targets: if matches!(settings.command, Cmd::Test) {
            Default::default()
        } else {
            crate::run::foreign_key_targets(conn.as_ref())
        },
        cancel: settings.cancel.clone(),
    };
    // From here Ctrl-C winds the run down: nothing new starts, running queries stop and roll
    // back, and what finished is written (exit 130); a second Ctrl-C exits at once.
    settings.cancel.wind_down_on_interrupt();
    let audit = matches!(settings.command, Cmd::Build) && !settings.no_audit;
    let jobs = crate::run::plan_jobs(&l.manifest, &l.dag, &plan, audit);
    let results = crate::run::execute(&compiler, &l.manifest, &jobs, db.as_ref(), &opts, printer);
    let cancelled = settings.cancel.is_cancelled();
    let mut code = if cancelled {
        130
    } else if results.failed() {
        1
    } else {
        0
    };
    // An interrupted run does not run on-run-end hooks (as in dbt).
    let end_hooks: &[String] = if cancelled { &[] } else { &l.project.config.on_run_end };
    match crate::run::run_hooks(
        &compiler,
        end_hooks,
        "on-run-end",
        conn.clone(),
        crate::run::on_run_end_context(&l.manifest, &results),
    ) {
        Ok(n) => hooks += n,
        Err(d) => {
            printer.diagnostics(&[d]);
            code = 1;
        }
    }
    let args = json!({
        "which": settings.command.name(), "select": settings.select, "exclude": settings.exclude,
        "full_refresh": settings.full_refresh, "threads": threads, "vars": settings.vars,
    });
    recorded.record(&results, &fingerprints);
    if let Err(e) = recorded.write(&l.target_dir) {
        printer.warn(&format!("cannot write the build state: {e}"));
    }
    let rr = crate::artifacts::run_results_json(&results, &l.invocation, args);
    if let Err(e) = crate::artifacts::write_json(&l.target_dir, "run_results.json", &rr) {
        printer.warn(&format!("cannot write run_results.json: {e}"));
    }
    let ran = results.results.iter().filter_map(|r| l.manifest.nodes.get(&r.unique_id));
    printer.summary(&results, &crate::output::what_ran(ran, hooks), &l.manifest.nodes);
    if cancelled {
        printer.cancelled(&results, &l.manifest.nodes);
    }
    code
}
