//! Building one model, seed or snapshot, as a short sequence of named steps:
//! [`NodeBuild::render`] (compile the SQL, read a seed's columns or run a python model) ->
//! [`NodeBuild::stage`] (the relation the materialization writes: the node's own, or a staging
//! table when audits or an external location need one) -> [`NodeBuild::hooks`] (pre-hooks) ->
//! [`NodeBuild::check_contract`] -> [`NodeBuild::set_aside_referencing`] (foreign keys) ->
//! [`NodeBuild::materialize`] -> [`NodeBuild::audit`] (its tests against the staged rows) ->
//! [`NodeBuild::publish`] -> [`NodeBuild::hooks`] (post-hooks) -> [`NodeBuild::record`].
//! A step that fails returns the message of the node's error result; the steps before it have
//! cleaned up after themselves (a failed build keeps the relation's previous contents).

use super::{diag_message, error_result, external, foreign_keys, materialization_macro, python, Env, Progress};
use crate::parse::{Node, ResourceType};
use crate::results::{Event, NodeResult, Status};
use crate::templating::relation::Relation;
use crate::templating::{NodeContext, Overrides, Phase};
use minijinja::Value;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Instant;

/// The line in a target/run file that separates a staged build's statements from those that
/// published it (examples/replay.rs splits there).
pub const PUBLISHED: &str = "-- strata: published from the staged relation";

/// Build `node` (running `audits` against it before it is published); the node's result first,
/// then its audits'.
pub(super) fn run_node(env: &Env, node: &Node, audits: &[&Node], progress: &Progress) -> Vec<NodeResult> {
    let mut b = NodeBuild::new(env, node);
    if let Err(msg) = b.plan_external() {
        return vec![b.fail(msg)];
    }
    if node.is_microbatch() {
        return vec![super::microbatch::run(env, node, b.existing.as_deref(), b.full_refresh)];
    }
    let mut results = vec![];
    let built = (|| {
        b.render()?;
        b.stage(!audits.is_empty())?;
        b.hooks("pre-hook")?;
        b.check_contract()?;
        b.set_aside_referencing()?;
        let response = b.materialize()?;
        results = b.audit(audits, progress);
        b.publish(&results)?;
        b.hooks("post-hook")?;
        Ok(response)
    })();
    let first = match built {
        Ok(response) => b.record(response),
        Err(msg) => b.fail(msg),
    };
    results.insert(0, first);
    results
}

/// One node's build in progress: what the steps share.
struct NodeBuild<'a> {
    env: &'a Env<'a>,
    node: &'a Node,
    t0: Instant,
    start: chrono::DateTime<chrono::Utc>,
    /// Its path under target/compiled and target/run.
    rel_path: String,
    /// What the relation is before the build (`table`, `view`), if it exists.
    existing: Option<String>,
    /// The materialization that builds it (`table` for an external model).
    mat: String,
    full_refresh: bool,
    is_incremental: bool,
    /// An external model's files: built as a table, written out, published as a view over them.
    external: Option<external::ExternalPlan>,
    /// Context the render step adds for the materialization (`sql`, a seed's `columns`, ...).
    extra: Vec<(String, Value)>,
    /// What the materialization builds from (its context's `sql`) when it is not the compiled
    /// SQL: a python model's staged result. See [`Self::materialized_sql`].
    sql: Option<String>,
    /// What the materialization writes over (its context's `existing`), and its scratch table
    /// (`tmp_relation`): set by the stage step.
    write_existing: Option<String>,
    tmp: Option<Relation>,
    /// The Jinja context of the hooks and the materialization, built when a template needs it.
    ctx: Option<NodeContext>,
    compiled_sql: Option<String>,
    seed_rows: Option<usize>,
    /// A python model's staged result: read by the materialization, removed after it.
    py_result: Option<python::PyResult>,
    /// Where the materialization writes when it is not the relation itself.
    staged: Option<Relation>,
    /// Whether it has foreign keys and is a table: built with its constraints.
    fk_model: bool,
    /// Tables referencing this one by foreign key, restored when the build ends.
    restore: Option<foreign_keys::RestoreOnDrop<'a>>,
    /// Statements the hooks and the materialization ran (target/run).
    statements: Vec<String>,
}

