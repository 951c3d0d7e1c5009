//! Unit tests (`unit_tests:` in property YAML): a model's SQL run against literal input rows, its
//! output compared with the expected rows. Inputs replace `ref()`/`source()`/`this` as CTEs, so
//! nothing upstream has to exist in the database; column types come from the upstream node's
//! schema (seed inference, declared source columns, or the upstream model's own SQL run on empty
//! inputs), so literals compare as the real columns would.
//! In: a unit test node. Out: pass, or a row diff.

use crate::adapter::Connection;
use crate::adapter::Dialect;
use crate::compile::Compiler;
use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::parse::{Node, ResourceType};
use crate::project::yaml::YPath;
use crate::results::{Clock, NodeResult, Status};
use crate::templating::relation::Relation;
use crate::templating::{Overrides, Phase};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One `given:` entry or the `expect:` block, understood.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `ref('x')`, `source('a', 'b')` or `this` (empty for expect).
    pub input: String,
    /// `dict`, `csv` or `sql`.
    pub format: String,
    /// Rows for dict and csv formats: column → value (strings for csv).
    pub rows: Vec<Map<String, Json>>,
    /// Column names in first-seen order.
    pub columns: Vec<String>,
    /// The SQL for the sql format.
    pub sql: Option<String>,
}

/// The first column of a fixture's rows that is not one of `known`, located at its key under
/// `at` (`rows` as a whole for csv rows or rows from a fixture file), with a did-you-mean.
fn unknown_row_column(
    fx: &Fixture,
    known: &[&str],
    at: &YPath,
    from_file: bool,
) -> Option<(String, YPath, Option<String>)> {
    for (j, r) in fx.rows.iter().enumerate() {
        if let Some(c) = r.keys().find(|c| !known.iter().any(|k| k.eq_ignore_ascii_case(c))) {
            let path = if from_file || fx.format == "csv" { at.key("rows") } else { at.key("rows").index(j).key(c) };
            let help = did_you_mean(c, known.iter().copied()).or(Some(format!("its columns are {}", known.join(", "))));
            return Some((c.clone(), path, help));
        }
    }
    None
}

/// Read the rows of a given/expect entry (inline or from a fixture file under test-paths).
fn read_fixture(project: &ProjectRef, entry: &Map<String, Json>) -> Result<Fixture, String> {
    let format = entry.get("format").and_then(Json::as_str).unwrap_or("dict").to_string();
    let input = entry.get("input").and_then(Json::as_str).unwrap_or_default().trim().to_string();
    let fixture_text = match entry.get("fixture").and_then(Json::as_str) {
        Some(name) => {
            let ext = if format == "sql" { "sql" } else { "csv" };
            let found = project.tests.iter().find_map(|tp| {
                let dir = project.root.join(tp).join("fixtures");
                walkdir::WalkDir::new(&dir).into_iter().filter_map(Result::ok).find(|e| {
                    e.path().file_stem().is_some_and(|s| s == name) && e.path().extension().is_some_and(|x| x == ext)
                })
            });
            match found {
                Some(e) => {
                    Some(std::fs::read_to_string(e.path()).map_err(|err| format!("cannot read fixture: {err}"))?)
                }
                None => return Err(format!("fixture '{name}.{ext}' not found under tests/fixtures/")),
            }
        }
        None => None,
    };
    let mut fx = Fixture { input, format: format.clone(), rows: vec![], columns: vec![], sql: None };
    match format.as_str() {
        "dict" => {
            let rows = entry.get("rows").cloned().unwrap_or(Json::Array(vec![]));
            let Json::Array(rows) = rows else { return Err("`rows` must be a list of mappings".into()) };
            for r in rows {
                let Json::Object(r) = r else { return Err("each row must be a mapping of column: value".into()) };
                for k in r.keys() {
                    if !fx.columns.contains(k) {
                        fx.columns.push(k.clone());
                    }
                }
                fx.rows.push(r);
            }
        }
        "csv" => {
            let text = match fixture_text {
                Some(t) => t,
                None => {
                    entry.get("rows").and_then(Json::as_str).map(str::to_string).ok_or("csv rows must be a string")?
                }
            };
            let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
            let headers: Vec<String> =
                rdr.headers().map_err(|e| format!("bad csv: {e}"))?.iter().map(str::to_string).collect();
            fx.columns = headers.clone();
            for rec in rdr.records() {
                let rec = rec.map_err(|e| format!("bad csv: {e}"))?;
                let mut row = Map::new();
                for (h, v) in headers.iter().zip(rec.iter()) {
                    row.insert(
                        h.clone(),
                        if v == "null" || v.is_empty() { Json::Null } else { Json::String(v.into()) },
                    );
                }
                fx.rows.push(row);
            }
        }
        "sql" => {
            let text = match fixture_text {
                Some(t) => t,
                None => {
                    entry.get("rows").and_then(Json::as_str).map(str::to_string).ok_or("sql rows must be a string")?
                }
            };
            fx.sql = Some(text);
        }
        other => return Err(format!("unknown format '{other}'; use dict, csv or sql")),
    }
    Ok(fx)
}

