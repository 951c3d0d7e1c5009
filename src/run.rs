//! Execution policy: run a plan of nodes on `threads` workers in dependency order, each worker
//! with its own connection. Materializations are the Jinja macros from `templates/` (or the
//! project's overrides); hooks run around them. A failed node skips its descendants; the rest go
//! on unless `fail_fast`. Nothing is printed here: the runner emits an [`Event`] to a [`Reporter`]
//! as each node starts, finishes or is skipped.
//! In: `(Plan, Adapter)`. Out: [`RunResults`].

pub mod builtin;
mod contract;
pub mod external;
mod foreign_keys;
pub mod freshness;
pub mod microbatch;
mod node;
pub use node::PUBLISHED;
pub mod python;

use crate::adapter::{Adapter, Connection};
use crate::compile::{write_target_file_in, Compiler};
use crate::diagnostics::Diagnostic;
use crate::graph::Dag;
use crate::parse::{Manifest, Node, ResourceType};
use crate::results::{Clock, Event, NodeResult, Reporter, RunResults, Status};
use crate::templating::{Overrides, Phase};
use chrono::NaiveDateTime;
use minijinja::Value;
use serde_json::{json, Value as Json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Settings for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads.
    pub threads: usize,
    /// Stop at the first failure.
    pub fail_fast: bool,
    /// --full-refresh.
    pub full_refresh: bool,
    /// Where compiled and run SQL go.
    pub target_dir: PathBuf,
    /// What existed before the run (`(database, schema, name) → table|view`), read once: each
    /// node only ever replaces its own relation, so the snapshot stays right for it.
    pub existing: HashMap<(String, String, String), String>,
    /// The project folder (unit-test fixtures and declarations are read from it).
    pub project_root: PathBuf,
    /// Nodes and tests left as they are: unchanged since their last successful build.
    pub unchanged: HashSet<String>,
    /// --event-time-start / --event-time-end: the window microbatch models build.
    pub event_time: (Option<NaiveDateTime>, Option<NaiveDateTime>),
    /// Microbatch models to build only these batches (`retry` of failed batches).
    pub batches: Batches,
    /// The target's `external_root`: where external models write by default.
    pub external_root: String,
    /// The Python interpreter python models run in.
    pub python: String,
    /// The target's `module_paths`: added to Python's import path.
    pub module_paths: Vec<String>,
    /// The nodes this run builds (a foreign key's referencing table is dropped for a rebuild
    /// only when the run rebuilds it too).
    pub selected: HashSet<String>,
    /// Tables that foreign keys point at when the run starts: (database, schema, table),
    /// lowercased.
    pub fk_targets: HashSet<(String, String, String)>,
    /// Ctrl-C: checked before each node starts; each worker's connection is registered with it.
    pub cancel: Arc<crate::cancel::Cancel>,
}

/// One unit of scheduling: a node (with the tests that audit it before it is published) or a
/// test, and the jobs it waits for.
#[derive(Debug, Clone)]
pub struct Job {
    /// The node or test.
    pub id: String,
    /// Jobs that must finish first (and not fail) before this one runs.
    pub parents: Vec<String>,
    /// Error-severity tests run against the node's staged contents before it is published.
    pub audits: Vec<String>,
}

/// Microbatch models' batches to build, by unique id (`retry`).
pub type Batches = HashMap<String, Vec<(NaiveDateTime, NaiveDateTime)>>;

/// Materializations whose new contents can be staged and audited before they are published.
pub const AUDITABLE: &[&str] = &["table", "incremental", "seed", "external"];