impl<'a> NodeBuild<'a> {
    fn new(env: &'a Env<'a>, node: &'a Node) -> Self {
        let opts = env.opts;
        let existing = opts.existing.get(&node.relation.catalog_key()).cloned();
        let mat = node.materialized();
        let full_refresh = node.config.get_bool("full_refresh").unwrap_or(opts.full_refresh);
        let is_incremental = mat == "incremental" && existing.as_deref() == Some("table") && !full_refresh;
        NodeBuild {
            env,
            node,
            t0: Instant::now(),
            start: chrono::Utc::now(),
            rel_path: env.compiler.manifest().target_rel_path(node),
            existing,
            mat,
            full_refresh,
            is_incremental,
            external: None,
            extra: vec![],
            sql: None,
            write_existing: None,
            tmp: None,
            ctx: None,
            compiled_sql: None,
            seed_rows: None,
            py_result: None,
            staged: None,
            fk_model: false,
            restore: None,
            statements: vec![],
        }
    }

    /// An external model is built as a table (staged), then written to its files and published
    /// as a view over them.
    fn plan_external(&mut self) -> Result<(), String> {
        if self.mat == "external" {
            let opts = self.env.opts;
            let plan =
                external::plan(self.node, &opts.external_root, &opts.project_root).map_err(|d| diag_message(&d))?;
            self.external = Some(plan);
            self.mat = "table".into();
            self.is_incremental = false;
        }
        Ok(())
    }

    /// The node's error result (rolling back what its connection has open).
    fn fail(&self, msg: String) -> NodeResult {
        self.env.conn.rollback();
        let mut r = error_result(
            self.node,
            self.env.thread_id,
            msg,
            self.t0.elapsed().as_secs_f64(),
            self.compiled_sql.clone(),
        );
        r.timing = Some((self.start, chrono::Utc::now()));
        r
    }

    fn drop_staged(&self) {
        if let Some(st) = &self.staged {
            let _ = self.env.conn.execute(&format!("drop table if exists {}", st.render()));
        }
    }

    /// Render: a seed's columns, a python model's result, or the compiled SQL.
    fn render(&mut self) -> Result<(), String> {
        let (node, env) = (self.node, self.env);
        if node.resource_type == ResourceType::Seed {
            let text = std::fs::read_to_string(&node.file_path)
                .map_err(|e| format!("cannot read {}: {e}", node.original_file_path))?;
            let delim = node.config.get_str("delimiter").unwrap_or_else(|| ",".into());
            let delim_byte = delim.as_bytes().first().copied().unwrap_or(b',');
            let (cols, rows) = crate::seeds::columns(&text, delim_byte, &node.config, node.relation.dialect)
                .map_err(|e| format!("Compilation Error in seed {} ({}): {e}", node.name, node.original_file_path))?;
            self.seed_rows = Some(rows);
            self.extra.push(("columns".into(), Value::from_serialize(&cols)));
            self.extra.push((
                "csv_path".into(),
                Value::from(node.relation.dialect.literal(&node.file_path.to_string_lossy())),
            ));
            self.extra.push(("delimiter".into(), Value::from(node.relation.dialect.literal(&delim))));
            self.extra.push(("parallel".into(), Value::from(!crate::seeds::quoted_newlines(&text))));
            if node.relation.dialect.inline_seeds {
                let batch = node.config.get("batch_size").and_then(|v| v.as_u64()).unwrap_or(1000) as usize;
                let batches =
                    crate::seeds::value_batches(&text, delim_byte, node.relation.dialect, batch).map_err(|e| {
                        format!("Compilation Error in seed {} ({}): {e}", node.name, node.original_file_path)
                    })?;
                self.extra.push(("row_batches".into(), Value::from(batches)));
            }
        } else if node.language == crate::parse::Language::Python {
            let mat = node.materialized();
            if !crate::pymodel::MATERIALIZATIONS.contains(&mat.as_str()) {
                self.compiled_sql = Some(node.raw_code.to_string());
                return Err(format!(
                    "Runtime Error in model {} ({})\n  Materialization \"materialization_{mat}_default\" only supports languages ['sql']; got \"python\"",
                    node.name, node.original_file_path
                ));
            }
            let opts = env.opts;
            let staged = python::run(
                env.compiler.manifest(),
                node,
                env.conn.as_ref(),
                &opts.python,
                &opts.module_paths,
                &opts.project_root,
                self.is_incremental,
            );
            self.compiled_sql = Some(node.raw_code.to_string());
            let r = staged?;
            self.sql = Some(r.sql.clone());
            env.compiler.record(
                &node.unique_id,
                &crate::compile::CompiledNode { sql: node.raw_code.to_string(), ..Default::default() },
            );
            self.py_result = Some(r);
        } else {
            let c = env
                .compiler
                .compile(node, Phase::Run, Some(env.conn.clone()), self.is_incremental)
                .map_err(|d| diag_message(&d))?;
            env.files.write([("compiled", self.rel_path.clone(), c.sql.clone())]);
            self.compiled_sql = Some(c.sql);
        }
        Ok(())
    }

