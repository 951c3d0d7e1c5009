//! Project-wide static analysis and column lineage: every compiled model is analysed (through
//! [`crate::sql`]) in dependency order, each reading its upstream relations' columns: seed
//! headers, declared source columns, upstream models' inferred columns, and DuckDB's catalog for
//! what exists. Problems become diagnostics located in the compiled file. An analysis whose SQL
//! and catalog answers are unchanged since the last run is reused ([`memo`]).
//! In: the manifest, compiled SQL by node, optionally the database catalog. Out: [`Lineage`].

use crate::diagnostics::{Diagnostic, Severity, Span};
use crate::graph::Dag;
use crate::parse::{Manifest, ResourceType};
use crate::sql::{self, Catalog, Name, Relation};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

mod memo;

/// `--static-analysis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Nothing is analysed.
    Off,
    /// Problems are warnings; everything runs.
    #[default]
    Warn,
    /// Problems are errors; nothing runs unless the whole selection checks out.
    Strict,
}

/// How [`analyze`] works: its mode and the engine's SQL dialect.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `--static-analysis`.
    pub mode: Mode,
    /// The dialect compiled SQL is parsed in.
    pub flavor: sql::Flavor,
}

/// A model's analysis.
#[derive(Debug, Clone, Serialize)]
pub struct NodeLineage {
    /// Output columns and their upstream columns.
    pub columns: Vec<sql::Column>,
    /// Whether every output column is known.
    pub complete: bool,
    /// When not complete: the relations whose columns a `*` passes on without knowing them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<Name>,
}

/// Every analysed node, and the diagnostics found.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    /// By unique id (models and analyses).
    pub nodes: BTreeMap<String, NodeLineage>,
    /// Columns of seeds and sources (which have no SQL to analyse), by unique id.
    pub base_columns: BTreeMap<String, Vec<String>>,
    /// Unknown columns and relations (errors or warnings per the mode), and SQL the parser
    /// rejects (always warnings).
    pub diagnostics: Vec<Diagnostic>,
}

/// Columns of the relations in the database, by lowercased (database, schema, name): read with
/// one query the first time an analysis asks for a relation the project cannot answer for (a
/// source, a table it does not build, a model whose columns are unknown), or given. A build
/// whose models read only the project's own seeds and models never asks; reading the catalog
/// is DuckDB's costliest first query (it binds every built-in view to list their columns).
pub struct DbColumns<'a> {
    conn: Option<&'a dyn crate::adapter::Connection>,
    /// The columns, and how long reading them took.
    read: std::sync::OnceLock<(ColumnsByRelation, std::time::Duration)>,
}

/// Column names by lowercased (database, schema, name).
pub type ColumnsByRelation = HashMap<(String, String, String), Vec<Name>>;

impl<'a> DbColumns<'a> {
    /// Read from `conn` when first asked.
    pub fn lazy(conn: &'a dyn crate::adapter::Connection) -> DbColumns<'a> {
        DbColumns { conn: Some(conn), read: std::sync::OnceLock::new() }
    }

    /// Columns already read.
    pub fn given(columns: ColumnsByRelation) -> DbColumns<'static> {
        DbColumns { conn: None, read: std::sync::OnceLock::from((columns, std::time::Duration::ZERO)) }
    }

    fn get(&self, key: &(String, String, String)) -> Option<&Vec<Name>> {
        let (columns, _) = self.read.get_or_init(|| {
            let start = std::time::Instant::now();
            (self.conn.map(db_columns).unwrap_or_default(), start.elapsed())
        });
        columns.get(key)
    }

    /// What was read and how long it took (None when nobody asked).
    pub fn into_read(self) -> Option<(ColumnsByRelation, std::time::Duration)> {
        self.read.into_inner()
    }
}