/// Turn a selection (in dependency order) into jobs, as `build` runs them: unit tests before
/// their model; each data test right after the nodes it reads, and before their children; with
/// `audit`, a table/incremental/seed's error-severity tests inside its job, before publishing.
pub fn plan_jobs(m: &Manifest, dag: &Dag, plan: &[String], audit: bool) -> Vec<Job> {
    let in_plan: HashSet<&String> = plan.iter().collect();
    let mut parents: HashMap<String, BTreeSet<String>> = HashMap::new();
    for id in plan {
        parents.insert(id.clone(), effective_parents(m, dag, id, &in_plan).into_iter().collect());
    }
    let node = |id: &str| m.nodes.get(id);
    let is_test = |id: &str| node(id).is_some_and(|n| n.resource_type == ResourceType::Test);
    // Unit tests need nothing built; their model waits for them.
    for id in plan {
        let Some(n) = node(id).filter(|n| n.resource_type == ResourceType::UnitTest) else { continue };
        parents.insert(id.clone(), BTreeSet::new());
        if let Some(model) = n.test.as_ref().and_then(|t| t.attached_node.clone()) {
            if let Some(p) = parents.get_mut(&model) {
                p.insert(id.clone());
            }
        }
    }
    let mut ancestors: HashMap<String, HashSet<String>> = HashMap::new();
    let mut ancestors_of = |id: &str| -> HashSet<String> {
        ancestors.entry(id.to_string()).or_insert_with(|| dag.walk(id, true, None).into_iter().collect()).clone()
    };
    // Audits.
    let mut audits: HashMap<String, Vec<String>> = HashMap::new();
    let mut absorbed: HashSet<String> = HashSet::new();
    if audit {
        for id in plan.iter().filter(|id| is_test(id)) {
            let t = &m.nodes[id];
            if t.severity() != "error" {
                continue;
            }
            let Some(target) = t.test.as_ref().and_then(|x| x.attached_node.clone()) else { continue };
            // A table whose files live at a fixed place (`location_root`) cannot be staged under
            // another name, whose files would be another place's: it is built in place and its
            // tests run after it, as in dbt.
            let auditable = in_plan.contains(&target)
                && node(&target).is_some_and(|n| {
                    AUDITABLE.contains(&n.materialized().as_str())
                        && !n.is_microbatch()
                        && n.config.get_str("location_root").is_none()
                });
            if !auditable {
                continue;
            }
            let others: Vec<String> = parents[id].iter().filter(|p| **p != target).cloned().collect();
            let anc = if others.is_empty() { HashSet::new() } else { ancestors_of(&target) };
            if others.iter().all(|o| anc.contains(o)) {
                audits.entry(target).or_default().push(id.clone());
                absorbed.insert(id.clone());
            }
        }
    }
    // dbt's test edges: a test runs before every node that has all the nodes the test reads
    // upstream of it. For a test of one node those are its children (the rest of its
    // descendants follow them); a test reading several nodes (relationships, equality) gates
    // only the nodes downstream of all of them.
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for id in plan {
        for p in &parents[id] {
            children.entry(p.clone()).or_default().push(id.clone());
        }
    }
    let mut extra: Vec<(String, String)> = vec![];
    for id in plan.iter().filter(|id| is_test(id) && !absorbed.contains(*id)) {
        let tparents: Vec<String> = parents[id].iter().cloned().collect();
        if tparents.len() <= 1 {
            for c in tparents.iter().flat_map(|p| children.get(p).into_iter().flatten()) {
                if c != id && !node(c).is_some_and(|n| n.is_test()) {
                    extra.push((c.clone(), id.clone()));
                }
            }
            continue;
        }
        let candidates: Vec<String> = dag
            .walk(&tparents[0], false, None)
            .into_iter()
            .filter(|c| c != id && in_plan.contains(c) && !node(c).is_some_and(|n| n.is_test()))
            .collect();
        for c in candidates {
            let upstream = ancestors_of(&c);
            if tparents.iter().all(|q| upstream.contains(q)) {
                extra.push((c, id.clone()));
            }
        }
    }
    for (c, t) in extra {
        if let Some(p) = parents.get_mut(&c) {
            p.insert(t);
        }
    }
    let mut jobs: Vec<Job> = plan
        .iter()
        .filter(|id| !absorbed.contains(*id))
        .map(|id| Job {
            id: id.clone(),
            parents: parents[id].iter().filter(|p| !absorbed.contains(*p)).cloned().collect(),
            audits: audits.remove(id).unwrap_or_default(),
        })
        .collect();
    // Unit tests need nothing: they go first, so a failing one is known before its model's turn.
    jobs.sort_by_key(|j| node(&j.id).is_none_or(|n| n.resource_type != ResourceType::UnitTest));
    jobs
}

/// The workers' shared state. Jobs are their positions in the plan's list: a ready job with the
/// lowest position goes first.
struct Sched {
    /// Parents each job still waits for.
    waiting: Vec<usize>,
    ready: BTreeSet<usize>,
    /// How each job that ran ended.
    outcome: Vec<Option<Status>>,
    running: usize,
    next_index: usize,
    stop: bool,
    results: Vec<NodeResult>,
}