    /// Stage: decide where the materialization writes (the relation itself, or its staging
    /// table when there are audits or an external location) and prepare it.
    fn stage(&mut self, audited: bool) -> Result<(), String> {
        let (node, env) = (self.node, self.env);
        let rel = &node.relation;
        self.staged = (audited || self.external.is_some()).then(|| Relation {
            identifier: Some(format!("{}__strata_audit", rel.identifier.as_deref().unwrap_or(""))),
            kind: Some("table".into()),
            ..rel.clone()
        });
        let write_to = self.staged.as_ref().unwrap_or(rel);
        self.write_existing = self.existing.clone();
        if let Some(st) = &self.staged {
            let mut prep = format!("drop table if exists {}", st.render());
            if self.is_incremental {
                prep.push_str(&format!(";\ncreate table {} as select * from {}", st.render(), rel.render()));
            } else {
                self.write_existing = None;
            }
            env.conn.execute(&prep).map_err(|e| format!("Database Error preparing the audit of {}: {e}", node.name))?;
            self.statements.push(prep);
        }
        self.tmp = Some(Relation {
            identifier: Some(format!("{}__strata_tmp", write_to.identifier.as_deref().unwrap_or(""))),
            kind: Some("table".into()),
            ..write_to.clone()
        });
        // Foreign keys (see run::foreign_keys): a table that has them is built under its final
        // name, or staged without them and given them when published.
        self.fk_model = foreign_keys::has_foreign_keys(node) && matches!(self.mat.as_str(), "table" | "incremental");
        Ok(())
    }

    /// The SQL the materialization builds from: a python model's staged result, or the compiled
    /// SQL (none for a seed).
    fn materialized_sql(&self) -> Option<&str> {
        self.sql.as_deref().or(self.compiled_sql.as_deref())
    }

    /// The hooks' and the materialization's context (`this` is the relation itself; the
    /// materialization sets it to where it writes).
    fn context(&mut self) -> &NodeContext {
        let ctx = match self.ctx.take() {
            Some(ctx) => ctx,
            None => {
                let write_to = self.staged.as_ref().unwrap_or(&self.node.relation);
                let mut extra = std::mem::take(&mut self.extra);
                if let Some(sql) = self.materialized_sql() {
                    extra.push(("sql".into(), Value::from(sql)));
                }
                if let Some(code) = &self.compiled_sql {
                    extra.push(("compiled_code".into(), Value::from(code.as_str())));
                }
                let existing_rel = self
                    .write_existing
                    .as_ref()
                    .map(|k| Relation { kind: Some(k.clone()), ..write_to.clone() }.into_value())
                    .unwrap_or(Value::from(()));
                extra.push(("existing".into(), existing_rel));
                let tmp = self.tmp.clone().map(Relation::into_value).unwrap_or(Value::from(()));
                extra.push(("tmp_relation".into(), tmp));
                extra.push(("full_refresh".into(), Value::from(self.full_refresh)));
                extra.push(("build_in_place".into(), Value::from(false)));
                extra.push(("defer_constraints".into(), Value::from(false)));
                let mut ctx = self.env.compiler.node_context(self.node, self.is_incremental);
                ctx.extra = extra;
                ctx
            }
        };
        self.ctx.insert(ctx)
    }

