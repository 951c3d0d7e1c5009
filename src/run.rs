//! Execution policy: run a plan of nodes on `threads` workers in dependency order, each worker
//! with its own connection. Materializations are the Jinja macros from `templates/` (or the
//! project's overrides); hooks run around them. A failed node skips its descendants; the rest go
//! on unless `fail_fast`. Nothing is printed here: a [`Reporter`] is told of each start and end.
//! In: `(Plan, Adapter)`. Out: [`RunResults`].

use crate::adapter::{Adapter, Connection};
use crate::compile::{write_target_file, Compiler};
use crate::diagnostics::Diagnostic;
use crate::graph::Dag;
use crate::parse::{Manifest, Node, ResourceType};
use crate::templating::relation::Relation;
use crate::templating::Phase;
use minijinja::Value;
use serde_json::{json, Value as Json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// How a node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Built.
    Success,
    /// Failed.
    Error,
    /// Not run because an upstream node failed (or --fail-fast).
    Skipped,
}

/// One node's result.
#[derive(Debug, Clone)]
pub struct NodeResult {
    /// The node.
    pub unique_id: String,
    /// How it ended.
    pub status: Status,
    /// Short message (`OK`, `INSERT 12`, or the error).
    pub message: String,
    /// Seconds spent.
    pub execution_time: f64,
    /// The database's response to the main statement.
    pub adapter_response: Json,
    /// Worker name (`Thread-1`).
    pub thread_id: String,
    /// When execution started and ended.
    pub timing: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    /// The compiled SQL, when compiled.
    pub compiled_code: Option<String>,
    /// Where it was built.
    pub relation_name: Option<String>,
}

/// The results of one invocation, in completion order.
#[derive(Debug, Clone, Default)]
pub struct RunResults {
    /// Per-node results.
    pub results: Vec<NodeResult>,
    /// Wall time in seconds.
    pub elapsed: f64,
}

impl RunResults {
    /// Whether any node errored.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.status == Status::Error)
    }
    /// How many nodes ended with `s`.
    pub fn count(&self, s: Status) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }
}

/// Told when nodes start and finish (progress output lives outside this module).
pub trait Reporter: Sync {
    /// A node starts; `index` is 1-based among `total`.
    fn started(&self, index: usize, total: usize, node: &Node);
    /// A node finished (or was skipped).
    fn finished(&self, index: usize, total: usize, node: &Node, result: &NodeResult);
}

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
}