/// Nodes that are executed (ephemeral models and analyses are not).
pub fn runnable(m: &Manifest, plan: &[String]) -> Vec<String> {
    plan.iter()
        .filter(|id| {
            m.nodes
                .get(*id)
                .is_some_and(|n| n.resource_type != ResourceType::Analysis && n.materialized() != "ephemeral")
        })
        .cloned()
        .collect()
}

/// Incremental models whose `unique_key` names a column their SQL does not output (known from
/// the static analysis), located where the key is configured.
pub fn check_unique_keys(m: &Manifest, plan: &[String], lineage: &crate::lineage::Lineage) -> Vec<Diagnostic> {
    let mut out = vec![];
    for id in plan {
        let Some(n) = m.nodes.get(id).filter(|n| n.materialized() == "incremental") else { continue };
        let Some(nl) = lineage.nodes.get(id).filter(|nl| nl.complete) else { continue };
        let keys = n.config.get("unique_key").map(crate::project::config::string_items).unwrap_or_default();
        let names: Vec<&str> = nl.columns.iter().map(|c| &*c.name).collect();
        for k in keys {
            if names.iter().any(|c| c.eq_ignore_ascii_case(&k)) {
                continue;
            }
            let span = match n.raw_code.find(&format!("'{k}'")).or_else(|| n.raw_code.find(&format!("\"{k}\""))) {
                Some(i) => {
                    crate::diagnostics::Span::from_offsets(&n.original_file_path, &n.raw_code, i, i + k.len() + 2)
                }
                None => crate::diagnostics::Span::file_only(
                    n.patch_path.clone().unwrap_or_else(|| n.original_file_path.clone()),
                ),
            };
            out.push(
                Diagnostic::error(
                    "E0702",
                    format!("unique_key '{k}' of incremental model '{}' is not one of its columns", n.name),
                )
                .with_span(span)
                .with_help(
                    crate::diagnostics::did_you_mean(&k, names.iter().copied())
                        .unwrap_or_else(|| format!("its columns: {}", names.join(", "))),
                ),
            );
        }
    }
    out
}

/// Materializations used by the plan that no macro implements.
pub fn check_materializations(compiler: &Compiler, m: &Manifest, plan: &[String]) -> Vec<Diagnostic> {
    let mut out = vec![];
    let known: Vec<String> = compiler
        .engine()
        .macros
        .keys()
        .filter_map(|k| {
            k.strip_prefix("materialization_")
                .map(|r| r.rsplit_once('_').map(|(a, _)| a.to_string()).unwrap_or_default())
        })
        .collect();
    for id in plan {
        let Some(n) = m.nodes.get(id).filter(|n| !n.is_test()) else { continue };
        let mat = n.materialized();
        if materialization_macro(compiler, &mat).is_none() && mat != "ephemeral" && mat != "external" {
            out.push(
                Diagnostic::error("E0701", format!("model '{}' uses unknown materialization '{mat}'", n.name))
                    .with_span(crate::diagnostics::Span::file_only(&n.original_file_path))
                    .with_opt_help(crate::diagnostics::did_you_mean(&mat, known.iter().map(String::as_str))),
            );
        }
    }
    out
}

fn materialization_macro(compiler: &Compiler, mat: &str) -> Option<String> {
    compiler.engine().dialect.materialization_macros(mat).into_iter().find(|m| compiler.engine().has_macro(m))
}