    /// The node's `pre-hook`s or `post-hook`s, in order (`this` is the relation itself). What
    /// they run is recorded with the node's statements (target/run is written after the
    /// materialization, so it holds the pre-hooks').
    fn hooks(&mut self, kind: &str) -> Result<(), String> {
        let (node, env) = (self.node, self.env);
        let hooks = node.config.hooks(kind);
        if hooks.is_empty() {
            return Ok(());
        }
        let (engine, globals) = (env.compiler.engine(), env.compiler.globals());
        for (i, hook) in hooks.iter().enumerate() {
            let name = format!("{} ({kind} {})", node.original_file_path, i + 1);
            let ctx = self.context().clone();
            let r = engine
                .render(&name, hook, Phase::Run, globals, ctx, Some(env.conn.clone()))
                .map_err(|d| diag_message(&d))?;
            self.statements.extend(r.statements);
            if !r.sql.trim().is_empty() {
                env.conn.execute(&r.sql).map_err(|e| {
                    format!("Database Error in {kind} of {} {}: {e}", node.resource_type.as_str(), node.name)
                })?;
                self.statements.push(r.sql);
            }
        }
        Ok(())
    }

    /// An enforced contract: the SQL's columns are the declared ones, or nothing is built.
    fn check_contract(&self) -> Result<(), String> {
        let node = self.node;
        let contracted = node.resource_type == ResourceType::Model
            && node.language == crate::parse::Language::Sql
            && crate::parse::contract_enforced(node)
            && matches!(self.mat.as_str(), "table" | "view" | "incremental");
        match (contracted, &self.compiled_sql) {
            (true, Some(sql)) => super::contract::check(self.env.conn.as_ref(), node, sql),
            _ => Ok(()),
        }
    }

    /// A table that foreign keys point at has the tables that reference it set aside while it
    /// is replaced (restored when the build ends).
    fn set_aside_referencing(&mut self) -> Result<(), String> {
        let (node, env) = (self.node, self.env);
        let opts = env.opts;
        let rel = &node.relation;
        let lower = |o: &Option<String>| o.as_deref().unwrap_or_default().to_lowercase();
        let key = (lower(&rel.database), lower(&rel.schema), lower(&rel.identifier));
        if self.existing.as_deref() == Some("table") && !self.is_incremental && opts.fk_targets.contains(&key) {
            let selected = |id: &str| opts.selected.contains(id);
            let dropped = foreign_keys::drop_dependents(
                env.conn.as_ref(),
                env.compiler.manifest(),
                node,
                &selected,
                opts.full_refresh,
            )?;
            self.restore = Some(foreign_keys::RestoreOnDrop { conn: env.conn.as_ref(), dropped });
        }
        Ok(())
    }

