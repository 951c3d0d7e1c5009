//! `strata run`, `seed`, `snapshot`, `build` and `test`: load -> select -> plan and check ->
//! connect -> on-run-start -> execute the plan (`crate::run`) -> on-run-end -> write
//! run_results.json and the build state -> print the summary.

use super::context::{check_compiled, compile_globals, connect, on_run_start, plan_for, Loaded};
use crate::adapter::Connection;
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
use std::sync::Arc;

pub(super) const BUILD_TYPES: &[ResourceType] =
    &[ResourceType::Model, ResourceType::Seed, ResourceType::Snapshot, ResourceType::Test, ResourceType::UnitTest];
/// `run`, `seed`, `snapshot`, `build` or `test` of nodes of `types` (only those in `only`, for
/// `retry`; microbatch models only the given `batches`, when there are).
pub(super) fn run(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    types: &[ResourceType],
    only: Option<&std::collections::BTreeSet<String>>,
    batches: crate::run::Batches,
) -> i32 {
    let compiler = Compiler::new(&l.engine, compile_globals(l), &l.manifest).with_log(&l.compiled);
    match steps(settings, l, printer, &compiler, types, only, batches) {
        Ok(code) | Err(code) => code,
    }
}

/// Select -> check -> connect -> compile and analyse -> what changed -> on-run-start ->
/// execute -> on-run-end -> report. An `Err` is the exit code of a step that stopped the run.
fn steps(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    compiler: &Compiler,
    types: &[ResourceType],
    only: Option<&std::collections::BTreeSet<String>>,
    batches: crate::run::Batches,
) -> Result<i32, i32> {
    let plan = select(settings, l, printer, compiler, types, only)?;
    let (db, conn) = printer.timed("connected", || connect(l, printer))?;
    let r = RunCommand { settings, l, printer, compiler, plan: &plan, db: db.as_ref(), conn: &conn };
    let threads = r.threads();
    printer.timed("schemas created", || r.create_schemas())?;
    let (compiled, lineage) = printer.timed("compiled and analysed", || r.compile_and_analyse())?;
    let mut recorded = crate::state::BuildState::read(&l.target_dir);
    let audit = matches!(settings.command, Cmd::Build) && !settings.no_audit;
    // The jobs depend only on the plan: they are made while the run prepares.
    let (prepared, jobs) = rayon::join(
        || r.prepare(threads, &compiled, &lineage, &recorded, batches),
        || crate::run::plan_jobs(&l.manifest, &l.dag, &plan, audit),
    );
    let (opts, fingerprints, hooks) = prepared?;
    // From here Ctrl-C winds the run down: nothing new starts, running queries stop and roll
    // back, and what finished is written (exit 130); a second Ctrl-C exits at once.
    settings.cancel.wind_down_on_interrupt();
    let results = crate::run::execute(compiler, &l.manifest, &jobs, db.as_ref(), &opts, printer);
    let ending = r.on_run_end(&results, hooks);
    // Nothing more is compiled or run: manifest.json is written, and the database closed (DuckDB
    // checkpoints its file then), while the results are written.
    l.compiled.finish();
    drop((r, opts));
    Ok(std::thread::scope(|s| {
        s.spawn(move || drop((conn, db)));
        report(settings, l, printer, &results, &mut recorded, &fingerprints, threads, ending)
    }))
}

/// The plan, checked: the nodes to run, their materializations known and external locations
/// valid.
fn select(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    compiler: &Compiler,
    types: &[ResourceType],
    only: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<String>, i32> {
    let plan = crate::run::runnable(&l.manifest, &plan_for(settings, l, types, printer)?);
    let plan: Vec<String> = plan.into_iter().filter(|id| only.is_none_or(|o| o.contains(id))).collect();
    let mut bad = crate::run::check_materializations(compiler, &l.manifest, &plan);
    let planned: Vec<&crate::parse::Node> =
        plan.iter().filter_map(|id| l.manifest.nodes.get(id).map(|n| &**n)).collect();
    bad.extend(crate::run::external::check(&planned, external_root(l), &l.project.root));
    if !bad.is_empty() {
        printer.diagnostics(&bad);
        return Err(2);
    }
    Ok(plan)
}

/// The target's DuckDB settings, which external models and python models read.
fn duckdb(l: &Loaded) -> Option<&crate::adapter::duckdb::Settings> {
    l.project.target.as_ref().and_then(|t| t.duckdb())
}

/// The DuckDB target's `external_root` (`.` by default).
fn external_root(l: &Loaded) -> &str {
    duckdb(l).map(|d| d.external_root.as_str()).unwrap_or(".")
}

/// One run, connected: what its steps share.
struct RunCommand<'a> {
    settings: &'a Settings,
    l: &'a Loaded,
    printer: &'a Printer,
    compiler: &'a Compiler<'a>,
    plan: &'a [String],
    db: &'a dyn crate::adapter::Adapter,
    conn: &'a Arc<dyn Connection>,
}