/// A value as a SQL literal cast to `ty` (csv strings are cast too).
pub fn literal(d: &Dialect, v: &Json, ty: &str) -> String {
    let raw = match v {
        Json::Null => return format!("cast(null as {ty})"),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => d.literal(s),
        other => d.literal(&other.to_string()),
    };
    format!("cast({raw} as {ty})")
}

/// A unit test ready to run: the model's SQL on the given inputs, and the expected rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The model's SQL with inputs as CTEs, projected on the expected columns.
    pub actual_sql: String,
    /// The expected rows as SQL, cast to the actual column types.
    pub expected_sql: String,
}

/// A column name and type (`None` when unknown).
type Schema = Vec<(String, Option<String>)>;

/// Infers the output columns of nodes without building anything.
pub struct Schemas<'a> {
    compiler: &'a Compiler<'a>,
    conn: Arc<dyn Connection>,
    cache: Arc<Mutex<HashMap<String, Option<Schema>>>>,
    /// The database's columns, read once, consulted first when set (`strata test`, where
    /// everything tested has been built).
    catalog_first: Option<HashMap<(String, String, String), Schema>>,
}

impl<'a> Schemas<'a> {
    /// A schema inferrer on one connection.
    pub fn new(compiler: &'a Compiler<'a>, conn: Arc<dyn Connection>) -> Schemas<'a> {
        Schemas { compiler, conn, cache: Arc::new(Mutex::new(HashMap::new())), catalog_first: None }
    }

    /// Another inferrer on its own connection that shares this one's results (for threads).
    pub fn sibling(&self, conn: Arc<dyn Connection>) -> Schemas<'a> {
        Schemas { compiler: self.compiler, conn, cache: self.cache.clone(), catalog_first: self.catalog_first.clone() }
    }

    /// Consult the database's catalog (read now, in one query) before inferring.
    pub fn with_catalog(mut self, tables: &[&Relation]) -> Self {
        // Only the tables asked about, in one query.
        let names: Vec<&str> = tables.iter().filter_map(|r| r.identifier.as_deref()).collect();
        let mut map: HashMap<(String, String, String), Schema> = HashMap::new();
        if let Ok(found) = self.conn.columns_by_name(&names) {
            for (key, cols) in found {
                map.insert(key, cols.into_iter().map(|c| (c.name, Some(c.data_type))).collect());
            }
        }
        self.catalog_first = Some(map);
        self
    }

    /// The columns of a node or source: seeds from their CSV, sources from their declared
    /// columns (or the catalog), models from their SQL run on empty typed inputs. None when
    /// it cannot be known.
    pub fn of(&self, id: &str) -> Option<Schema> {
        if let Some(s) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return s.clone();
        }
        let s = self.infer(id);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), s.clone());
        s
    }

    fn catalog(&self, rel: &Relation) -> Option<Schema> {
        let cols = self
            .conn
            .columns(
                rel.database.as_deref().unwrap_or(""),
                rel.schema.as_deref().unwrap_or(""),
                rel.identifier.as_deref().unwrap_or(""),
            )
            .ok()?;
        (!cols.is_empty()).then(|| cols.into_iter().map(|c| (c.name, Some(c.data_type))).collect())
    }

    fn infer(&self, id: &str) -> Option<Schema> {
        let m = self.compiler.manifest();
        if let Some(cat) = &self.catalog_first {
            let rel = m.nodes.get(id).map(|n| &n.relation).or_else(|| m.sources.get(id).map(|s| &s.relation));
            if let Some(r) = rel {
                let key = (
                    r.database.clone().unwrap_or_default(),
                    r.schema.clone().unwrap_or_default(),
                    r.identifier.clone().unwrap_or_default(),
                );
                if let Some(s) = cat.get(&key) {
                    return Some(s.clone());
                }
            }
        }
        if let Some(s) = m.sources.get(id) {
            let declared: Schema = s.table.columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
            if !declared.is_empty() && declared.iter().all(|(_, t)| t.is_some()) {
                return Some(declared);
            }
            return self.catalog(&s.relation).or((!declared.is_empty()).then_some(declared));
        }
        let n = m.nodes.get(id)?;
        match n.resource_type {
            ResourceType::Seed => {
                let text = std::fs::read_to_string(&n.file_path).ok()?;
                let delim = n.config.get_str("delimiter").unwrap_or_else(|| ",".into());
                let (cols, _) = crate::seeds::columns(
                    &text,
                    delim.as_bytes().first().copied().unwrap_or(b','),
                    &n.config,
                    n.relation.dialect,
                )
                .ok()?;
                Some(cols.into_iter().map(|c| (c.name, Some(c.r#type))).collect())
            }
            ResourceType::Model => {
                let mut ctes = vec![];
                let mut rels = HashMap::new();
                for p in &n.depends_on {
                    let pn = m.nodes.get(p);
                    if pn.is_some_and(|x| x.materialized() == "ephemeral") {
                        continue;
                    }
                    let schema = self.of(p)?;
                    let name = format!("__strata_empty__{}", p.rsplit('.').next().unwrap_or(p));
                    ctes.push((name.clone(), empty_select(self.compiler.engine().dialect, &schema)));
                    rels.insert(p.clone(), Relation::named_cte(self.compiler.engine().dialect, &name));
                }
                let overrides = Overrides { relations: rels, ..Default::default() };
                let sql = self.render(n, overrides, false, None).ok()?;
                let sql = crate::compile::inject_ctes(&sql, &ctes);
                self.describe(&sql).ok().or_else(|| self.catalog(&n.relation))
            }
            _ => None,
        }
    }

    fn render(
        &self,
        n: &Node,
        o: Overrides,
        is_incremental: bool,
        this: Option<Relation>,
    ) -> Result<String, Diagnostic> {
        let mut ctx = self.compiler.node_context(n, is_incremental);
        if let Some(t) = this {
            ctx.this = Some(t);
        }
        ctx.overrides = Some(Arc::new(o));
        self.compiler.compile_in(n, ctx, Phase::Compile, Some(self.conn.clone())).map(|c| c.sql)
    }

    /// Column names and SQL types of a query, without running it.
    pub fn describe(&self, sql: &str) -> Result<Schema, String> {
        let query = format!("select * from (\n{}\n) as strata_describe", sql.trim_end().trim_end_matches(';'));
        let cols = self.conn.describe(&query).map_err(|e| e.to_string())?;
        Ok(cols.into_iter().map(|c| (c.name, Some(c.data_type))).collect())
    }
}

fn empty_select(d: &Dialect, schema: &Schema) -> String {
    let cols: Vec<String> = schema
        .iter()
        .map(|(c, t)| format!("cast(null as {}) as {}", t.as_deref().unwrap_or("string"), d.quote(c)))
        .collect();
    format!("select {} where false", cols.join(", "))
}

fn rows_select(d: &Dialect, rows: &[Map<String, Json>], schema: &Schema) -> String {
    if rows.is_empty() {
        return empty_select(d, schema);
    }
    rows.iter()
        .map(|r| {
            let cols: Vec<String> = schema
                .iter()
                .map(|(c, t)| {
                    let v = r.get(c).unwrap_or(&Json::Null);
                    match t {
                        Some(t) => format!("{} as {}", literal(d, v, t), d.quote(c)),
                        None => format!("{} as {}", untyped(d, v), d.quote(c)),
                    }
                })
                .collect();
            format!("select {}", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\nunion all\n")
}

fn untyped(d: &Dialect, v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => d.literal(s),
        other => d.literal(&other.to_string()),
    }
}

/// A problem with a unit test: message, where in its YAML (relative to the test's entry), help.
pub type UnitProblem = (String, YPath, Option<String>);

/// Build the SQL of a unit test, checking its inputs and expected columns against the schemas.
pub fn prepare(schemas: &Schemas, node: &Node, root: &Path) -> Result<Prepared, UnitProblem> {
    let compiler = schemas.compiler;
    let m = compiler.manifest();
    let here = YPath::default();
    let info = node.test.as_ref().ok_or_else(|| ("not a unit test".to_string(), here.clone(), None))?;
    let decl = info.unit.clone().unwrap_or(Json::Null);
    let model_id = info.attached_node.clone().unwrap_or_default();
    let model = m
        .nodes
        .get(&model_id)
        .ok_or_else(|| ("its model is not in the project".to_string(), here.key("model"), None))?;
    let project = ProjectRef { root, tests: &compiler.globals().test_paths };
    // Overrides.
    let mut o = Overrides::default();
    let ov = decl.get("overrides").cloned().unwrap_or(Json::Null);
    if let Some(Json::Object(v)) = ov.get("vars") {
        o.vars = v.clone();
    }
    if let Some(Json::Object(v)) = ov.get("env_vars") {
        o.env_vars = v
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect();
    }
    let mut is_incremental = false;
    if let Some(Json::Object(v)) = ov.get("macros") {
        for (k, val) in v {
            if k == "is_incremental" {
                is_incremental = val.as_bool().unwrap_or(false);
            } else {
                o.macros.insert(k.clone(), val.clone());
            }
        }
    }
    // Inputs.
    let mut ctes: Vec<(String, String)> = vec![];
    let mut this = None;
    let resolver = &compiler.globals().resolver;
    let given = decl.get("given").and_then(Json::as_array).cloned().unwrap_or_default();
    for (i, g) in given.iter().enumerate() {
        let gp = here.key("given").index(i);
        let Json::Object(entry) = g else { return Err(("each `given` entry must be a mapping".into(), gp, None)) };
        let fx = read_fixture(&project, entry).map_err(|e| (e, gp.clone(), None))?;
        let (id, cte_name) = if fx.input == "this" {
            (model_id.clone(), "__dbt__cte__this".to_string())
        } else {
            let (refs, sources) = calls_in(&fx.input);
            let id = if let Some(r) = refs.first() {
                resolver.node(r, &model.package_name).map(|x| x.unique_id.clone())
            } else if let Some((s, t)) = sources.first() {
                resolver.sources.get(&(s.clone(), t.clone())).map(|x| x.unique_id.clone())
            } else {
                None
            };
            let Some(id) = id else {
                let names: Vec<String> = model
                    .refs
                    .iter()
                    .map(|r| format!("ref('{}')", r.name))
                    .chain(model.sources.iter().map(|(s, t)| format!("source('{s}', '{t}')")))
                    .collect();
                return Err((
                    format!(
                        "input {} is not something '{}' reads",
                        if fx.input.is_empty() { "(missing)" } else { &fx.input },
                        model.name
                    ),
                    gp.key("input"),
                    did_you_mean(&fx.input, names.iter().map(String::as_str))
                        .or(Some("inputs are ref('...'), source('...', '...') or this".into())),
                ));
            };
            let short = id.rsplit('.').next().unwrap_or(&id).to_string();
            (id, format!("__dbt__cte__{short}"))
        };
        let body = if let Some(sql) = &fx.sql {
            sql.trim().trim_end_matches(';').to_string()
        } else {
            let schema = schemas.of(&id).unwrap_or_else(|| fx.columns.iter().map(|c| (c.clone(), None)).collect());
            let known: Vec<&str> = schema.iter().map(|(c, _)| c.as_str()).collect();
            if let Some((c, at, help)) = unknown_row_column(&fx, &known, &gp, entry.contains_key("fixture")) {
                return Err((format!("input {} has no column '{c}'", fx.input), at, help));
            }
            rows_select(node.relation.dialect, &fx.rows, &schema)
        };
        if fx.input == "this" {
            this = Some(Relation::named_cte(node.relation.dialect, &cte_name));
        } else {
            o.relations.insert(id, Relation::named_cte(node.relation.dialect, &cte_name));
        }
        ctes.push((cte_name, body));
    }
    let sql = schemas.render(model, o, is_incremental, this).map_err(|d| (d.message, here.key("model"), d.help))?;
    let model_sql = crate::compile::inject_ctes(&sql, &ctes);
    let actual_schema = schemas
        .describe(&model_sql)
        .map_err(|e| (format!("the model's SQL fails on the given inputs: {e}"), here.key("given"), None))?;
    // Expected.
    let ep = here.key("expect");
    let Some(Json::Object(expect)) = decl.get("expect") else {
        return Err(("`expect` must be a mapping".into(), ep, None));
    };
    let fx = read_fixture(&project, expect).map_err(|e| (e, ep.clone(), None))?;
    let known: Vec<&str> = actual_schema.iter().map(|(c, _)| c.as_str()).collect();
    let (exp_cols, expected_sql) = match &fx.sql {
        Some(sql) => {
            let cols = schemas.describe(sql).map_err(|e| (format!("expected SQL fails: {e}"), ep.clone(), None))?;
            (cols.into_iter().map(|(c, _)| c).collect::<Vec<_>>(), sql.trim().trim_end_matches(';').to_string())
        }
        None => {
            if let Some((c, at, help)) = unknown_row_column(&fx, &known, &ep, expect.contains_key("fixture")) {
                return Err((format!("model '{}' has no output column '{c}'", model.name), at, help));
            }
            let schema: Schema = fx
                .columns
                .iter()
                .map(|c| {
                    let t = actual_schema.iter().find(|(k, _)| k.eq_ignore_ascii_case(c)).and_then(|(_, t)| t.clone());
                    (c.clone(), t)
                })
                .collect();
            (fx.columns.clone(), rows_select(node.relation.dialect, &fx.rows, &schema))
        }
    };
    let projection = exp_cols.iter().map(|c| node.relation.dialect.quote(c)).collect::<Vec<_>>().join(", ");
    let actual_sql = format!("select {projection} from (\n{}\n) as actual", model_sql.trim_end());
    let expected_sql = format!("select {projection} from (\n{expected_sql}\n) as expected");
    Ok(Prepared { actual_sql, expected_sql })
}

struct ProjectRef<'a> {
    root: &'a Path,
    tests: &'a [String],
}

/// ref() and source() calls in an input string such as `ref('orders')`.
pub fn calls_in(s: &str) -> (Vec<crate::templating::RefCall>, Vec<(String, String)>) {
    let args = |inner: &str| -> Vec<String> {
        inner.split(',').map(|a| a.trim().trim_matches(['\'', '"']).to_string()).filter(|a| !a.is_empty()).collect()
    };
    let t = s.trim();
    let inner = |f: &str| {
        t.strip_prefix(f).map(str::trim_start).and_then(|r| r.strip_prefix('(')).and_then(|r| r.strip_suffix(')'))
    };
    if let Some(i) = inner("ref") {
        let a = args(i);
        let call = match a.as_slice() {
            [n] => crate::templating::RefCall::new(None, n.clone()),
            [p, n] => crate::templating::RefCall::new(Some(p.clone()), n.clone()),
            _ => return (vec![], vec![]),
        };
        return (vec![call], vec![]);
    }
    if let Some(i) = inner("source") {
        if let [s, tb] = args(i).as_slice() {
            return (vec![], vec![(s.clone(), tb.clone())]);
        }
    }
    (vec![], vec![])
}

/// Run a unit test: compare the model's rows on the given inputs with the expected rows.
pub fn run(compiler: &Compiler, node: &Node, conn: Arc<dyn Connection>, thread_id: &str, root: &Path) -> NodeResult {
    let clock = Clock::start();
    let result = |status: Status, message: String, compiled: Option<String>, failures: Option<i64>| NodeResult {
        compiled_code: compiled,
        failures,
        ..clock.result(node, thread_id, status, message)
    };
    let schemas = Schemas::new(compiler, conn.clone());
    let p = match prepare(&schemas, node, root) {
        Ok(p) => p,
        Err((msg, _, help)) => {
            let msg = match help {
                Some(h) => format!("{msg}\n  help: {h}"),
                None => msg,
            };
            return result(Status::Error, msg, None, None);
        }
    };
    let rows = |sql: &str| -> Result<(Vec<String>, Vec<String>), String> {
        let t = conn.query(sql, None).map_err(|e| e.to_string())?;
        let mut lines: Vec<String> =
            t.rows.iter().map(|r| r.iter().map(cell).collect::<Vec<_>>().join(" | ")).collect();
        lines.sort();
        Ok((t.columns, lines))
    };
    let actual = match rows(&p.actual_sql) {
        Ok(a) => a,
        Err(e) => {
            return result(
                Status::Error,
                format!("Database Error in unit test {}: {e}", node.name),
                Some(p.actual_sql),
                None,
            )
        }
    };
    let expected = match rows(&p.expected_sql) {
        Ok(a) => a,
        Err(e) => {
            return result(
                Status::Error,
                format!("Database Error in the expected rows of {}: {e}", node.name),
                Some(p.actual_sql),
                None,
            )
        }
    };
    if actual.1 == expected.1 {
        return result(Status::Pass, String::new(), Some(p.actual_sql), Some(0));
    }
    let header = actual.0.join(" | ");
    let exp_text =
        std::iter::once(header.clone()).chain(expected.1.iter().cloned()).collect::<Vec<_>>().join("\n") + "\n";
    let act_text = std::iter::once(header).chain(actual.1.iter().cloned()).collect::<Vec<_>>().join("\n") + "\n";
    let diff = similar::TextDiff::from_lines(&exp_text, &act_text);
    let mut msg = String::from("actual differs from expected:\n\n  --- expected\n  +++ actual\n");
    let mut changed = 0;
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => {
                changed += 1;
                "-"
            }
            similar::ChangeTag::Insert => {
                changed += 1;
                "+"
            }
            similar::ChangeTag::Equal => " ",
        };
        msg.push_str(&format!("  {sign} {}", change.value()));
    }
    result(Status::Fail, msg.trim_end().to_string(), Some(p.actual_sql), Some(changed))
}

fn cell(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}
