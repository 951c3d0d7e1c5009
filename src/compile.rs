//! Compile: render a node's SQL with real relations (`execute = true`) and inline the ephemeral
//! models it references as CTEs, as dbt does (`with __dbt__cte__name as (...)`).
//! In: a parsed node. Out: [`CompiledNode`]; files under `target/compiled/`.

use crate::adapter::Connection;
use crate::diagnostics::Diagnostic;
use crate::parse::{Manifest, Node};
use crate::templating::{Engine, Globals, NodeContext, Phase};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A node's compiled SQL.
#[derive(Debug, Clone, Default)]
pub struct CompiledNode {
    /// The SQL, with ephemeral CTEs injected.
    pub sql: String,
    /// Ephemeral models inlined, in dependency order.
    pub ephemerals: Vec<String>,
    /// Whether rendering ran no query and looked at no relation, so rendering again gives the
    /// same SQL (a model compiled for static analysis need not be rendered again to run).
    pub pure: bool,
    /// The injected CTEs as dbt's `extra_ctes`: (ephemeral model's id, ` __dbt__cte__x as (...)`).
    pub extra_ctes: Vec<(String, String)>,
}

/// What one invocation compiled and ran, for manifest.json's `compiled_code`, `extra_ctes` and
/// `build_path` (dbt writes them for the nodes an invocation compiled). The manifest writer
/// waits for [`CompiledLog::finish`] before it writes.
#[derive(Default)]
pub struct CompiledLog {
    nodes: Mutex<HashMap<String, CompiledNode>>,
    built: Mutex<std::collections::HashSet<String>>,
    finished: (Mutex<bool>, std::sync::Condvar),
}

impl CompiledLog {
    /// Record a node's compiled SQL (a later compile of the same node replaces it).
    pub fn record(&self, id: &str, c: &CompiledNode) {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), c.clone());
    }

    /// Record that a node's SQL ran (it has a file under `target/run`).
    pub fn record_built(&self, id: &str) {
        self.built.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string());
    }

    /// Nothing more will be recorded.
    pub fn finish(&self) {
        *self.finished.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.finished.1.notify_all();
    }

    /// Wait for [`finish`](Self::finish), then take what was recorded: the compiled nodes and
    /// the nodes built.
    pub fn wait(&self) -> (HashMap<String, CompiledNode>, std::collections::HashSet<String>) {
        let mut done = self.finished.0.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.finished.1.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        drop(done);
        let nodes = std::mem::take(&mut *self.nodes.lock().unwrap_or_else(|e| e.into_inner()));
        let built = std::mem::take(&mut *self.built.lock().unwrap_or_else(|e| e.into_inner()));
        (nodes, built)
    }
}

/// Calls [`CompiledLog::finish`] when dropped, so a manifest writer waiting on the log is never
/// left waiting, whichever way a command ends.
pub struct FinishOnDrop<'a>(pub &'a CompiledLog);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Compiles nodes of one manifest; caches ephemeral models so each is rendered once.
pub struct Compiler<'a> {
    engine: &'a Engine,
    globals: Arc<Globals>,
    /// Shared, for what outlives a render (`model`, made when a template reads it).
    manifest: &'a Arc<Manifest>,
    ephemerals: Mutex<HashMap<String, CompiledNode>>,
    /// Models compiled before the run (for static analysis) whose render was pure.
    precompiled: Mutex<HashMap<String, CompiledNode>>,
    log: Option<&'a CompiledLog>,
}