/// Read every relation's columns from the database (one query).
fn db_columns(conn: &dyn crate::adapter::Connection) -> ColumnsByRelation {
    let mut out: ColumnsByRelation = HashMap::new();
    for ((d, s, n), columns) in conn.all_columns().unwrap_or_default() {
        out.entry((d.to_lowercase(), s.to_lowercase(), n.to_lowercase()))
            .or_default()
            .extend(columns.into_iter().map(|c| Name::from(c.name)));
    }
    out
}

struct ProjectCatalog<'a> {
    /// (database, schema, name) → node id.
    relations: &'a HashMap<(String, String, String), Name>,
    /// Known columns by node id.
    columns: &'a HashMap<Name, Vec<Name>>,
    /// Sources' declared columns, by node id.
    declared: &'a HashMap<Name, Vec<Name>>,
    db: Option<&'a DbColumns<'a>>,
    database: &'a str,
    schema: &'a str,
}

impl Catalog for ProjectCatalog<'_> {
    fn lookup(&self, parts: &[String]) -> Option<Relation> {
        let key = match parts {
            [d, s, n] => (d.clone(), s.clone(), n.clone()),
            [s, n] => (self.database.to_string(), s.clone(), n.clone()),
            [n] => (self.database.to_string(), self.schema.to_string(), n.clone()),
            _ => return None,
        };
        if let Some(id) = self.relations.get(&key) {
            if let Some(cols) = self.columns.get(id).cloned().or_else(|| self.db.and_then(|d| d.get(&key)).cloned()) {
                return Some(Relation { node: id.clone(), columns: Some(cols), exhaustive: true });
            }
            // A source not in the database: the columns its property file declares, which may be
            // only some of them.
            let declared = self.declared.get(id).cloned();
            return Some(Relation { node: id.clone(), columns: declared, exhaustive: false });
        }
        let cols = self.db?.get(&key)?;
        Some(Relation {
            node: format!("{}.{}.{}", key.0, key.1, key.2).into(),
            columns: Some(cols.clone()),
            exhaustive: true,
        })
    }
    fn complete(&self) -> bool {
        self.db.is_some()
    }
}