/// Execute `jobs` (from [`plan_jobs`], in dependency order).
pub fn execute(
    compiler: &Compiler,
    manifest: &Manifest,
    jobs: &[Job],
    adapter: &dyn Adapter,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> RunResults {
    let started = Instant::now();
    let position: HashMap<&str, usize> = jobs.iter().enumerate().map(|(i, j)| (j.id.as_str(), i)).collect();
    // Each job's parents and children by position (plan_jobs names only jobs as parents).
    let parents_of: Vec<Vec<usize>> =
        jobs.iter().map(|j| j.parents.iter().filter_map(|p| position.get(p.as_str()).copied()).collect()).collect();
    let mut children_of: Vec<Vec<usize>> = vec![vec![]; jobs.len()];
    for (i, parents) in parents_of.iter().enumerate() {
        for &p in parents {
            children_of[p].push(i);
        }
    }
    let waiting: Vec<usize> = parents_of.iter().map(Vec::len).collect();
    let ready: BTreeSet<usize> = (0..jobs.len()).filter(|&i| waiting[i] == 0).collect();
    let total = jobs.len() + jobs.iter().map(|j| j.audits.len()).sum::<usize>();
    let sched = Mutex::new(Sched {
        waiting,
        ready,
        outcome: vec![None; jobs.len()],
        running: 0,
        next_index: 0,
        stop: false,
        results: vec![],
    });
    let cv = Condvar::new();
    let threads = opts.threads.max(1).min(jobs.len().max(1));

    // Compiled and run SQL files are written by one background thread, off the workers' path.
    let (files_tx, files_rx) = std::sync::mpsc::channel::<Vec<TargetFile>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut made = HashSet::new();
            for batch in files_rx {
                for (kind, path, sql) in batch {
                    let _ = write_target_file_in(&mut made, &opts.target_dir, kind, &path, &sql);
                }
            }
        });
        for t in 0..threads {
            let files = FileBatch::new(files_tx.clone());
            let sched = &sched;
            let cv = &cv;
            let parents_of = &parents_of;
            let children_of = &children_of;
            scope.spawn(move || {
                let thread_id = format!("Thread-{}", t + 1);
                let conn = adapter.connect();
                if let Some(f) = conn.as_ref().ok().and_then(|c| c.interrupter()) {
                    opts.cancel.register(f);
                }
                let take_index = || {
                    let mut s = sched.lock().unwrap_or_else(|e| e.into_inner());
                    s.next_index += 1;
                    s.next_index
                };
                loop {
                    let mut s = sched.lock().unwrap_or_else(|e| e.into_inner());
                    while s.ready.is_empty() && s.running > 0 && !opts.cancel.is_cancelled() {
                        // Woken by a finished node, or (cancelled) by the timeout.
                        s = cv
                            .wait_timeout(s, std::time::Duration::from_millis(200))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    // Cancelled: nothing more starts; the nodes running finish (interrupted).
                    if opts.cancel.is_cancelled() {
                        drop(s);
                        cv.notify_all();
                        break;
                    }
                    let Some(at) = s.ready.pop_first() else { break };
                    let job = &jobs[at];
                    let id = &job.id;
                    let node = &manifest.nodes[id];
                    let failed_parent = parents_of[at]
                        .iter()
                        .find(|&&p| s.outcome[p].as_ref().is_some_and(Status::blocks))
                        .map(|&p| &jobs[p].id);
                    let results = if s.stop || failed_parent.is_some() {
                        let msg = match failed_parent {
                            Some(p) => format!("skipped because upstream {} did not succeed", short(p)),
                            None => "skipped because of --fail-fast".to_string(),
                        };
                        let mut out = vec![];
                        for tid in std::iter::once(id).chain(&job.audits) {
                            s.next_index += 1;
                            let n = &manifest.nodes[tid];
                            let r = skipped(n, &thread_id, msg.clone());
                            reporter.event(Event::Skipped { index: s.next_index, total, node: n, result: &r });
                            out.push(r);
                        }
                        out
                    } else {
                        s.running += 1;
                        s.next_index += 1;
                        let index = s.next_index;
                        drop(s);
                        // A node left unchanged gets its one NO-OP line, no START.
                        if !opts.unchanged.contains(&node.unique_id) {
                            reporter.event(Event::Started { index, total, node });
                        }
                        let audits: Vec<&Node> = job.audits.iter().map(|a| &*manifest.nodes[a]).collect();
                        let rs = match &conn {
                            Ok(c) => {
                                let env = Env { compiler, opts, thread_id: &thread_id, files: &files, conn: c.clone() };
                                let progress = Progress { reporter, total, take_index: &take_index };
                                run_job(&env, node, &audits, &progress)
                            }
                            Err(e) => vec![error_result(node, &thread_id, format!("cannot connect: {e}"), 0.0, None)],
                        };
                        reporter.event(Event::Finished { index, total, node, result: &rs[0] });
                        s = sched.lock().unwrap_or_else(|e| e.into_inner());
                        s.running -= 1;
                        if rs.iter().any(|r| r.status.failed()) && opts.fail_fast {
                            s.stop = true;
                        }
                        rs
                    };
                    s.outcome[at] = Some(results[0].status);
                    s.results.extend(results);
                    for &c in &children_of[at] {
                        s.waiting[c] -= 1;
                        if s.waiting[c] == 0 {
                            s.ready.insert(c);
                        }
                    }
                    drop(s);
                    cv.notify_all();
                }
            });
        }
        drop(files_tx);
    });
    let s = sched.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut results = s.results;
    let not_started: Vec<String> = if opts.cancel.is_cancelled() {
        let done: HashSet<&str> = results.iter().map(|r| r.unique_id.as_str()).collect();
        let mut left: Vec<String> = jobs
            .iter()
            .flat_map(|j| std::iter::once(&j.id).chain(&j.audits))
            .filter(|id| !done.contains(id.as_str()))
            .cloned()
            .collect();
        left.sort();
        // What the interrupt stopped says so, rather than DuckDB's "INTERRUPT Error".
        for r in results.iter_mut().filter(|r| r.status == Status::Error && r.message.contains("INTERRUPT")) {
            r.message = format!("Cancelled: the run was interrupted (Ctrl-C) while this ran\n  {}", r.message);
        }
        left
    } else {
        vec![]
    };
    RunResults { results, elapsed: started.elapsed().as_secs_f64(), not_started }
}