impl<'a> Compiler<'a> {
    /// A compiler over a parsed manifest.
    pub fn new(engine: &'a Engine, globals: Arc<Globals>, manifest: &'a Arc<Manifest>) -> Compiler<'a> {
        Compiler {
            engine,
            globals,
            manifest,
            ephemerals: Mutex::new(HashMap::new()),
            precompiled: Mutex::new(HashMap::new()),
            log: None,
        }
    }

    /// Record every node compiled (and every ephemeral model inlined) in `log`.
    pub fn with_log(mut self, log: &'a CompiledLog) -> Compiler<'a> {
        self.log = Some(log);
        self
    }

    /// Record a node compiled another way (a test's SQL built without rendering).
    pub fn record(&self, id: &str, c: &CompiledNode) {
        if let Some(log) = self.log {
            log.record(id, c);
        }
    }

    /// Record that a node's SQL ran.
    pub fn record_built(&self, id: &str) {
        if let Some(log) = self.log {
            log.record_built(id);
        }
    }

    /// The globals renders use.
    pub fn globals(&self) -> &Arc<Globals> {
        &self.globals
    }

    /// The manifest it compiles.
    pub fn manifest(&self) -> &'a Manifest {
        self.manifest.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// The Jinja context for a node.
    pub fn node_context(&self, node: &Node, is_incremental: bool) -> NodeContext {
        NodeContext {
            unique_id: node.unique_id.clone(),
            name: node.name.clone(),
            package: node.package_name.clone(),
            this: Some(node.relation.clone()),
            config: node.config.clone(),
            model: self.model_json(node),
            is_incremental,
            overrides: None,
            extra: vec![],
        }
    }

    /// `model` for a node: made from the manifest when a template reads it, or now for a node
    /// that is not the manifest's own (a copy changed for one render).
    fn model_json(&self, node: &Node) -> crate::templating::ModelJson {
        let own = self.manifest.nodes.get(&node.unique_id).is_some_and(|n| std::ptr::eq(&**n, node));
        if !own {
            return crate::templating::ModelJson::ready(node.to_json());
        }
        let (manifest, id) = (self.manifest.clone(), node.unique_id.clone());
        crate::templating::ModelJson::lazy(move || manifest.nodes.get(&id).map(|n| n.to_json()).unwrap_or_default())
    }

    /// Render one node and inject its ephemeral dependencies.
    pub fn compile(
        &self,
        node: &Node,
        phase: Phase,
        conn: Option<Arc<dyn Connection>>,
        is_incremental: bool,
    ) -> Result<CompiledNode, Diagnostic> {
        if !is_incremental {
            if let Some(c) = self.precompiled.lock().unwrap_or_else(|e| e.into_inner()).remove(&node.unique_id) {
                return Ok(c);
            }
        }
        let c = self.compile_in(node, self.node_context(node, is_incremental), phase, conn)?;
        self.record(&node.unique_id, &c);
        Ok(c)
    }

    /// Keep a pure compilation for the run to use instead of rendering the model again.
    pub fn remember(&self, id: &str, c: &CompiledNode) {
        if c.pure {
            self.precompiled.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), c.clone());
        }
    }

    /// Render one node in a given context (overrides for audits and unit tests).
    pub fn compile_in(
        &self,
        node: &Node,
        ctx: NodeContext,
        phase: Phase,
        conn: Option<Arc<dyn Connection>>,
    ) -> Result<CompiledNode, Diagnostic> {
        // A python model is not Jinja: its compiled code is the file itself (run::python runs it).
        if node.language == crate::parse::Language::Python {
            return Ok(CompiledNode { sql: node.raw_code.to_string(), pure: true, ..Default::default() });
        }
        let out =
            self.engine.render(&node.original_file_path, &node.raw_code, phase, &self.globals, ctx, conn.clone())?;
        let pure = out.statements.is_empty() && !out.introspected;
        let (order, ctes) = self.inline(&out.ephemerals, phase, conn)?;
        let extra_ctes = extra_ctes(&order, &ctes);
        Ok(CompiledNode { sql: inject_ctes(&out.sql, &ctes), ephemerals: order, pure, extra_ctes })
    }

    /// The ephemeral models a render referenced, with the ones they reference first: their ids
    /// in dependency order, and (CTE name, SQL) for each.
    fn inline(
        &self,
        referenced: &[String],
        phase: Phase,
        conn: Option<Arc<dyn Connection>>,
    ) -> Result<(Vec<String>, Ctes), Diagnostic> {
        let mut order: Vec<String> = vec![];
        let mut ctes = vec![];
        for id in referenced {
            let eph = self.ephemeral(id, phase, conn.clone())?;
            for inner in eph.ephemerals.iter().chain(std::iter::once(id)) {
                if order.contains(inner) {
                    continue;
                }
                let sql = if inner == id {
                    eph.sql_without_ctes.clone()
                } else {
                    self.ephemeral(inner, phase, conn.clone())?.sql_without_ctes
                };
                let name = self.manifest.nodes.get(inner).map(|n| n.cte_name()).unwrap_or_default();
                order.push(inner.clone());
                ctes.push((format!("__dbt__cte__{name}"), sql));
            }
        }
        Ok((order, ctes))
    }

    fn ephemeral(&self, id: &str, phase: Phase, conn: Option<Arc<dyn Connection>>) -> Result<EphemeralSql, Diagnostic> {
        if let Some(c) = self.ephemerals.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(EphemeralSql { sql_without_ctes: c.sql.clone(), ephemerals: c.ephemerals.clone() });
        }
        let node = self
            .manifest
            .nodes
            .get(id)
            .ok_or_else(|| Diagnostic::error("E0902", format!("internal: unknown node {id}")))?;
        let ctx = self.node_context(node, false);
        let out =
            self.engine.render(&node.original_file_path, &node.raw_code, phase, &self.globals, ctx, conn.clone())?;
        let (deps, ctes) = self.inline(&out.ephemerals, phase, conn)?;
        // Recorded as dbt has it when it compiles an ephemeral model: its own CTEs injected.
        let own = CompiledNode {
            sql: inject_ctes(&out.sql, &ctes),
            ephemerals: deps.clone(),
            pure: true,
            extra_ctes: extra_ctes(&deps, &ctes),
        };
        self.record(id, &own);
        let c = CompiledNode { sql: out.sql.clone(), ephemerals: deps.clone(), pure: true, extra_ctes: vec![] };
        self.ephemerals.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), c);
        Ok(EphemeralSql { sql_without_ctes: out.sql, ephemerals: deps })
    }
}