/// Analyse the compiled SQL of `compiled` (by unique id), in dependency order. `db` is the
/// database's catalog when the database exists (then unknown relations are errors too).
pub fn analyze(
    m: &Manifest,
    dag: &Dag,
    compiled: &HashMap<String, String>,
    db: Option<&DbColumns<'_>>,
    root: &Path,
    target_dir: &Path,
    opts: Options,
) -> Lineage {
    let Options { mode, flavor } = opts;
    let mut out = Lineage::default();
    if mode == Mode::Off {
        return out;
    }
    let key = |r: &crate::templating::relation::Relation| {
        let l = |s: &Option<String>| s.clone().unwrap_or_default().to_lowercase();
        (l(&r.database), l(&r.schema), l(&r.identifier))
    };
    // Node ids are shared: each upstream entry of every analysis holds one of these.
    let mut relations: HashMap<(String, String, String), Name> = HashMap::new();
    for n in m.nodes.values().filter(|n| matches!(n.resource_type, ResourceType::Model | ResourceType::Seed)) {
        relations.insert(key(&n.relation), n.unique_id.as_str().into());
    }
    for s in m.sources.values() {
        relations.insert(key(&s.relation), s.unique_id.as_str().into());
    }
    let mut columns: HashMap<Name, Vec<Name>> = HashMap::new();
    for n in m.nodes.values().filter(|n| n.resource_type == ResourceType::Seed) {
        let text = std::fs::read_to_string(&n.file_path).unwrap_or_default();
        let delim = n.config.get_str("delimiter").and_then(|d| d.bytes().next()).unwrap_or(b',');
        if let Ok(names) = crate::seeds::column_names(&text, delim) {
            columns.insert(n.unique_id.as_str().into(), names.iter().map(|c| Name::from(c.as_str())).collect());
            out.base_columns.insert(n.unique_id.clone(), names);
        }
    }
    // A source's columns come from the database: property YAML often declares only some of
    // them, so declared columns alone would make the others look unknown. They still expand `*`
    // and carry lineage when the database does not have the source.
    let declared: HashMap<Name, Vec<Name>> = m
        .sources
        .values()
        .filter(|s| !s.table.columns.is_empty())
        .map(|s| (s.unique_id.as_str().into(), s.table.columns.iter().map(|c| c.name.as_str().into()).collect()))
        .collect();
    for s in m.sources.values() {
        if let Some(cols) = db.and_then(|d| d.get(&key(&s.relation))).cloned() {
            out.base_columns.insert(s.unique_id.clone(), cols.iter().map(|c| c.to_string()).collect());
            columns.insert(s.unique_id.as_str().into(), cols);
        }
    }
    let (database, schema) = m
        .nodes
        .values()
        .find(|n| n.resource_type == ResourceType::Model)
        .map(|n| (n.relation.database.clone().unwrap_or_default(), n.relation.schema.clone().unwrap_or_default()))
        .unwrap_or_default();
    let (database, schema) = (database.to_lowercase(), schema.to_lowercase());
    // Models are analysed a level at a time (a level's upstream models are all done), each
    // level on every core.
    let mut level: HashMap<&str, usize> = HashMap::new();
    let mut levels: Vec<Vec<&String>> = vec![];
    for id in dag.order() {
        // Python models are not SQL: their columns are unknown until the database has them.
        if !compiled.contains_key(id) || m.nodes.get(id).is_none_or(|n| n.language == crate::parse::Language::Python) {
            continue;
        }
        let l = dag.parents_iter(id).filter_map(|p| level.get(p).map(|l| l + 1)).max().unwrap_or(0);
        level.insert(id, l);
        if levels.len() <= l {
            levels.resize_with(l + 1, Vec::new);
        }
        levels[l].push(id);
    }
    let mut memo = memo::Memo::load(target_dir);
    for ids in levels {
        let results: Vec<(&String, (memo::Analyzed, memo::Outcome))> = {
            use rayon::prelude::*;
            let catalog = ProjectCatalog {
                relations: &relations,
                columns: &columns,
                declared: &declared,
                db,
                database: &database,
                schema: &schema,
            };
            ids.par_iter().map(|id| (*id, memo.analyze(&compiled[*id], flavor, &catalog))).collect()
        };
        for (id, (result, outcome)) in results {
            memo.record(outcome);
            let node = &m.nodes[id];
            let sql_text = &compiled[id];
            let file = m.target_rel_path(node);
            let shown = crate::diagnostics::rel_path(root, &target_dir.join("compiled").join(&file));
            match result {
                Ok(a) => {
                    for p in &a.problems {
                        let (code, sev) = match (p.message.starts_with("relation"), mode) {
                            (true, Mode::Strict) => ("E1002", Severity::Error),
                            (true, _) => ("W1002", Severity::Warning),
                            (false, Mode::Strict) => ("E1001", Severity::Error),
                            (false, _) => ("W1001", Severity::Warning),
                        };
                        let mut d = Diagnostic::error(code, format!("{}: {}", node.name, p.message))
                            .with_span(Span::new(&shown, Some(sql_text), p.line, p.col, p.len.max(1)))
                            .with_opt_help(p.help.clone());
                        d.severity = sev;
                        out.diagnostics.push(d);
                    }
                    if a.complete {
                        columns.insert(id.as_str().into(), a.columns.iter().map(|c| c.name.clone()).collect());
                    }
                    out.nodes
                        .insert(id.clone(), NodeLineage { columns: a.columns, complete: a.complete, open: a.open });
                }
                Err(e) => {
                    let span = if e.line > 0 {
                        Span::new(&shown, Some(sql_text), e.line, e.col.max(1), 1)
                    } else {
                        Span::file_only(&shown)
                    };
                    out.diagnostics.push(
                        Diagnostic::warning(
                            "W1003",
                            format!("{}: the SQL parser cannot read this model: {}", node.name, e.message),
                        )
                        .with_span(span)
                        .with_help("its columns and lineage are unknown; it still builds"),
                    );
                }
            }
        }
    }
    // Room for every SQL node's analysis, twice over (the same node before and after an edit).
    let capacity = 2 * m
        .nodes
        .values()
        .filter(|n| matches!(n.resource_type, ResourceType::Model | ResourceType::Analysis))
        .count();
    // A memo that cannot be written only costs the next run its time.
    let _ = memo.save(target_dir, capacity);
    infer_open_columns(&mut out, dag);
    out
}