/// A file for target/: kind (`compiled` or `run`), path below the project folder, text.
/// A file to write under the target folder: (`compiled` or `run`, [`Manifest::target_rel_path`], SQL).
type TargetFile = (&'static str, String, String);

/// A worker's compiled and run SQL files on their way to the writer thread, handed over in
/// batches: a message per node woke that thread (a futex call on the worker's path) about 2,300
/// times in a 1,000-model build. What is left is sent when the worker ends.
struct FileBatch {
    tx: std::sync::mpsc::Sender<Vec<TargetFile>>,
    pending: std::cell::RefCell<Vec<TargetFile>>,
}

impl FileBatch {
    /// Files handed over at once.
    const SIZE: usize = 64;

    fn new(tx: std::sync::mpsc::Sender<Vec<TargetFile>>) -> FileBatch {
        FileBatch { tx, pending: Default::default() }
    }

    /// Queue files to be written (`kind` folder, path under it, contents).
    fn write(&self, files: impl IntoIterator<Item = TargetFile>) {
        let mut pending = self.pending.borrow_mut();
        pending.extend(files);
        if pending.len() >= Self::SIZE {
            let _ = self.tx.send(std::mem::take(&mut *pending));
        }
    }
}

impl Drop for FileBatch {
    fn drop(&mut self) {
        let pending = self.pending.take();
        if !pending.is_empty() {
            let _ = self.tx.send(pending);
        }
    }
}

/// What every job needs: the compiler, options, its worker's connection and the file writer.
struct Env<'a> {
    compiler: &'a Compiler<'a>,
    opts: &'a RunOptions,
    thread_id: &'a str,
    files: &'a FileBatch,
    conn: Arc<dyn Connection>,
}

/// Progress reporting for tests run inside a node's job.
struct Progress<'a> {
    reporter: &'a dyn Reporter,
    total: usize,
    take_index: &'a dyn Fn() -> usize,
}

/// What on-run-end hooks see besides the usual context, as in dbt: `results` (each node's
/// result, with its `node`), `schemas` and `database_schemas` (where the run built relations).
pub fn on_run_end_context(manifest: &Manifest, results: &RunResults) -> Vec<(String, Value)> {
    let mut schemas = std::collections::BTreeSet::new();
    let mut database_schemas = std::collections::BTreeSet::new();
    let rs: Vec<Json> = results
        .results
        .iter()
        .map(|r| {
            let node = manifest.nodes.get(&r.unique_id);
            if let Some(n) = node.filter(|n| !n.is_test() && n.materialized() != "ephemeral") {
                let (db, schema) =
                    (n.relation.database.clone().unwrap_or_default(), n.relation.schema.clone().unwrap_or_default());
                schemas.insert(schema.clone());
                database_schemas.insert((db, schema));
            }
            json!({
                "status": r.status.as_str(), "message": r.message, "execution_time": r.execution_time,
                "thread_id": r.thread_id, "adapter_response": r.adapter_response, "failures": r.failures,
                "unique_id": r.unique_id, "node": node.map(|n| n.to_json()),
            })
        })
        .collect();
    vec![
        ("results".into(), Value::from_serialize(&rs)),
        ("schemas".into(), Value::from_serialize(&schemas)),
        ("database_schemas".into(), Value::from_serialize(&database_schemas)),
    ]
}