/// dbt's `extra_ctes`: (ephemeral model's id, ` __dbt__cte__x as (...)`).
fn extra_ctes(ids: &[String], ctes: &[(String, String)]) -> Vec<(String, String)> {
    ids.iter().zip(ctes).map(|(id, (name, body))| (id.clone(), cte(name, body))).collect()
}

/// CTEs to inject: (name, SQL).
type Ctes = Vec<(String, String)>;

struct EphemeralSql {
    sql_without_ctes: String,
    ephemerals: Vec<String>,
}

/// Inline CTEs exactly as dbt does: each is ` name as (\n<sql>\n)`, joined by `, `. When the
/// statement starts with `with` (after comments; or `with recursive`), they go right after it
/// and its whitespace, followed by `, `; otherwise `with <ctes> ` goes before the first token.
pub fn inject_ctes(sql: &str, ctes: &[(String, String)]) -> String {
    if ctes.is_empty() {
        return sql.to_string();
    }
    let joined = ctes.iter().map(|(name, body)| cte(name, body)).collect::<Vec<_>>().join(", ");
    let first = sql.len() - sql.trim_start().len();
    let start = skip_ws_and_comments(sql);
    let rest = &sql[start..];
    if starts_with_word(rest, "with") {
        let mut after = start + 4;
        let ws = sql[after..].len() - sql[after..].trim_start().len();
        if starts_with_word(sql[after + ws..].trim_start(), "recursive") {
            after += ws + "recursive".len();
        }
        let ws = sql[after..].len() - sql[after..].trim_start().len();
        format!("{}{joined}, {}", &sql[..after + ws], &sql[after + ws..])
    } else {
        format!("{}with{joined} {}", &sql[..first], &sql[first..])
    }
}

/// One injected CTE as dbt writes it: ` name as (\n<sql>\n)`.
fn cte(name: &str, body: &str) -> String {
    format!(" {name} as (\n{body}\n)")
}

fn starts_with_word(s: &str, w: &str) -> bool {
    s.len() >= w.len()
        && s[..w.len()].eq_ignore_ascii_case(w)
        && s[w.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
}

fn skip_ws_and_comments(sql: &str) -> usize {
    let mut i = 0;
    loop {
        let rest = &sql[i..];
        let trimmed = rest.trim_start();
        i += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            i += trimmed.find('\n').map(|n| n + 1).unwrap_or(trimmed.len());
        } else if trimmed.starts_with("/*") {
            i += trimmed.find("*/").map(|n| n + 2).unwrap_or(trimmed.len());
        } else {
            return i;
        }
    }
}

/// Write `sql` to `<target>/<kind>/<rel_path>`, where `rel_path` is
/// [`Manifest::target_rel_path`] (`<package>/<file in the package>`, as dbt lays them out).
pub fn write_target_file(target_dir: &Path, kind: &str, rel_path: &str, sql: &str) -> std::io::Result<()> {
    write_target_file_in(&mut std::collections::HashSet::new(), target_dir, kind, rel_path, sql)
}

/// Like [`write_target_file`], remembering the folders already created (one writer, many files).
pub fn write_target_file_in(
    made: &mut std::collections::HashSet<std::path::PathBuf>,
    target_dir: &Path,
    kind: &str,
    rel_path: &str,
    sql: &str,
) -> std::io::Result<()> {
    let path = target_dir.join(kind).join(rel_path);
    if let Some(p) = path.parent() {
        if !made.contains(p) {
            std::fs::create_dir_all(p)?;
            made.insert(p.to_path_buf());
        }
    }
    // Leave an unchanged file alone: repeated compiles write nothing, and file watchers and
    // mtimes see only real changes.
    if std::fs::read(&path).is_ok_and(|old| old == sql.as_bytes()) {
        return Ok(());
    }
    std::fs::write(path, sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_before_or_into_with() {
        let ctes = vec![("__dbt__cte__a".to_string(), "select 1 as x".to_string())];
        assert_eq!(
            inject_ctes("select * from __dbt__cte__a", &ctes),
            "with __dbt__cte__a as (\nselect 1 as x\n) select * from __dbt__cte__a"
        );
        assert_eq!(
            inject_ctes("\n\n-- c\nWITH b as (select 2) select * from b", &ctes),
            "\n\n-- c\nWITH  __dbt__cte__a as (\nselect 1 as x\n), b as (select 2) select * from b"
        );
        assert_eq!(
            inject_ctes("with recursive r as (select 1) select 1", &ctes),
            "with recursive  __dbt__cte__a as (\nselect 1 as x\n), r as (select 1) select 1"
        );
        let two = vec![("a".to_string(), "x".to_string()), ("b".to_string(), "\ny".to_string())];
        assert_eq!(inject_ctes("-- c\nselect 1", &two), "with a as (\nx\n),  b as (\n\ny\n) -- c\nselect 1");
        assert_eq!(inject_ctes("withdrawn", &[]), "withdrawn");
    }
}