impl RunCommand<'_> {
    /// The worker count, announced.
    fn threads(&self) -> usize {
        let target = self.l.project.target.as_ref().map(|t| (t.name.clone(), t.threads)).unwrap_or_default();
        let threads = self.settings.threads.unwrap_or(target.1).max(1);
        self.printer.info(&format!("Concurrency: {threads} threads (target='{}')", target.0));
        self.printer.info("");
        threads
    }

    /// Schemas first, on one connection, so workers never race to create the same schema.
    fn create_schemas(&self) -> Result<(), i32> {
        let (l, dialect) = (self.l, self.l.engine.dialect);
        let mut schemas: Vec<(String, String)> = self
            .plan
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
            let sql = format!("create schema if not exists {}", dialect.schema_name(d, s));
            if let Err(e) = self.conn.execute(&sql) {
                self.printer.diagnostics(&[Diagnostic::error("E0802", format!("cannot create schema {d}.{s}: {e}"))]);
                return Err(2);
            }
        }
        Ok(())
    }

    /// Whether unchanged nodes are left as they are (not with --full-refresh or --rebuild-all).
    fn skipping(&self) -> bool {
        let s = self.settings;
        matches!(s.command, Cmd::Run | Cmd::Build | Cmd::Seed | Cmd::Snapshot) && !s.full_refresh && !s.rebuild_all
    }

    /// Compile every model and snapshot first: the static analysis checks the whole selection
    /// before anything runs, and fingerprints say what changed. A model whose render ran no
    /// query is not rendered again to run.
    fn compile_and_analyse(&self) -> Result<(HashMap<String, String>, crate::lineage::Lineage), i32> {
        let (l, plan) = (self.l, self.plan);
        let analyse = self.settings.static_analysis != crate::lineage::Mode::Off;
        let skipping = self.skipping();
        let to_compile: Vec<&String> = plan
            .iter()
            .filter(|id| match l.manifest.nodes[*id].resource_type {
                ResourceType::Model => analyse || skipping,
                ResourceType::Snapshot => skipping,
                _ => false,
            })
            .collect();
        let compiler = self.compiler;
        let compiled: HashMap<String, String> = to_compile
            .par_iter()
            .map_init(
                || self.db.connect().ok(),
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
            let lineage = check_compiled(self.settings, l, &models, self.conn.as_ref(), self.printer)?;
            let bad = crate::run::check_unique_keys(&l.manifest, plan, &lineage);
            if !bad.is_empty() {
                self.printer.diagnostics(&bad);
                return Err(2);
            }
            return Ok((compiled, lineage));
        }
        Ok((compiled, Default::default()))
    }

    /// What exists in the database of the project's relations (nothing for `test`, which
    /// builds nothing).
    fn catalog(&self) -> Result<HashMap<(String, String, String), String>, i32> {
        let schemas = self.l.manifest.schemas();
        let read = if matches!(self.settings.command, Cmd::Test) {
            Ok(Default::default())
        } else {
            self.printer.timed("catalog read", || self.conn.relations_in(&schemas))
        };
        read.map_err(|e| {
            self.printer.diagnostics(&[Diagnostic::error("E0803", format!("cannot read the catalog: {e}"))]);
            2
        })
    }

    /// Sources' data markers, every node's fingerprint, and what is left unchanged.
    fn fingerprint(
        &self,
        content: bool,
        compiled: &HashMap<String, String>,
        recorded: &crate::state::BuildState,
        existing: &HashMap<(String, String, String), String>,
        rebuild_microbatch: bool,
    ) -> (HashMap<String, String>, std::collections::HashSet<String>) {
        let (l, plan, skipping) = (self.l, self.plan, self.skipping());
        // `test` skips nothing, but records what its tests passed on: a source test it records
        // with its source's contents is left alone by the next build when they are the same.
        let content = content && (skipping || matches!(self.settings.command, Cmd::Test));
        let marks = self.printer.timed("sources fingerprinted", || {
            crate::state::source_marks(&l.manifest, self.conn.as_ref(), &l.invocation.id, content)
        });
        let fingerprints =
            crate::state::fingerprints(&l.manifest, l.dag.order(), plan, compiled, recorded, &marks, &l.invocation.id);
        let mut unchanged = if skipping {
            crate::state::unchanged(&l.manifest, plan, &fingerprints, recorded, existing)
        } else {
            Default::default()
        };
        // A microbatch model asked for a window, or for batches to retry, builds them.
        if rebuild_microbatch {
            unchanged.retain(|id| !l.manifest.nodes.get(id).is_some_and(|n| n.is_microbatch()));
        }
        (fingerprints, unchanged)
    }

    /// What changed, the selected tests' column checks, and on-run-start: the run's options,
    /// the fingerprints to record, and how many hooks ran.
    fn prepare(
        &self,
        threads: usize,
        compiled: &HashMap<String, String>,
        lineage: &crate::lineage::Lineage,
        recorded: &crate::state::BuildState,
        batches: crate::run::Batches,
    ) -> Result<(RunOptions, HashMap<String, String>, usize), i32> {
        let (settings, l, plan) = (self.settings, self.l, self.plan);
        let existing = self.catalog()?;
        let event_time = (
            settings.event_time_start.as_deref().and_then(crate::run::microbatch::parse_time),
            settings.event_time_end.as_deref().and_then(crate::run::microbatch::parse_time),
        );
        let rebuild_microbatch = event_time != (None, None) || !batches.is_empty();
        // When on-run-start hooks may (re)create the sources, the contents are fingerprinted
        // after them.
        let start_hooks = !l.project.config.on_run_start.is_empty();
        let (mut fingerprints, mut unchanged) =
            self.fingerprint(!start_hooks, compiled, recorded, &existing, rebuild_microbatch);
        // Column checks of the selected tests. The columns of a relation that is left unchanged
        // (and of every relation in `test`, which builds nothing) are read from the database's
        // catalog rather than inferred from the model's SQL.
        if plan.iter().any(|id| l.manifest.nodes[id].is_test()) {
            let trusted = |id: &str| matches!(settings.command, Cmd::Test) || unchanged.contains(id);
            let problems = self.printer.timed("tests' columns checked", || {
                crate::testing::preflight(self.compiler, self.db, plan, &l.project.root, &trusted, lineage)
            });
            if !problems.is_empty() {
                let mut d = Diagnostics::default();
                d.extend(problems);
                d.sort();
                self.printer.diagnostics(&d.items);
                return Err(2);
            }
        }
        let hooks =
            self.printer.timed("on-run-start", || on_run_start(self.compiler, l, self.conn.clone(), self.printer))?;
        // on-run-start hooks may create or drop relations.
        let existing = if hooks > 0 { self.catalog()? } else { existing };
        if start_hooks {
            (fingerprints, unchanged) = self.fingerprint(true, compiled, recorded, &existing, rebuild_microbatch);
        }
        // Foreign keys matter only to a table the run replaces (`run::node`): a fresh build
        // replaces none, and does not read them.
        let replaces_a_table = !matches!(settings.command, Cmd::Test)
            && plan
                .iter()
                .any(|id| existing.get(&l.manifest.nodes[id].relation.catalog_key()).is_some_and(|k| k == "table"));
        let fk_targets = if replaces_a_table {
            self.printer.timed("foreign keys read", || crate::run::foreign_key_targets(self.conn.as_ref()))
        } else {
            Default::default()
        };
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
            external_root: external_root(l).to_string(),
            python: crate::run::python::interpreter(std::env::var("STRATA_PYTHON").ok()),
            module_paths: duckdb(l).map(|d| d.module_paths.clone()).unwrap_or_default(),
            selected: plan.iter().cloned().collect(),
            fk_targets,
            cancel: settings.cancel.clone(),
        };
        Ok((opts, fingerprints, hooks))
    }

    /// on-run-end (not after an interrupt, as in dbt): how the run ends.
    fn on_run_end(&self, results: &crate::results::RunResults, hooks: usize) -> Ending {
        let (l, printer) = (self.l, self.printer);
        let cancelled = self.settings.cancel.is_cancelled();
        let mut code = if cancelled {
            130
        } else if results.failed() {
            1
        } else {
            0
        };
        let end_hooks: &[String] = if cancelled { &[] } else { &l.project.config.on_run_end };
        match crate::run::run_hooks(
            self.compiler,
            end_hooks,
            "on-run-end",
            self.conn.clone(),
            // Every result as JSON, with its node: built only for hooks that may read it.
            if end_hooks.is_empty() { vec![] } else { crate::run::on_run_end_context(&l.manifest, results) },
        ) {
            Ok(n) => Ending { code, hooks: hooks + n, cancelled },
            Err(d) => {
                printer.diagnostics(&[d]);
                code = 1;
                Ending { code, hooks, cancelled }
            }
        }
    }
}