/// The tables foreign keys point at: (database, schema, table), lowercased.
pub fn foreign_key_targets(conn: &dyn Connection) -> HashSet<(String, String, String)> {
    let Ok(fks) = conn.foreign_keys() else { return Default::default() };
    fks.into_iter()
        .map(|fk| (fk.database.to_lowercase(), fk.schema.to_lowercase(), fk.referenced_table.to_lowercase()))
        .collect()
}

/// Run one job: a test, a unit test, or a node with its audits. The job's own result comes first.
fn run_job(env: &Env, node: &Node, audits: &[&Node], progress: &Progress) -> Vec<NodeResult> {
    if env.opts.unchanged.contains(&node.unique_id) {
        let mut out = vec![no_op(node, env.thread_id)];
        out.extend(audits.iter().map(|a| no_op(a, env.thread_id)));
        return out;
    }
    match node.resource_type {
        ResourceType::Test => vec![run_test(env, node, None)],
        ResourceType::UnitTest => {
            vec![crate::testing::unit::run(env.compiler, node, env.conn.clone(), env.thread_id, &env.opts.project_root)]
        }
        _ => node::run_node(env, node, audits, progress),
    }
}

/// Parents in the plan, looking through ephemeral models (which are inlined, not run).
fn effective_parents(m: &Manifest, dag: &Dag, id: &str, in_plan: &HashSet<&String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    let mut stack = dag.parents(id);
    let mut seen = HashSet::new();
    while let Some(p) = stack.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        if in_plan.contains(&p) {
            out.insert(p);
        } else if m.nodes.get(&p).is_some_and(|n| n.materialized() == "ephemeral") {
            stack.extend(dag.parents(&p));
        }
    }
    out.into_iter().collect()
}

fn short(id: &str) -> String {
    id.split('.').skip(2).collect::<Vec<_>>().join(".")
}

fn no_op(node: &Node, thread_id: &str) -> NodeResult {
    NodeResult { status: Status::NoOp, ..skipped(node, thread_id, "unchanged".into()) }
}

fn skipped(node: &Node, thread_id: &str, message: String) -> NodeResult {
    NodeResult {
        unique_id: node.unique_id.clone(),
        status: Status::Skipped,
        message,
        execution_time: 0.0,
        adapter_response: json!({}),
        thread_id: thread_id.to_string(),
        timing: None,
        compiled_code: None,
        relation_name: Some(node.relation.render()),
        failures: None,
        batch_results: None,
    }
}

fn error_result(node: &Node, thread_id: &str, message: String, secs: f64, compiled: Option<String>) -> NodeResult {
    NodeResult {
        unique_id: node.unique_id.clone(),
        status: Status::Error,
        message,
        execution_time: secs,
        adapter_response: json!({}),
        thread_id: thread_id.to_string(),
        timing: None,
        compiled_code: compiled,
        relation_name: Some(node.relation.render()),
        failures: None,
        batch_results: None,
    }
}