    /// Materialize: call the materialization macro (`this` is where it writes), or run the
    /// statement a built-in one would render (`run::builtin`); returns the database's response
    /// to the main statement.
    fn materialize(&mut self) -> Result<Json, String> {
        let (node, env) = (self.node, self.env);
        let write_to = self.staged.clone().unwrap_or_else(|| node.relation.clone());
        let build_in_place = self.fk_model && self.staged.is_none();
        let fast = match (self.materialized_sql(), &self.tmp) {
            (Some(sql), Some(tmp)) => {
                let t = super::builtin::Target { this: &write_to, existing: self.write_existing.as_deref(), tmp, sql };
                super::builtin::statement(env.compiler.engine(), node, &self.mat, build_in_place, &t)
            }
            _ => None,
        };
        let response = if let Some(sql) = fast {
            match env.conn.execute(&sql) {
                Ok(r) => {
                    self.statements.push(sql);
                    serde_json::to_value(r).unwrap_or(Json::Null)
                }
                Err(e) => {
                    self.drop_staged();
                    return Err(self.db_error(&e));
                }
            }
        } else {
            let Some(mac) = materialization_macro(env.compiler, &self.mat) else {
                return Err(format!("unknown materialization '{}'", self.mat));
            };
            let defer_constraints = self.fk_model && self.staged.is_some();
            let mut mat_ctx = self.context().clone();
            mat_ctx.this = Some(write_to);
            for (k, v) in mat_ctx.extra.iter_mut() {
                match k.as_str() {
                    "build_in_place" => *v = Value::from(build_in_place),
                    "defer_constraints" => *v = Value::from(defer_constraints),
                    _ => {}
                }
            }
            let (engine, globals) = (env.compiler.engine(), env.compiler.globals());
            match engine.call_macro(&mac, vec![], Phase::Run, globals, mat_ctx, Some(env.conn.clone())) {
                Ok((_, r)) => {
                    self.statements.extend(r.statements);
                    r.main_response.unwrap_or(json!({"_message": "OK"}))
                }
                Err(d) => {
                    let msg = if d.code == "E0501" {
                        self.db_error(&d.message.trim_start_matches("database error: "))
                    } else {
                        diag_message(&d)
                    };
                    self.drop_staged();
                    return Err(msg);
                }
            }
        };
        // A staged build's file is written when it is published (or not).
        if self.staged.is_none() {
            self.write_run_file(None);
        }
        env.compiler.record_built(&node.unique_id);
        // The python model's staged files have been read into its table.
        self.py_result = None;
        Ok(response)
    }

    /// The message of a statement of the materialization that the database refused.
    fn db_error(&self, e: &dyn std::fmt::Display) -> String {
        let node = self.node;
        format!(
            "Database Error in {} {} ({})\n  {e}\n  compiled code at {}",
            node.resource_type.as_str(),
            node.name,
            node.original_file_path,
            self.env.opts.target_dir.join("compiled").join(&self.rel_path).display()
        )
    }

    /// Audit: run the node's tests against its staged rows (nothing without a staging table).
    fn audit(&self, audits: &[&Node], progress: &Progress) -> Vec<NodeResult> {
        let Some(st) = &self.staged else { return vec![] };
        let overrides = Arc::new(Overrides {
            relations: [(self.node.unique_id.clone(), st.clone())].into_iter().collect(),
            ..Default::default()
        });
        let mut results = vec![];
        for t in audits {
            let index = (progress.take_index)();
            progress.reporter.event(Event::Started { index, total: progress.total, node: t });
            let r = super::run_test(self.env, t, Some(overrides.clone()));
            progress.reporter.event(Event::Finished { index, total: progress.total, node: t, result: &r });
            results.push(r);
        }
        results
    }