struct Sched {
    waiting: HashMap<String, usize>,
    ready: BTreeSet<(usize, String)>,
    outcome: HashMap<String, Status>,
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
        let Some(n) = m.nodes.get(id) else { continue };
        let mat = n.materialized();
        if materialization_macro(compiler, &mat).is_none() && mat != "ephemeral" {
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
    [format!("materialization_{mat}_duckdb"), format!("materialization_{mat}_default")]
        .into_iter()
        .find(|m| compiler.engine().has_macro(m))
}

/// Execute `plan` (unique ids in dependency order).
pub fn execute(
    compiler: &Compiler,
    manifest: &Manifest,
    dag: &Dag,
    plan: &[String],
    adapter: &dyn Adapter,
    opts: &RunOptions,
    reporter: &dyn Reporter,
) -> RunResults {
    let started = Instant::now();
    let in_plan: HashSet<&String> = plan.iter().collect();
    let order: HashMap<&String, usize> = plan.iter().enumerate().map(|(i, id)| (id, i)).collect();
    // Ephemeral models are not run: their parents count as the parents of their dependents.
    let mut parents_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut children_of: HashMap<String, Vec<String>> = HashMap::new();
    for id in plan {
        let ps = effective_parents(manifest, dag, id, &in_plan);
        for p in &ps {
            children_of.entry(p.clone()).or_default().push(id.clone());
        }
        parents_of.insert(id.clone(), ps);
    }
    let mut waiting = HashMap::new();
    let mut ready = BTreeSet::new();
    for id in plan {
        let n = parents_of[id].len();
        if n == 0 {
            ready.insert((order[id], id.clone()));
        } else {
            waiting.insert(id.clone(), n);
        }
    }
    let total = plan.len();
    let sched = Mutex::new(Sched {
        waiting,
        ready,
        outcome: HashMap::new(),
        running: 0,
        next_index: 0,
        stop: false,
        results: vec![],
    });
    let cv = Condvar::new();
    let threads = opts.threads.max(1).min(total.max(1));

    // Compiled and run SQL files are written by one background thread, off the workers' path.
    let (files_tx, files_rx) = std::sync::mpsc::channel::<(&'static str, String, String)>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for (kind, path, sql) in files_rx {
                let _ = write_target_file(&opts.target_dir, kind, &compiler.globals().project_name, &path, &sql);
            }
        });
        for t in 0..threads {
            let files = files_tx.clone();
            let sched = &sched;
            let cv = &cv;
            let order = &order;
            let parents_of = &parents_of;
            let children_of = &children_of;
            scope.spawn(move || {
                let thread_id = format!("Thread-{}", t + 1);
                let conn = adapter.connect();
                loop {
                    let mut s = sched.lock().unwrap_or_else(|e| e.into_inner());
                    while s.ready.is_empty() && s.running > 0 {
                        s = cv.wait(s).unwrap_or_else(|e| e.into_inner());
                    }
                    let Some(item) = s.ready.iter().next().cloned() else { break };
                    s.ready.remove(&item);
                    let id = item.1;
                    let node = &manifest.nodes[&id];
                    s.next_index += 1;
                    let index = s.next_index;
                    let failed_parent = parents_of[&id]
                        .iter()
                        .find(|p| matches!(s.outcome.get(*p), Some(Status::Error | Status::Skipped)))
                        .cloned();
                    let result = if s.stop || failed_parent.is_some() {
                        let msg = match failed_parent {
                            Some(p) => format!("skipped because upstream {} did not succeed", short(&p)),
                            None => "skipped because of --fail-fast".to_string(),
                        };
                        let r = skipped(node, &thread_id, msg);
                        reporter.finished(index, total, node, &r);
                        r
                    } else {
                        s.running += 1;
                        drop(s);
                        reporter.started(index, total, node);
                        let r = match &conn {
                            Ok(c) => run_node(compiler, node, c.clone(), opts, &thread_id, &files),
                            Err(e) => error_result(node, &thread_id, format!("cannot connect: {e}"), 0.0, None),
                        };
                        reporter.finished(index, total, node, &r);
                        s = sched.lock().unwrap_or_else(|e| e.into_inner());
                        s.running -= 1;
                        if r.status == Status::Error && opts.fail_fast {
                            s.stop = true;
                        }
                        r
                    };
                    s.outcome.insert(id.clone(), result.status);
                    s.results.push(result);
                    for c in children_of.get(&id).into_iter().flatten() {
                        if let Some(w) = s.waiting.get_mut(c) {
                            *w -= 1;
                            if *w == 0 {
                                s.waiting.remove(c);
                                s.ready.insert((order[c], c.clone()));
                            }
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
    RunResults { results: s.results, elapsed: started.elapsed().as_secs_f64() }
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
    }
}

/// Build one node: compile, pre-hooks, materialization, post-hooks.
fn run_node(
    compiler: &Compiler,
    node: &Node,
    conn: Arc<dyn Connection>,
    opts: &RunOptions,
    thread_id: &str,
    files: &std::sync::mpsc::Sender<(&'static str, String, String)>,
) -> NodeResult {
    let t0 = Instant::now();
    let start = chrono::Utc::now();
    let rel = &node.relation;
    let project = &compiler.globals().project_name;
    let fail = |msg: String, compiled: Option<String>| {
        conn.rollback();
        let mut r = error_result(node, thread_id, msg, t0.elapsed().as_secs_f64(), compiled);
        r.timing = Some((start, chrono::Utc::now()));
        r
    };
    let key = (
        rel.database.clone().unwrap_or_default(),
        rel.schema.clone().unwrap_or_default(),
        rel.identifier.clone().unwrap_or_default(),
    );
    let existing = opts.existing.get(&key).cloned();
    let mat = node.materialized();
    let full_refresh = node.config.get_bool("full_refresh").unwrap_or(opts.full_refresh);
    let is_incremental = mat == "incremental" && existing.as_deref() == Some("table") && !full_refresh;
    let mut extra: Vec<(String, Value)> = vec![];
    let mut compiled_sql = None;
    let mut seed_rows = None;
    if node.resource_type == ResourceType::Seed {
        let text = match std::fs::read_to_string(&node.file_path) {
            Ok(t) => t,
            Err(e) => return fail(format!("cannot read {}: {e}", node.original_file_path), None),
        };
        let delim = node.config.get_str("delimiter").unwrap_or_else(|| ",".into());
        let delim_byte = delim.as_bytes().first().copied().unwrap_or(b',');
        let (cols, rows) = match crate::seeds::columns(&text, delim_byte, &node.config) {
            Ok(c) => c,
            Err(e) => {
                return fail(
                    format!("Compilation Error in seed {} ({}): {e}", node.name, node.original_file_path),
                    None,
                )
            }
        };
        seed_rows = Some(rows);
        extra.push(("columns".into(), Value::from_serialize(&cols)));
        extra.push(("csv_path".into(), Value::from(crate::adapter::duckdb::lit(&node.file_path.to_string_lossy()))));
        extra.push(("delimiter".into(), Value::from(crate::adapter::duckdb::lit(&delim))));
    } else {
        match compiler.compile(node, Phase::Run, Some(conn.clone()), is_incremental) {
            Ok(c) => {
                let _ = files.send(("compiled", node.original_file_path.clone(), c.sql.clone()));
                extra.push(("sql".into(), Value::from(c.sql.clone())));
                extra.push(("compiled_code".into(), Value::from(c.sql.clone())));
                compiled_sql = Some(c.sql);
            }
            Err(d) => return fail(diag_message(&d), None),
        }
    }
    let existing_rel = existing
        .as_ref()
        .map(|k| Relation { kind: Some(k.clone()), ..rel.clone() }.into_value())
        .unwrap_or(Value::from(()));
    extra.push(("existing".into(), existing_rel));
    let tmp = Relation {
        identifier: Some(format!("{}__strata_tmp", rel.identifier.as_deref().unwrap_or(""))),
        kind: Some("table".into()),
        ..rel.clone()
    };
    extra.push(("tmp_relation".into(), tmp.into_value()));
    extra.push(("full_refresh".into(), Value::from(full_refresh)));
    let mut ctx = compiler.node_context(node, is_incremental);
    ctx.extra = extra;
    let globals = compiler.globals();
    let engine = compiler.engine();
    let mut statements: Vec<String> = vec![];

    for (i, hook) in node.config.hooks("pre-hook").iter().enumerate() {
        let name = format!("{} (pre-hook {})", node.original_file_path, i + 1);
        match engine.render(&name, hook, Phase::Run, globals, ctx.clone(), Some(conn.clone())) {
            Ok(r) => {
                statements.extend(r.statements);
                if !r.sql.trim().is_empty() {
                    if let Err(e) = conn.execute(&r.sql) {
                        return fail(
                            format!("Database Error in pre-hook of {} {}: {e}", node.resource_type.as_str(), node.name),
                            compiled_sql,
                        );
                    }
                    statements.push(r.sql);
                }
            }
            Err(d) => return fail(diag_message(&d), compiled_sql),
        }
    }
    let Some(mac) = materialization_macro(compiler, &mat) else {
        return fail(format!("unknown materialization '{mat}'"), compiled_sql);
    };
    let response = match engine.call_macro(&mac, vec![], Phase::Run, globals, ctx.clone(), Some(conn.clone())) {
        Ok((_, r)) => {
            statements.extend(r.statements);
            r.main_response.unwrap_or(json!({"_message": "OK"}))
        }
        Err(d) => {
            let compiled_file = opts.target_dir.join("compiled").join(project).join(&node.original_file_path);
            let msg = if d.code == "E0501" {
                format!(
                    "Database Error in {} {} ({})\n  {}\n  compiled code at {}",
                    node.resource_type.as_str(),
                    node.name,
                    node.original_file_path,
                    d.message.trim_start_matches("database error: "),
                    compiled_file.display()
                )
            } else {
                diag_message(&d)
            };
            return fail(msg, compiled_sql);
        }
    };
    let _ = files.send(("run", node.original_file_path.clone(), statements.join(";\n\n")));
    for (i, hook) in node.config.hooks("post-hook").iter().enumerate() {
        let name = format!("{} (post-hook {})", node.original_file_path, i + 1);
        match engine.render(&name, hook, Phase::Run, globals, ctx.clone(), Some(conn.clone())) {
            Ok(r) => {
                if !r.sql.trim().is_empty() {
                    if let Err(e) = conn.execute(&r.sql) {
                        return fail(
                            format!(
                                "Database Error in post-hook of {} {}: {e}",
                                node.resource_type.as_str(),
                                node.name
                            ),
                            compiled_sql,
                        );
                    }
                }
            }
            Err(d) => return fail(diag_message(&d), compiled_sql),
        }
    }
    let message = match seed_rows {
        Some(n) => format!("INSERT {n}"),
        None => response.get("_message").and_then(Json::as_str).unwrap_or("OK").to_string(),
    };
    NodeResult {
        unique_id: node.unique_id.clone(),
        status: Status::Success,
        message,
        execution_time: t0.elapsed().as_secs_f64(),
        adapter_response: response,
        thread_id: thread_id.to_string(),
        timing: Some((start, chrono::Utc::now())),
        compiled_code: compiled_sql,
        relation_name: Some(rel.render()),
    }
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
) -> Result<usize, Diagnostic> {
    let mut n = 0;
    for (i, hook) in hooks.iter().enumerate() {
        let name = format!("dbt_project.yml ({label} {})", i + 1);
        let r = compiler.engine().render(
            &name,
            hook,
            Phase::Run,
            compiler.globals(),
            Default::default(),
            Some(conn.clone()),
        )?;
        if !r.sql.trim().is_empty() {
            conn.execute(&r.sql)
                .map_err(|e| Diagnostic::error("E0502", format!("{label} hook {} failed: {e}", i + 1)))?;
            n += 1;
        }
    }
    Ok(n)
}