/// Run one data test: compile it, store its failing rows if configured, count them against the
/// thresholds. `overrides` points refs at staged relations while a node is audited.
fn run_test(env: &Env, node: &Node, overrides: Option<Arc<Overrides>>) -> NodeResult {
    let Env { compiler, thread_id, files, .. } = *env;
    let conn = &env.conn;
    let clock = Clock::start();
    let result = |status: Status, message: String, failures: Option<i64>, compiled: Option<String>| NodeResult {
        compiled_code: compiled,
        relation_name: crate::testing::stores_failures(node).then(|| node.relation.render()),
        failures,
        ..clock.result(node, thread_id, status, message)
    };
    let fast = crate::testing::fast_sql(compiler, node, overrides.as_deref());
    let sql = match fast {
        Some(sql) => sql,
        None => {
            let mut ctx = compiler.node_context(node, false);
            ctx.overrides = overrides.clone();
            match compiler.compile_in(node, ctx, Phase::Run, Some(conn.clone())) {
                Ok(c) => c.sql,
                Err(d) => {
                    conn.rollback();
                    return result(Status::Error, diag_message(&d), None, None);
                }
            }
        }
    };
    let path = compiler.manifest().target_rel_path(node);
    let mut main = sql.clone();
    if crate::testing::stores_failures(node) {
        let rel = &node.relation;
        // While auditing, the staged relation is dropped afterwards: keep the rows, not a view.
        let as_view = overrides.is_none() && node.config.get_str("store_failures_as").as_deref() == Some("view");
        // Replace whatever is there; a relation of the other kind has to be dropped first.
        let db = rel.database.as_deref().unwrap_or("");
        let schema = rel.schema.as_deref().unwrap_or("");
        let there = conn.relation_kind(db, schema, rel.identifier.as_deref().unwrap_or("")).ok().flatten();
        let drop = match there {
            Some(k) if (k == "view") != as_view => {
                format!("drop {} {};\n", if k == "view" { "view" } else { "table" }, rel.render())
            }
            _ => String::new(),
        };
        // `create or replace table` is not every engine's (Spark's parquet tables): drop, create.
        let replace = if as_view {
            format!("create or replace view {}", rel.render())
        } else {
            format!("drop table if exists {rel};\ncreate table {rel}", rel = rel.render())
        };
        let store = format!(
            "create schema if not exists {};\n{drop}{replace} as (\n{}\n)",
            rel.dialect.schema_name(db, schema),
            sql.trim_end()
        );
        if let Err(e) = conn.execute(&store) {
            conn.rollback();
            compiler.record(&node.unique_id, &crate::compile::CompiledNode { sql: sql.clone(), ..Default::default() });
            files.write([("compiled", path.clone(), sql.clone())]);
            return result(
                Status::Error,
                format!("Database Error storing failures of {}: {e}", node.name),
                None,
                Some(sql),
            );
        }
        main = format!("select * from {}", rel.render());
    }
    // The count comes back through DuckDB's error channel (see `testing::signalling_sql`): a
    // passing test is one plain statement, with no prepared statement or result set to read.
    let counting = crate::testing::signalling_sql(node, &main);
    compiler.record(&node.unique_id, &crate::compile::CompiledNode { sql: sql.clone(), ..Default::default() });
    compiler.record_built(&node.unique_id);
    files.write([("compiled", path.clone(), sql.clone()), ("run", path, counting.clone())]);
    let (failures, should_warn, should_error) = match conn.execute(&counting) {
        Ok(_) => (0, false, false),
        Err(e) => match crate::testing::read_signal(&e.0) {
            Some(x) => x,
            None => {
                conn.rollback();
                return result(
                    Status::Error,
                    format!("Database Error in test {} ({})\n  {e}", node.name, node.original_file_path),
                    None,
                    Some(sql),
                );
            }
        },
    };
    let flag = |i: usize| if i == 1 { should_warn } else { should_error };
    let v = crate::testing::verdict(node, flag(1), flag(2));
    let status = match v {
        crate::testing::Verdict::Pass => Status::Pass,
        crate::testing::Verdict::Warn => Status::Warn,
        crate::testing::Verdict::Fail => Status::Fail,
    };
    let message = crate::testing::verdict_message(node, v, failures).unwrap_or_default();
    result(status, message, Some(failures), Some(sql))
}

/// A diagnostic as a plain multi-line message for a node result.
pub fn diag_message(d: &Diagnostic) -> String {
    crate::diagnostics::render_text(std::slice::from_ref(d), crate::diagnostics::Style { color: false })
        .trim_end()
        .to_string()
}

/// Render and run invocation hooks (on-run-start / on-run-end) on one connection.
pub fn run_hooks(
    compiler: &Compiler,
    hooks: &[String],
    label: &str,
    conn: Arc<dyn Connection>,
    extra: Vec<(String, Value)>,
) -> Result<usize, Diagnostic> {
    let mut n = 0;
    let ctx = crate::templating::NodeContext { extra, ..Default::default() };
    for (i, hook) in hooks.iter().enumerate() {
        let name = format!("dbt_project.yml ({label} {})", i + 1);
        let r =
            compiler.engine().render(&name, hook, Phase::Run, compiler.globals(), ctx.clone(), Some(conn.clone()))?;
        if !r.sql.trim().is_empty() {
            conn.execute(&r.sql)
                .map_err(|e| Diagnostic::error("E0502", format!("{label} hook {} failed: {e}", i + 1)))?;
            n += 1;
        }
    }
    Ok(n)
}