/// A model whose `*` reads a relation of unknown columns (a source the database does not have
/// yet, a python model) does not list those columns; when a model downstream reads one of them
/// by name, it becomes a column of that model too, from the relations its `*` reads, so column
/// lineage goes on through it to the source. Downstream first, so a column added to a model is
/// followed further up when its turn comes.
fn infer_open_columns(out: &mut Lineage, dag: &Dag) {
    // Only reads of an open model can add a column: usually there is none.
    let open: std::collections::HashSet<String> =
        out.nodes.iter().filter(|(_, n)| !n.complete && !n.open.is_empty()).map(|(id, _)| id.clone()).collect();
    if open.is_empty() {
        return;
    }
    for id in dag.order().iter().rev() {
        let Some(reads) = out.nodes.get(id).map(|n| {
            n.columns
                .iter()
                .flat_map(|c| c.upstream.iter())
                .filter(|u| open.contains(&*u.node))
                .map(|u| (u.node.clone(), u.column.clone()))
                .collect::<Vec<_>>()
        }) else {
            continue;
        };
        for (up, column) in reads {
            let Some(parent) = out.nodes.get_mut(&*up) else { continue };
            if parent.complete
                || parent.open.is_empty()
                || parent.columns.iter().any(|c| c.name.eq_ignore_ascii_case(&column))
            {
                continue;
            }
            let upstream = parent
                .open
                .iter()
                .map(|n| sql::Upstream { node: n.clone(), column: column.clone(), kind: sql::Kind::Passthrough })
                .collect();
            parent.columns.push(sql::Column { name: column, upstream });
        }
    }
}

impl Lineage {
    /// Write `target/lineage.json` (compact): every analysed node's columns and upstream
    /// columns, and the columns of seeds and sources.
    pub fn write(&self, target_dir: &Path, invocation: &crate::Invocation) -> std::io::Result<()> {
        use std::io::Write;
        let metadata = json!({
            "strata_version": env!("CARGO_PKG_VERSION"),
            "generated_at": invocation.started_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": invocation.id,
        });
        std::fs::create_dir_all(target_dir)?;
        crate::jsonout::replace_file(&target_dir.join("lineage.json"), |f| {
            // {"metadata":...,"nodes":{...},"base_columns":{...}}, the nodes serialized on every
            // core a batch at a time (a batch is written while the next is serialized), as
            // manifest.json's.
            write!(f, "{{\"metadata\":{metadata},\"nodes\":{{")?;
            let nodes: Vec<(&String, &NodeLineage)> = self.nodes.iter().collect();
            // (256 nodes, about 0.75 MB of JSON: two in flight add little to compile's peak.)
            crate::jsonout::write_entries(f, &nodes, 256, crate::jsonout::key_value)?;
            f.write_all(b"},\"base_columns\":")?;
            serde_json::to_writer(&mut *f, &self.base_columns).map_err(std::io::Error::other)?;
            f.write_all(b"}")
        })
    }

    /// Whether `column` of `node` is read by anything analysed, as (node, column, kind).
    pub fn downstream_of(&self, node: &str, column: &str) -> Vec<(String, String, sql::Kind)> {
        let mut out = vec![];
        for (id, nl) in &self.nodes {
            for c in &nl.columns {
                for u in &c.upstream {
                    if &*u.node == node && u.column.eq_ignore_ascii_case(column) {
                        out.push((id.clone(), c.name.to_string(), u.kind));
                    }
                }
            }
        }
        out
    }
}