/// How a run ends: its exit code, the number of hooks that ran, and whether it was interrupted.
struct Ending {
    code: i32,
    hooks: usize,
    cancelled: bool,
}

/// run_results.json, the build state and the summary; the exit code.
#[allow(clippy::too_many_arguments)]
fn report(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    results: &crate::results::RunResults,
    recorded: &mut crate::state::BuildState,
    fingerprints: &HashMap<String, String>,
    threads: usize,
    ending: Ending,
) -> i32 {
    let args = json!({
        "which": settings.command.name(), "select": settings.select, "exclude": settings.exclude,
        "full_refresh": settings.full_refresh, "threads": threads, "vars": settings.vars,
    });
    recorded.record(results, fingerprints);
    if let Err(e) = recorded.write(&l.target_dir) {
        printer.warn(&format!("cannot write the build state: {e}"));
    }
    let rr = crate::artifacts::run_results_json(results, &l.invocation, args);
    if let Err(e) = crate::artifacts::write_json(&l.target_dir, "run_results.json", &rr) {
        printer.warn(&format!("cannot write run_results.json: {e}"));
    }
    let ran = results.results.iter().filter_map(|r| l.manifest.nodes.get(&r.unique_id).map(|n| &**n));
    printer.summary(results, &crate::output::what_ran(ran, ending.hooks), &l.manifest.nodes);
    if ending.cancelled {
        printer.cancelled(results, &l.manifest.nodes);
    }
    ending.code
}