    /// Publish the staged rows under the relation's name, unless an audit failed (then the
    /// staging table is dropped and the relation keeps its previous contents). Nothing to do
    /// for a node built in place.
    fn publish(&mut self, audit_results: &[NodeResult]) -> Result<(), String> {
        let (node, env) = (self.node, self.env);
        let conn = &env.conn;
        let rel = &node.relation;
        let Some(st) = self.staged.clone() else { return Ok(()) };
        let failed: Vec<&NodeResult> =
            audit_results.iter().filter(|r| matches!(r.status, Status::Fail | Status::Error)).collect();
        if !failed.is_empty() {
            let mut msg = format!(
                "{} {} was not published: {} audit test{} failed, so {} keeps its previous contents",
                node.resource_type.as_str(),
                node.name,
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                rel.render()
            );
            for r in &failed {
                let name = r.unique_id.split('.').nth(2).unwrap_or(&r.unique_id);
                msg.push_str(&format!("\n  {name}: {}", r.message));
                if let Some(sql) = &r.compiled_code {
                    if let Ok(t) =
                        conn.query(&format!("select * from (\n{}\n) as failing limit 5", sql.trim_end()), None)
                    {
                        for line in t.format().lines() {
                            msg.push_str(&format!("\n    {line}"));
                        }
                    }
                }
            }
            self.drop_staged();
            self.write_run_file(None);
            return Err(msg);
        }
        if let Some(plan) = &self.external {
            return match external::publish(conn.as_ref(), plan, &st.render(), &rel.render(), self.existing.as_deref()) {
                Ok(sqls) => {
                    self.write_run_file(Some(&sqls.join(";\n\n")));
                    env.compiler.record_built(&node.unique_id);
                    Ok(())
                }
                Err(e) => {
                    self.drop_staged();
                    self.write_run_file(None);
                    Err(format!(
                        "Runtime Error in model {} ({})\n  cannot write external location '{}': {e}",
                        node.name, node.original_file_path, plan.location
                    ))
                }
            };
        }
        let mut publish = String::new();
        if let Some(kind) = &self.existing {
            publish.push_str(&format!(
                "drop {} if exists {};\n",
                if kind == "view" { "view" } else { "table" },
                rel.render()
            ));
        }
        if self.fk_model {
            // Created under its name, with its constraints, from the audited rows.
            let model = node.to_json();
            let mut ddl = crate::adapter::constraints::render_columns(&model["columns"]);
            ddl.extend(crate::adapter::constraints::render_model(&model["constraints"]));
            let cols = node
                .columns
                .iter()
                .map(|c| if c.quote == Some(true) { rel.dialect.quote(&c.name) } else { c.name.clone() })
                .collect::<Vec<_>>()
                .join(", ");
            publish.push_str(&format!(
                "create table {rel} (\n    {}\n);\ninsert into {rel} ({cols}) select {cols} from {st};\ndrop table {st}",
                ddl.join(",\n    "),
                rel = rel.render(),
                st = st.render()
            ));
        } else {
            publish.push_str(&rel.dialect.rename(
                "table",
                &st.render(),
                st.schema.as_deref().unwrap_or(""),
                rel.identifier.as_deref().unwrap_or(""),
            ));
        }
        let publish = rel.dialect.transaction(&publish);
        if let Err(e) = conn.execute(&publish) {
            conn.rollback();
            self.drop_staged();
            self.write_run_file(None);
            return Err(format!("Database Error publishing {}: {e}", node.name));
        }
        self.write_run_file(Some(&publish));
        Ok(())
    }

    /// target/run/<path>: the statements the node ran, then, below [`PUBLISHED`], those that
    /// published its staged rows (after its audit tests passed).
    fn write_run_file(&self, published: Option<&str>) {
        let mut text = self.statements.join(";\n\n");
        if let Some(p) = published {
            text.push_str(";\n\n");
            text.push_str(PUBLISHED);
            text.push('\n');
            text.push_str(p);
        }
        self.env.files.write([("run", self.rel_path.clone(), text)]);
    }

    /// Record: the node's success result.
    fn record(&mut self, response: Json) -> NodeResult {
        let message = match self.seed_rows {
            Some(n) => format!("INSERT {n}"),
            None => response.get("_message").and_then(Json::as_str).unwrap_or("OK").to_string(),
        };
        NodeResult {
            unique_id: self.node.unique_id.clone(),
            status: Status::Success,
            message,
            execution_time: self.t0.elapsed().as_secs_f64(),
            adapter_response: response,
            thread_id: self.env.thread_id.to_string(),
            timing: Some((self.start, chrono::Utc::now())),
            compiled_code: self.compiled_sql.take(),
            relation_name: Some(self.node.relation.render()),
            failures: None,
            batch_results: None,
        }
    }
}
