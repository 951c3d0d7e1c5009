//! Parse: turn the files of a [`Project`] into nodes with resolved configs, relations and
//! dependencies. Every model is rendered once with `execute = false` to record its `ref()`,
//! `source()` and `config()` calls (in parallel), then configs are merged with dbt's precedence
//! (in-file `config()` > property YAML > dbt_project.yml folders) and relation names come from
//! `generate_database_name` / `generate_schema_name` / `generate_alias_name`.
//! In: `Project` + `Engine`. Out: [`Manifest`] or diagnostics.

pub mod data_tests;
pub mod generic_tests;
pub mod unit_tests;

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::project::config::Config;
use crate::project::properties::{ColumnDef, NodePatch, SourceTable};
use crate::project::{Package, Project, SourceFile};
use crate::templating::relation::Relation;
use crate::templating::{Engine, Globals, NodeContext, Phase, RefCall, Resolved, Resolver};
use rayon::prelude::*;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What kind of node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    /// A SQL model.
    Model,
    /// A CSV seed.
    Seed,
    /// An analysis (compiled, never run).
    Analysis,
    /// A declared source table.
    Source,
    /// A data test (generic, from property YAML, or singular, a .sql file under test-paths).
    Test,
    /// A unit test (`unit_tests:` in property YAML).
    UnitTest,
    /// A snapshot: `{% snapshot %}` blocks, or `snapshots:` with a `relation` in property YAML.
    Snapshot,
}

impl ResourceType {
    /// The name dbt uses (`model`, `seed` ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Analysis => "analysis",
            ResourceType::Source => "source",
            ResourceType::Test => "test",
            ResourceType::UnitTest => "unit_test",
        }
    }
}

/// The language a model is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Jinja-templated SQL.
    #[default]
    Sql,
    /// A `def model(dbt, session)` Python file (see `crate::python`).
    Python,
}

impl Language {
    /// `sql` or `python`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Language::Sql => "sql",
            Language::Python => "python",
        }
    }
}

/// A model, seed or analysis after parse.
#[derive(Debug, Clone)]
pub struct Node {
    /// `model.<package>.<name>`.
    pub unique_id: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub resource_type: ResourceType,
    /// Package.
    pub package_name: String,
    /// Path inside the resource folder.
    pub path: String,
    /// Path from the project root.
    pub original_file_path: String,
    /// The file's text (shared with the project's file it was parsed from).
    pub raw_code: std::sync::Arc<str>,
    /// Fully qualified name: package, folders, name.
    pub fqn: Vec<String>,
    /// Resolved config.
    pub config: Config,
    /// Description from property YAML.
    pub description: String,
    /// Columns from property YAML.
    pub columns: Vec<ColumnDef>,
    /// The property file that described it.
    pub patch_path: Option<String>,
    /// ref() calls.
    pub refs: Vec<RefCall>,
    /// source() calls.
    pub sources: Vec<(String, String)>,
    /// Unique ids this node depends on (nodes and sources), sorted.
    pub depends_on: Vec<String>,
    /// Where it is built.
    pub relation: Relation,
    /// Absolute path of a seed's CSV.
    pub file_path: std::path::PathBuf,
    /// For tests: what is tested and how.
    pub test: Option<Box<TestInfo>>,
    /// SQL or Python.
    pub language: Language,
    /// Model-level `constraints:` (applied when the contract is enforced).
    pub constraints: Vec<crate::project::properties::Constraint>,
    /// A versioned model's version (one node per version).
    pub version: Option<Box<VersionInfo>>,
}

/// What a data or unit test node tests.
#[derive(Debug, Clone, Default)]
pub struct TestInfo {
    /// Generic tests: the macro (`not_null`), its namespace and its arguments (with `model`).
    pub metadata: Option<TestMetadata>,
    /// The column a column-level test is declared on.
    pub column_name: Option<String>,
    /// The node or source the test is declared on (its `model` argument).
    pub attached_node: Option<String>,
    /// Where the test is declared: property file and path inside it.
    pub decl: Option<(std::path::PathBuf, crate::project::yaml::YPath)>,
    /// Unit tests: the declaration as written.
    pub unit: Option<Json>,
}

/// A generic test's macro and arguments, as dbt records them in `test_metadata`.
#[derive(Debug, Clone, Default)]
pub struct TestMetadata {
    /// Test name without `test_`.
    pub name: String,
    /// Package namespace, if written as `pkg.name`.
    pub namespace: Option<String>,
    /// Arguments, including `model` and `column_name`.
    pub kwargs: serde_json::Map<String, Json>,
}

impl Node {
    /// `materialized` (seeds are always `seed`).
    pub fn materialized(&self) -> String {
        match self.resource_type {
            ResourceType::Seed => "seed".into(),
            ResourceType::Snapshot => "snapshot".into(),
            ResourceType::Test => "test".into(),
            ResourceType::UnitTest => "unit".into(),
            _ => self.config.materialized("view"),
        }
    }

    /// Whether the node is an incremental model with the microbatch strategy.
    pub fn is_microbatch(&self) -> bool {
        self.materialized() == "incremental"
            && self.config.get_str("incremental_strategy").as_deref() == Some("microbatch")
    }

    /// The name an ephemeral model's CTE takes (`__dbt__cte__<this>`): the name, with the
    /// version for a versioned model (`orders_v2`).
    pub fn cte_name(&self) -> String {
        match &self.version {
            Some(v) => format!("{}_v{}", self.name, v.v.replace('.', "_")),
            None => self.name.clone(),
        }
    }

    /// The node's name as dbt lists and labels it: `orders`, or `orders.v2` for a version.
    pub fn versioned_name(&self) -> String {
        match &self.version {
            Some(v) => format!("{}.v{}", self.name, v.v),
            None => self.name.clone(),
        }
    }

    /// Where compiled and run SQL go under target/: generic tests sit below their property file
    /// (`models/schema.yml/not_null_orders_id.sql`), as with dbt.
    pub fn target_file_path(&self) -> String {
        match &self.test {
            Some(t) if t.decl.is_some() => format!("{}/{}", self.original_file_path, self.path),
            _ => self.original_file_path.clone(),
        }
    }

    /// A model for unit tests: `models/<file>` in package `p`, built as `"d"."s"."<name>"`.
    #[cfg(test)]
    pub fn for_test(file: &str, raw_code: &str, config: Config) -> Node {
        let name = std::path::Path::new(file).file_stem().unwrap_or_default().to_string_lossy().to_string();
        Node {
            unique_id: format!("model.p.{name}"),
            name: name.clone(),
            resource_type: ResourceType::Model,
            package_name: "p".into(),
            path: file.into(),
            original_file_path: format!("models/{file}"),
            raw_code: raw_code.into(),
            fqn: vec![],
            config,
            description: String::new(),
            columns: vec![],
            patch_path: None,
            refs: vec![],
            sources: vec![],
            depends_on: vec![],
            relation: Relation::new(&crate::adapter::duckdb::DIALECT, "d", "s", &name),
            file_path: Default::default(),
            test: None,
            language: if file.ends_with(".py") { Language::Python } else { Language::Sql },
            constraints: vec![],
            version: None,
        }
    }

    /// Whether this is a data test or unit test.
    pub fn is_test(&self) -> bool {
        matches!(self.resource_type, ResourceType::Test | ResourceType::UnitTest)
    }

    /// `severity` of a test, lowercased (`error` unless configured).
    pub fn severity(&self) -> String {
        self.config.get_str("severity").unwrap_or_else(|| "error".into()).to_ascii_lowercase()
    }

    /// The `model` object Jinja sees.
    pub fn to_json(&self) -> Json {
        let mut v = self.base_json();
        if let (Some(t), Json::Object(m)) = (&self.test, &mut v) {
            if let Some(md) = &t.metadata {
                m.insert(
                    "test_metadata".into(),
                    json!({"name": md.name, "namespace": md.namespace, "kwargs": md.kwargs}),
                );
            }
            m.insert("column_name".into(), json!(t.column_name));
            m.insert("attached_node".into(), json!(t.attached_node));
        }
        v
    }

    fn base_json(&self) -> Json {
        json!({
            "unique_id": self.unique_id,
            "name": self.name,
            "resource_type": self.resource_type.as_str(),
            "package_name": self.package_name,
            "path": self.path,
            "original_file_path": self.original_file_path,
            "fqn": self.fqn,
            "config": self.config.to_json(),
            "tags": self.config.tags(),
            "description": self.description,
            "database": self.relation.database,
            "schema": self.relation.schema,
            "alias": self.relation.identifier,
            "identifier": self.relation.identifier,
            "raw_code": &*self.raw_code,
            "language": self.language.as_str(),
            "refs": self.refs.iter().map(|r| json!({"name": r.name, "package": r.package})).collect::<Vec<_>>(),
            "sources": self.sources.iter().map(|(s, t)| json!([s, t])).collect::<Vec<_>>(),
            "depends_on": {"nodes": self.depends_on},
            "columns": self.columns.iter().map(|c| (c.name.clone(), json!({
                "name": c.name, "description": c.description, "data_type": c.data_type, "meta": c.meta, "tags": c.tags,
                "quote": c.quote, "constraints": c.constraints.iter().map(|k| k.to_json(false)).collect::<Vec<_>>(),
            }))).collect::<serde_json::Map<_, _>>(),
            "constraints": self.constraints.iter().map(|k| k.to_json(true)).collect::<Vec<_>>(),
            "version": self.version.as_ref().map(|v| v.v_json.clone()),
            "latest_version": self.version.as_ref().map(|v| v.latest_json.clone()),
            "deprecation_date": self.version.as_ref().and_then(|v| v.deprecation_date.clone()),
            "contract": {"enforced": contract_enforced(self), "alias_types": true},
        })
    }
}

/// A source table after parse.
#[derive(Debug, Clone)]
pub struct SourceNode {
    /// `source.<package>.<source>.<table>`.
    pub unique_id: String,
    /// The declaration.
    pub table: SourceTable,
    /// Fully qualified name.
    pub fqn: Vec<String>,
    /// Where it lives.
    pub relation: Relation,
}

/// The parsed project: every enabled node and source.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// Models, seeds, analyses, snapshots and tests by unique id. Boxed: a `Node` is over 500
    /// bytes, and inline it left the map's B-tree leaves half empty (about 1 KB a node).
    pub nodes: BTreeMap<String, Box<Node>>,
    /// Sources by unique id.
    pub sources: BTreeMap<String, SourceNode>,
    /// Unique ids of disabled nodes.
    pub disabled: BTreeSet<String>,
    /// `{% docs %}` blocks by name: (text, file).
    pub docs: BTreeMap<String, (String, String)>,
    /// Exposures by unique id.
    pub exposures: BTreeMap<String, Exposure>,
    /// Each installed package's folder, relative to the project root with a trailing `/`.
    pub package_dirs: BTreeMap<String, String>,
    /// SQL files whose calls the static parser read, and those rendered at parse time.
    pub parse_counts: (usize, usize),
}

/// An exposure from property YAML: a dashboard, notebook or application that reads nodes.
#[derive(Debug, Clone)]
pub struct Exposure {
    /// `exposure.<package>.<name>`.
    pub unique_id: String,
    /// Name.
    pub name: String,
    /// Package.
    pub package_name: String,
    /// Property file (project-relative).
    pub file: String,
    /// Fully qualified name.
    pub fqn: Vec<String>,
    /// The entry as written (type, owner, url, maturity, label, meta, tags, ...).
    pub raw: Json,
    /// ref() and source() calls of `depends_on`.
    pub refs: Vec<RefCall>,
    /// Sources.
    pub sources: Vec<(String, String)>,
    /// Resolved unique ids.
    pub depends_on: Vec<String>,
}

impl Manifest {
    /// Every node's, source's and exposure's dependencies (a source has none), in id order:
    /// manifest.json's `parent_map`, and what the children of each are found from.
    pub fn dependencies(&self) -> Vec<(&str, &[String])> {
        let mut all: Vec<(&str, &[String])> = self
            .nodes
            .iter()
            .map(|(id, n)| (id.as_str(), n.depends_on.as_slice()))
            .chain(self.sources.keys().map(|id| (id.as_str(), &[][..])))
            .chain(self.exposures.iter().map(|(id, e)| (id.as_str(), e.depends_on.as_slice())))
            .collect();
        // The three maps are sorted: the sort merges them.
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// The schemas the project's nodes and sources live in, lowercased (what a run reads of the
    /// database's catalog).
    pub fn schemas(&self) -> BTreeSet<String> {
        (self.nodes.values().map(|n| &n.relation))
            .chain(self.sources.values().map(|s| &s.relation))
            .filter_map(|r| r.schema.as_deref().map(str::to_lowercase))
            .collect()
    }

    /// Where a node's compiled and run SQL go under `target/compiled` and `target/run`:
    /// `<package>/<file in the package>`, as dbt lays them out.
    pub fn target_rel_path(&self, n: &Node) -> String {
        let file = n.target_file_path();
        let prefix = self.package_dirs.get(&n.package_name).map(String::as_str).unwrap_or_default();
        format!("{}/{}", n.package_name, file.strip_prefix(prefix).unwrap_or(&file))
    }

    /// Lookup tables for ref() and source().
    pub fn resolver(&self) -> Resolver {
        let mut r = Resolver::default();
        // Each entry is made on every core, then added in node order.
        let entries: Vec<(String, Resolved)> = self
            .nodes
            .par_iter()
            .filter(|(_, n)| {
                !matches!(n.resource_type, ResourceType::Analysis | ResourceType::Test | ResourceType::UnitTest)
            })
            .map(|(_, n)| {
                let ephemeral = n.materialized() == "ephemeral";
                let relation =
                    if ephemeral { Relation::cte(n.relation.dialect, &n.cte_name()) } else { n.relation.clone() };
                (
                    n.name.clone(),
                    Resolved {
                        unique_id: n.unique_id.clone(),
                        package: n.package_name.clone(),
                        relation,
                        ephemeral,
                        version: n.version.as_ref().map(|v| v.v.clone()),
                        latest: n.version.as_ref().is_none_or(|v| v.is_latest()),
                    },
                )
            })
            .collect();
        r.nodes.reserve(entries.len());
        for (name, resolved) in entries {
            r.nodes.entry(name).or_default().push(resolved);
        }
        for s in self.sources.values() {
            r.sources.insert(
                (s.table.source_name.clone(), s.table.name.clone()),
                Resolved {
                    unique_id: s.unique_id.clone(),
                    package: s.fqn[0].clone(),
                    relation: s.relation.clone(),
                    ephemeral: false,
                    version: None,
                    latest: true,
                },
            );
        }
        r
    }

    /// `graph` as Jinja sees it.
    pub fn graph_json(&self) -> Json {
        let nodes: serde_json::Map<String, Json> =
            self.nodes.values().map(|n| (n.unique_id.clone(), n.to_json())).collect();
        let sources: serde_json::Map<String, Json> = self
            .sources
            .values()
            .map(|s| {
                (
                    s.unique_id.clone(),
                    json!({
                        "unique_id": s.unique_id, "name": s.table.name, "source_name": s.table.source_name,
                        "resource_type": "source", "database": s.relation.database, "schema": s.relation.schema,
                        "identifier": s.relation.identifier, "description": s.table.description,
                        "loaded_at_field": s.table.loaded_at_field, "fqn": s.fqn,
                    }),
                )
            })
            .collect();
        json!({"nodes": nodes, "sources": sources, "exposures": {}, "metrics": {}, "groups": {}})
    }
}

/// Globals for the parse render.
pub fn parse_globals(project: &Project, invocation: &crate::Invocation) -> Globals {
    let target = project.target.as_ref();
    Globals {
        cache: Default::default(),
        dialect: project.engine().dialect,
        project_name: project.config.name.clone(),
        target: crate::target_json(project),
        target_database: target.map(|t| t.database.clone()).unwrap_or_else(|| "memory".into()),
        target_schema: target.map(|t| t.schema.clone()).unwrap_or_else(|| "main".into()),
        cli_vars: project.cli_vars.clone(),
        project_vars: project.config.vars.clone(),
        run_started_at: invocation.started_at,
        invocation_id: invocation.id.clone(),
        flags: invocation.flags.clone(),
        resolver: Resolver::default(),
        graph: minijinja::Value::from_serialize(json!({"nodes": {}, "sources": {}, "exposures": {}, "metrics": {}})),
        print_logs: invocation.print_logs,
        test_paths: project.config.test_paths.clone(),
        invocation_args: minijinja::Value::from_serialize(&invocation.args),
        selected_resources: minijinja::Value::from(Vec::<String>::new()),
    }
}

/// One version of a versioned model (`versions:` in property YAML).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    /// The version as text (`1`, `2.1`).
    pub v: String,
    /// The version as written in YAML (a number or a string), for manifest.json.
    pub v_json: Json,
    /// The model's latest version as text.
    pub latest: String,
    /// The latest version as written.
    pub latest_json: Json,
    /// `deprecation_date`, as written.
    pub deprecation_date: Option<String>,
}

impl VersionInfo {
    /// Whether this is the latest version (what `ref()` without a version resolves to).
    pub fn is_latest(&self) -> bool {
        self.v == self.latest
    }
}

/// A node after its parse render, with the warnings it gave.
type Parsed = (Node, Vec<Diagnostic>);

struct Pending<'a> {
    file: &'a SourceFile,
    package: &'a Package,
    /// The dbt_project.yml tree its folder configs come from (`models`, `seeds`, ...).
    kind: &'static str,
    resource_type: ResourceType,
    fqn: Vec<String>,
    patch: Option<&'a NodePatch>,
    /// The version a file defines, for a versioned model.
    version: Option<VersionInfo>,
}

/// The engine for a project: strata's built-in macros, then every package's macros and generic
/// tests, with the root project's `dispatch:` config.
pub fn build_engine(project: &Project) -> (Engine, Vec<Diagnostic>) {
    let mut files = vec![];
    for p in &project.packages {
        for f in p.macros.iter().chain(&p.generic_tests) {
            files.push(crate::templating::MacroSource {
                path: f.path.clone(),
                package: p.name.clone(),
                source: f.source.to_string(),
            });
        }
    }
    let mut dispatch = BTreeMap::new();
    for entry in project.config.dispatch.as_array().into_iter().flatten() {
        let ns = entry.get("macro_namespace").and_then(Json::as_str);
        let order = entry.get("search_order").and_then(Json::as_array);
        if let (Some(ns), Some(order)) = (ns, order) {
            dispatch.insert(ns.to_string(), order.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
        }
    }
    let cfg = crate::templating::EngineConfig {
        root_package: project.config.name.clone(),
        dispatch,
        packages: project.packages[1..].iter().map(|p| p.name.clone()).collect(),
        dialect: project.engine().dialect,
    };
    Engine::new(&files, &cfg)
}

/// The configs dbt_project.yml gives a node: its own package's folder configs, then the root
/// project's on top.
pub fn folder_config(project: &Project, package: &Package, kind: &str, fqn: &[String]) -> Config {
    let tree = |c: &crate::project::dbt_project::ProjectConfig| match kind {
        "models" => c.models.resolve(fqn),
        "seeds" => c.seeds.resolve(fqn),
        "snapshots" => c.snapshots.resolve(fqn),
        "tests" => c.tests.resolve(fqn),
        "sources" => c.sources.resolve(fqn),
        _ => c.analyses.resolve(fqn),
    };
    let mut config = tree(&package.config);
    if package.name != project.config.name {
        config.merge(&tree(&project.config));
    }
    config
}

/// A python model after parse: its dbt calls read from the file, `materialized` defaulting to
/// `table` (dbt's default for python models).
fn python_node(mut node: Node) -> Result<Parsed, Vec<Diagnostic>> {
    node.language = Language::Python;
    let calls = crate::pymodel::scan(&node.original_file_path, &node.raw_code)?;
    let mut in_file = Config::default();
    for (k, v) in &calls.config {
        in_file.set(k, v.clone());
    }
    let configured = node.config.get_str("materialized").is_some() || in_file.get_str("materialized").is_some();
    if !configured {
        node.config.set("materialized", Json::String("table".into()));
    }
    node.config.merge(&in_file);
    // dbt_project.yml folder defaults (`+materialized: view`) do not apply to python models
    // unless they name one a python model can use; one set in the file does, and fails when the
    // model runs (as in dbt).
    if !crate::pymodel::MATERIALIZATIONS.contains(&node.materialized().as_str())
        && !calls.config.contains_key("materialized")
    {
        node.config.set("materialized", Json::String("table".into()));
    }
    let mut warnings = unknown_config_keys(&node, &in_file);
    warnings.extend(engine_config_problem(&node));
    node.refs = calls.refs.into_iter().map(|(package, name)| RefCall::new(package, name)).collect();
    node.sources = calls.sources;
    Ok((node, warnings))
}

/// Render a property YAML string that holds Jinja (`"{{ target.schema }}_raw"`) in place.
/// A property YAML entry's `config:` with its Jinja strings rendered (dbt's properties.yml
/// context: target, var, env_var); a value that does not render is located at its key.
fn rendered_config(p: &NodePatch, project: &Project, target: &Json) -> Result<Config, Diagnostic> {
    let c = &p.config;
    let jinja = |v: &Json| {
        let text = v.to_string();
        text.contains("{{") || text.contains("{%")
    };
    if !c.0.values().any(jinja) {
        return Ok(c.clone());
    }
    let mut out = c.clone();
    for (k, v) in out.0.iter_mut().filter(|(_, v)| jinja(v)) {
        let mut y: serde_yaml::Value = serde_yaml::to_value(&*v).unwrap_or_default();
        crate::jinja::render_config_strings(&mut y, &project.cli_vars, Some(target), false)
            .map_err(|d| d.with_span(yaml_span(project, &p.file, &p.ypath.key("config").key(k))))?;
        *v = serde_json::to_value(&y).unwrap_or_default();
    }
    Ok(out)
}

fn render_property(value: &mut String, project: &Project, target: &Json) -> Result<(), Diagnostic> {
    if !value.contains("{{") && !value.contains("{%") {
        return Ok(());
    }
    let mut v = serde_yaml::Value::String(value.clone());
    crate::jinja::render_config_strings(&mut v, &project.cli_vars, Some(target), false)?;
    *value = match v {
        serde_yaml::Value::String(s) => s,
        other => serde_yaml::to_string(&other).unwrap_or_default().trim().to_string(),
    };
    Ok(())
}

/// dbt-duckdb's `external_location` of a source (in `meta`, or under `config:`): the location
/// formatted with the source's fields and meta by its `formatter`, then quoted unless it is a
/// function call or quoted already. None when the source has none.
pub fn external_source_location(t: &SourceTable, database: &str) -> Result<Option<String>, String> {
    let mut fields = serde_json::Map::new();
    fields.insert("name".into(), json!(t.name));
    fields.insert("identifier".into(), json!(t.identifier));
    fields.insert("schema".into(), json!(t.schema));
    fields.insert("database".into(), json!(database));
    fields.insert("tags".into(), json!(t.tags));
    if let Json::Object(m) = &t.meta {
        fields.extend(m.clone());
    }
    if let Json::Object(m) = t.config.to_json() {
        for (k, v) in m {
            if !matches!(k.as_str(), "enabled" | "meta" | "tags") {
                fields.insert(k, v);
            }
        }
    }
    let Some(template) = fields.get("external_location").and_then(Json::as_str).map(str::to_string) else {
        return Ok(None);
    };
    let text = |k: &str| -> Option<String> {
        fields.get(k).map(|v| match v {
            Json::String(s) => s.clone(),
            Json::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| i.as_str().map(|s| format!("'{s}'")).unwrap_or_else(|| i.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => other.to_string(),
        })
    };
    let formatter = fields.get("formatter").and_then(Json::as_str).unwrap_or("newstyle");
    let location = match formatter {
        "newstyle" => format_newstyle(&template, &text)?,
        "oldstyle" => {
            let re = regex::Regex::new(r"%\((\w+)\)s|%%").expect("oldstyle pattern");
            replace_fields(&re, &template, &text)?
        }
        "template" => {
            let re = regex::Regex::new(r"\$\{(\w+)\}|\$(\w+)|\$\$").expect("template pattern");
            replace_fields(&re, &template, &text)?
        }
        other => return Err(format!("formatter '{other}' is not one of newstyle, oldstyle, template")),
    };
    Ok(Some(if location.contains('(') || location.starts_with('\'') { location } else { format!("'{location}'") }))
}

/// Python's `str.format_map` for plain `{field}` references (`{{`/`}}` escape braces).
fn format_newstyle(template: &str, field: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let key = name.split([':', '!']).next().unwrap_or_default();
                out.push_str(
                    &field(key)
                        .ok_or_else(|| format!("external_location names {{{key}}}, which the source does not have"))?,
                );
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn replace_fields(re: &regex::Regex, template: &str, field: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut missing = None;
    let out = re.replace_all(template, |c: &regex::Captures| match c.get(1).or_else(|| c.get(2)) {
        Some(k) => field(k.as_str()).unwrap_or_else(|| {
            missing = Some(k.as_str().to_string());
            String::new()
        }),
        None => c[0][..1].to_string(),
    });
    match missing {
        Some(k) => Err(format!("external_location names '{k}', which the source does not have")),
        None => Ok(out.to_string()),
    }
}

/// Parse the project into a manifest.
pub fn parse(
    project: &Project,
    engine: &Engine,
    globals: &Arc<Globals>,
) -> Result<(Manifest, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    type FileOf<'a> = (&'a SourceFile, &'a Package, &'static str, &'a BTreeMap<String, NodePatch>, ResourceType);
    let mut files_of: Vec<FileOf> = vec![];
    let no_patches = BTreeMap::new();
    let snapshot_files = snapshot_sources(project, &mut diags);
    let versions = version_patches(project);
    for package in &project.packages {
        let props = &package.properties;
        let kinds = [
            (&package.models, "models", &props.models, ResourceType::Model),
            (&package.analyses, "analyses", &props.analyses, ResourceType::Analysis),
            (&package.seeds, "seeds", &props.seeds, ResourceType::Seed),
            (&package.tests, "tests", &no_patches, ResourceType::Test),
            (&snapshot_files[&package.name], "snapshots", &props.snapshots, ResourceType::Snapshot),
        ];
        for (files, kind, patches, resource_type) in kinds {
            files_of.extend(files.iter().map(|f| (f, package, kind, patches, resource_type)));
        }
    }
    // Each file's fqn, property patch and version (on every core: three path operations each).
    let pending: Vec<Pending> = files_of
        .into_par_iter()
        .map(|(f, package, kind, patches, resource_type)| {
            let stem = f.stem();
            let version = (resource_type == ResourceType::Model)
                .then(|| versions.get(&(package.name.clone(), stem.clone())))
                .flatten();
            let mut fqn = vec![package.name.clone()];
            fqn.extend(f.folders());
            let patch = match version {
                Some((p, _)) => Some(p),
                None => patches.get(&stem).filter(|p| p.versions.is_empty()),
            };
            match version {
                Some((patch, info)) => {
                    fqn.push(patch.name.clone());
                    fqn.push(format!("v{}", info.v));
                }
                None => fqn.push(stem),
            }
            let version = version.map(|(_, info)| info.clone());
            Pending { file: f, package, kind, resource_type, fqn, patch, version }
        })
        .collect();

    // Each model's, analysis's and test's ref/source/config calls: read by the static parser,
    // or from one render.
    let counts = [std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicUsize::new(0)];
    let rendered: Vec<Result<Parsed, Vec<Diagnostic>>> =
        pending.par_iter().map(|p| parse_file(p, project, engine, globals, &counts)).collect();
    // Each node has its own copy of the fqn now: free these before the tests are made.
    drop(pending);

    // The parsed nodes go into the manifest (one thread) while the generic tests are made (the
    // other cores).
    let (inserted, generic_tests) = rayon::join(
        || insert_parsed(project, rendered),
        || {
            project
                .packages
                .iter()
                .map(|p| data_tests::make_generic_tests(project, p, engine, globals))
                .collect::<Vec<_>>()
        },
    );
    let (mut manifest, by_name, problems) = inserted;
    diags.extend(problems.items);
    let [read, rendered_count] = counts.map(std::sync::atomic::AtomicUsize::into_inner);
    manifest.parse_counts = (read, rendered_count);

    let call = regex::Regex::new(r#"^\s*(ref|source)\s*\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)\s*$"#)
        .expect("exposure call pattern");
    for (package, tests) in project.packages.iter().zip(generic_tests) {
        unmatched_patches(project, package, &by_name, &manifest, &mut diags);
        add_sources(project, package, globals, &mut manifest, &mut diags);
        add_exposures(project, package, &call, &mut manifest, &mut diags);
        // Generic tests declared in property YAML, and unit tests.
        data_tests::add_generic_tests(project, tests, &mut manifest, &mut diags);
        unit_tests::add_unit_tests(project, package, &mut manifest, &mut diags);
    }
    // Freed on a worker: three strings for each node.
    rayon::spawn(move || drop(by_name));

    name_relations(engine, globals, &mut manifest, &mut diags);

    // Contracts, and the tables foreign keys point at (dependencies, as in dbt).
    // Contracts only fill in their foreign keys' relations: what refs resolve to is unchanged.
    let resolver = manifest.resolver();
    let constraint_deps = contracts(project, &resolver, &mut manifest, &mut diags);

    resolve_dependencies(project, &resolver, constraint_deps, &mut manifest, &mut diags);
    resolve_exposures(project, &resolver, &mut manifest, &mut diags);

    // Freed on a worker: a map entry per model with five strings each.
    rayon::spawn(move || drop(resolver));

    check_versions(project, &manifest, &mut diags);
    manifest.docs = docs_blocks(project, &mut diags);
    render_descriptions(project, &mut manifest, &mut diags);
    unused_config_paths(project, &manifest, &mut diags);
    // `docs generate` documents what it can: a missing doc block leaves one description empty.
    if globals.flags.get("WHICH").and_then(Json::as_str) == Some("generate") {
        for d in diags.items.iter_mut().filter(|d| d.code == "E0206") {
            d.severity = crate::diagnostics::Severity::Warning;
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((manifest, diags))
    }
}

/// The parsed nodes, in a new manifest (a disabled one only by its id), with the duplicate
/// names reported; and each (type, package, name)'s unique id.
fn insert_parsed(
    project: &Project,
    rendered: Vec<Result<Parsed, Vec<Diagnostic>>>,
) -> (Manifest, BTreeMap<(ResourceType, String, String), String>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut manifest = Manifest::default();
    for p in project.packages.iter().filter(|p| p.dir != project.root) {
        let dir = crate::diagnostics::rel_path(&project.root, &p.dir).to_string_lossy().replace('\\', "/");
        manifest.package_dirs.insert(p.name.clone(), format!("{}/", dir.trim_end_matches('/')));
    }
    let mut by_name: BTreeMap<(ResourceType, String, String), String> = BTreeMap::new();
    let mut ref_names: BTreeMap<(String, String), String> = BTreeMap::new();
    for r in rendered {
        let node = match r {
            Ok((n, warnings)) => {
                diags.extend(warnings);
                n
            }
            Err(ds) => {
                diags.extend(ds);
                continue;
            }
        };
        if !node.config.enabled() {
            manifest.disabled.insert(node.unique_id.clone());
            continue;
        }
        if !matches!(node.resource_type, ResourceType::Analysis | ResourceType::Test) {
            let key = (node.package_name.clone(), node.versioned_name());
            if let Some(prev) = ref_names.get(&key) {
                diags.push(
                    Diagnostic::error("E0204", format!("two resources are named '{}'", node.name))
                        .with_span(Span::file_only(&node.original_file_path))
                        .with_note(format!("also defined in {prev}"))
                        .with_help("rename one of them, or disable one with `enabled: false`"),
                );
                continue;
            }
            ref_names.insert(key, node.original_file_path.clone());
        }
        if node.resource_type == ResourceType::Test {
            diags.extend(data_tests::threshold_problems(project, &node));
        }
        by_name.insert((node.resource_type, node.package_name.clone(), node.name.clone()), node.unique_id.clone());
        manifest.nodes.insert(node.unique_id.clone(), Box::new(node));
    }
    (manifest, by_name, diags)
}

/// Parse one file: its node, with its `ref()`, `source()` and `config()` calls read by the
/// static parser or recorded by one render (`execute = false`), and the warnings its configs
/// give. `counts`: files read by the static parser, and files rendered.
fn parse_file(
    p: &Pending,
    project: &Project,
    engine: &Engine,
    globals: &Arc<Globals>,
    counts: &[std::sync::atomic::AtomicUsize; 2],
) -> Result<Parsed, Vec<Diagnostic>> {
    // dbt_project.yml folders first, then the property YAML's `config:` on top.
    let mut config = folder_config(project, p.package, p.kind, &p.fqn);
    let mut config_problem = None;
    if let Some(patch) = p.patch {
        // Property YAML configs render with target, var and env_var, as in dbt.
        match rendered_config(patch, project, &globals.target) {
            Ok(c) => config.merge(&c),
            Err(d) => {
                config_problem = Some(d);
                config.merge(&patch.config);
            }
        }
    }
    match parse_configured(p, config, engine, globals, counts) {
        Ok((node, mut warnings)) => {
            warnings.extend(config_problem);
            Ok((node, warnings))
        }
        Err(mut ds) => {
            ds.extend(config_problem);
            Err(ds)
        }
    }
}

/// [`parse_file`] once the file's config is known.
fn parse_configured(
    p: &Pending,
    config: Config,
    engine: &Engine,
    globals: &Arc<Globals>,
    counts: &[std::sync::atomic::AtomicUsize; 2],
) -> Result<Parsed, Vec<Diagnostic>> {
    let name = match (&p.version, p.patch) {
        (Some(_), Some(patch)) => patch.name.clone(),
        _ => p.file.stem(),
    };
    let pkg = p.package.name.clone();
    let unique_id = match &p.version {
        Some(v) => format!("{}.{}.{}.v{}", p.resource_type.as_str(), pkg, name, v.v),
        None => format!("{}.{}.{}", p.resource_type.as_str(), pkg, name),
    };
    let mut node = Node {
        unique_id: unique_id.clone(),
        name: name.clone(),
        resource_type: p.resource_type,
        package_name: pkg.clone(),
        path: p.file.resource_path.clone(),
        original_file_path: p.file.path.clone(),
        raw_code: p.file.source.clone(),
        fqn: p.fqn.clone(),
        config,
        description: p.patch.map(|x| x.description.clone()).unwrap_or_default(),
        columns: p.patch.map(|x| x.columns.clone()).unwrap_or_default(),
        patch_path: p.patch.map(|x| x.file.to_string_lossy().replace('\\', "/")),
        refs: vec![],
        sources: vec![],
        depends_on: vec![],
        relation: Relation::new(globals.dialect, &globals.target_database, &globals.target_schema, &name),
        file_path: p.file.abs_path.clone(),
        test: (p.resource_type == ResourceType::Test).then(Default::default),
        language: Language::Sql,
        constraints: p.patch.map(|x| x.constraints.clone()).unwrap_or_default(),
        version: p.version.clone().map(Box::new),
    };
    if p.resource_type == ResourceType::Seed {
        return Ok((node, vec![]));
    }
    if p.resource_type == ResourceType::Model && p.file.path.ends_with(".py") {
        return python_node(node);
    }
    // dbt's static parser: most models need no render to know their ref/source/config calls.
    let static_parser = globals.flags.get("STATIC_PARSER").and_then(Json::as_bool).unwrap_or(true)
        && p.resource_type != ResourceType::Snapshot;
    let extracted = static_parser.then(|| engine.extract(&p.file.path, &p.file.source, &pkg, globals)).flatten();
    counts[usize::from(extracted.is_none())].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = match extracted {
        Some(x) => {
            crate::templating::Rendered { refs: x.refs, sources: x.sources, config: x.config, ..Default::default() }
        }
        None => {
            let ctx = NodeContext {
                unique_id,
                name: name.clone(),
                package: pkg.clone(),
                this: Some(node.relation.clone()),
                config: node.config.clone(),
                model: crate::templating::ModelJson::ready(node.to_json()),
                is_incremental: false,
                overrides: None,
                extra: vec![],
            };
            engine.render(&p.file.path, &p.file.source, Phase::Parse, globals, ctx, None).map_err(|d| vec![d])?
        }
    };
    node.config.merge(&out.config);
    if node.resource_type == ResourceType::Test {
        data_tests::set_test_defaults(&mut node.config);
    }
    let mut warnings = unknown_config_keys(&node, &out.config);
    if node.resource_type == ResourceType::Snapshot {
        node.config.set("materialized", Json::String("snapshot".into()));
        if let Some(d) = snapshot_config_problem(&node) {
            warnings.push(d);
        }
    }
    if let Some(d) = microbatch_config_problem(&node) {
        warnings.push(d);
    }
    warnings.extend(engine_config_problem(&node));
    node.refs = out.refs;
    node.sources = out.sources;
    Ok((node, warnings))
}

/// Property entries that describe nothing: a warning each, with a did-you-mean.
fn unmatched_patches(
    project: &Project,
    package: &Package,
    by_name: &BTreeMap<(ResourceType, String, String), String>,
    manifest: &Manifest,
    diags: &mut Diagnostics,
) {
    let pkg = &package.name;
    let props = &package.properties;
    for (kind, rt, patches) in [
        ("model", ResourceType::Model, &props.models),
        ("seed", ResourceType::Seed, &props.seeds),
        ("analysis", ResourceType::Analysis, &props.analyses),
    ] {
        let names: Vec<&str> =
            by_name.keys().filter(|(t, p, _)| *t == rt && p == pkg).map(|(_, _, n)| n.as_str()).collect();
        for (name, patch) in patches {
            let disabled = manifest.disabled.contains(&format!("{}.{}.{}", rt.as_str(), pkg, name));
            if !by_name.contains_key(&(rt, pkg.clone(), name.clone())) && !disabled {
                diags.push(
                    Diagnostic::warning(
                        "W0201",
                        format!("{kind} '{name}' is described in YAML but no such {kind} exists"),
                    )
                    .with_span(yaml_span(project, &patch.file, &patch.ypath.key("name")))
                    .with_opt_help(did_you_mean(name, names.iter().copied())),
                );
            }
        }
    }
}

/// The package's source tables, their names rendered, with dbt's freshness warning and
/// external locations.
fn add_sources(
    project: &Project,
    package: &Package,
    globals: &Globals,
    manifest: &mut Manifest,
    diags: &mut Diagnostics,
) {
    let pkg = &package.name;
    let props = &package.properties;
    for t in &props.sources {
        let unique_id = format!("source.{}.{}.{}", pkg, t.source_name, t.name);
        if !t.config.enabled() {
            manifest.disabled.insert(unique_id);
            continue;
        }
        let mut fqn = vec![pkg.clone()];
        fqn.extend(property_file_folders(&package_relative(package, project, &t.file)));
        fqn.push(t.source_name.clone());
        fqn.push(t.name.clone());
        // database, schema and identifier render with `target`, `var` and `env_var`, as in dbt.
        let mut t = t.clone();
        for (key, slot) in [
            ("database", t.database.as_mut()),
            ("schema", Some(&mut t.schema)),
            ("identifier", Some(&mut t.identifier)),
        ] {
            let Some(value) = slot else { continue };
            if let Err(d) = render_property(value, project, &globals.target) {
                diags.push(d.with_span(yaml_span(project, &t.file, &t.ypath.key(key))));
            }
        }
        let t = &t;
        if t.freshness.as_ref().is_some_and(|f| f.has_threshold())
            && t.loaded_at_field.is_none()
            && t.loaded_at_query.is_none()
        {
            diags.push(
                Diagnostic::warning(
                    "W0206",
                    format!(
                        "The configured adapter does not support metadata-based freshness. A loaded_at_field must be specified for source '{}.{}'.",
                        t.source_name, t.name
                    ),
                )
                .with_span(yaml_span(project, &t.file, &t.ypath.key("name")))
                .with_help("add `loaded_at_field: <column>` (or a `loaded_at_query`), or `freshness: null` to check nothing"),
            );
        }
        let database = t.database.clone().unwrap_or_else(|| globals.target_database.clone());
        let mut relation = Relation::new(globals.dialect, &database, &t.schema, &t.identifier);
        match external_source_location(t, &database) {
            Ok(e) => relation.external = e,
            Err(msg) => diags.push(
                Diagnostic::error("E0219", format!("source '{}.{}': {msg}", t.source_name, t.name))
                    .with_span(yaml_span(project, &t.file, &t.ypath.key("name")))
                    .with_help("`formatter` is one of newstyle ({name}), oldstyle (%(name)s) or template ($name)"),
            ),
        }
        manifest.sources.insert(unique_id.clone(), SourceNode { unique_id, table: t.clone(), fqn, relation });
    }
}

/// The package's exposures: their depends_on are `ref('...')` / `source('...', '...')` strings.
fn add_exposures(
    project: &Project,
    package: &Package,
    call: &regex::Regex,
    manifest: &mut Manifest,
    diags: &mut Diagnostics,
) {
    let pkg = &package.name;
    let props = &package.properties;
    for (file, yp, raw) in &props.exposures {
        let Some(name) = raw.get("name").and_then(Json::as_str) else { continue };
        let mut refs = vec![];
        let mut sources = vec![];
        for (i, d) in raw.get("depends_on").and_then(Json::as_array).into_iter().flatten().enumerate() {
            let text = d.as_str().unwrap_or_default();
            match call.captures(text) {
                Some(c) if &c[1] == "ref" => refs.push(match c.get(3) {
                    Some(n) => RefCall::new(Some(c[2].to_string()), n.as_str().to_string()),
                    None => RefCall::new(None, c[2].to_string()),
                }),
                Some(c) if c.get(3).is_some() => sources.push((c[2].to_string(), c[3].to_string())),
                _ => diags.push(
                    Diagnostic::warning(
                        "W0203",
                        format!("exposure '{name}': depends_on entry `{text}` is not ref() or source()"),
                    )
                    .with_span(yaml_span(project, file, &yp.key("depends_on").index(i)))
                    .with_help("write `- ref('model_name')` or `- source('source', 'table')`"),
                ),
            }
        }
        let rel = package_relative(package, project, file);
        let mut fqn = vec![pkg.clone()];
        fqn.extend(property_file_folders(&rel));
        fqn.push(name.to_string());
        let unique_id = format!("exposure.{pkg}.{name}");
        manifest.exposures.insert(
            unique_id.clone(),
            Exposure {
                unique_id,
                name: name.to_string(),
                package_name: pkg.clone(),
                file: file.to_string_lossy().replace('\\', "/"),
                fqn,
                raw: raw.clone(),
                refs,
                sources,
                depends_on: vec![],
            },
        );
    }
}

/// Each version's (package, file stem) with the patch the version makes of its model's.
type VersionPatches = BTreeMap<(String, String), (NodePatch, VersionInfo)>;

/// Versioned models: each version's file (`<name>_v<v>`, or `defined_in`) with the patch the
/// version makes of the model's (config over config, its columns, tests and constraints).
fn version_patches(project: &Project) -> VersionPatches {
    let mut versions: VersionPatches = BTreeMap::new();
    for package in &project.packages {
        for patch in package.properties.models.values() {
            let Some((latest, latest_json)) = patch.latest_version.clone() else { continue };
            for v in &patch.versions {
                let stem = v.defined_in.clone().unwrap_or_else(|| format!("{}_v{}", patch.name, v.v.replace('.', "_")));
                let mut config = patch.config.clone();
                config.merge(&v.config);
                let derived = NodePatch {
                    config,
                    columns: v.columns.clone(),
                    tests: v.tests.clone(),
                    description: v.description.clone().unwrap_or_else(|| patch.description.clone()),
                    constraints: v.constraints.clone().unwrap_or_else(|| patch.constraints.clone()),
                    versions: vec![],
                    ..patch.clone()
                };
                let info = VersionInfo {
                    v: v.v.clone(),
                    v_json: v.v_json.clone(),
                    latest: latest.clone(),
                    latest_json: latest_json.clone(),
                    deprecation_date: v.deprecation_date.clone().or_else(|| patch.deprecation_date.clone()),
                };
                versions.insert((package.name.clone(), stem), (derived, info));
            }
        }
    }
    versions
}

/// Relation names (`generate_database_name` / `generate_schema_name` / `generate_alias_name`,
/// in parallel), and two nodes built as one relation reported.
fn name_relations(engine: &Engine, globals: &Arc<Globals>, manifest: &mut Manifest, diags: &mut Diagnostics) {
    // Each node's relation, and for a model or seed that is built, the relation's name as the
    // database compares it.
    // (A node whose relation cannot be named keeps the one it was parsed with.)
    let named: Vec<(Option<Diagnostic>, Option<String>)> = manifest
        .nodes
        .par_iter_mut()
        .map(|(_, n)| {
            let problem = match relation_for(engine, globals, n) {
                Ok(rel) => {
                    n.relation = rel;
                    None
                }
                Err(d) => Some(d),
            };
            let built =
                matches!(n.resource_type, ResourceType::Model | ResourceType::Seed) && n.materialized() != "ephemeral";
            (problem, built.then(|| n.relation.render().to_lowercase()))
        })
        .collect();

    // Two nodes built as one relation (the same name in two packages, or an alias). Reported in
    // node order.
    let mut built_as: crate::templating::FastMap<String, &Node> = Default::default();
    for (n, (problem, key)) in manifest.nodes.values().zip(named) {
        diags.extend(problem);
        let Some(key) = key else { continue };
        match built_as.get(&key) {
            Some(prev) => diags.push(
                Diagnostic::error(
                    "E0204",
                    format!("'{}' and '{}' would both be built as {}", prev.unique_id, n.unique_id, n.relation),
                )
                .with_span(Span::file_only(&n.original_file_path))
                .with_note(format!("the other is {}", prev.original_file_path))
                .with_help("give one of them an `alias` or a `schema` config, or disable it"),
            ),
            None => {
                built_as.insert(key, n);
            }
        }
    }
}

/// Each node's `depends_on`: its refs, sources and the tables its foreign keys point at
/// (`constraint_deps`); a ref or source that resolves to nothing is located where it is written.
fn resolve_dependencies(
    project: &Project,
    resolver: &Resolver,
    constraint_deps: BTreeMap<String, Vec<String>>,
    manifest: &mut Manifest,
    diags: &mut Diagnostics,
) {
    // Each node on its own, on every core; the problems in node order.
    let disabled = &manifest.disabled;
    let problems: Vec<Vec<Diagnostic>> = manifest
        .nodes
        .par_iter_mut()
        .map(|(_, n)| {
            let mut problems = vec![];
            let d = node_dependencies(project, resolver, constraint_deps.get(&n.unique_id), disabled, n, &mut problems);
            n.depends_on = d;
            problems
        })
        .collect();
    for p in problems {
        diags.extend(p);
    }
}

/// What one node depends on: the nodes its refs, sources and foreign keys name.
fn node_dependencies(
    project: &Project,
    resolver: &Resolver,
    constraint_deps: Option<&Vec<String>>,
    disabled: &BTreeSet<String>,
    n: &Node,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut d: BTreeSet<String> = constraint_deps.into_iter().flatten().cloned().collect();
    for r in &n.refs {
        match resolver.node(r, &n.package_name) {
            Some(t) => {
                d.insert(t.unique_id.clone());
            }
            None => {
                let disabled = disabled.iter().any(|u| u.rsplit('.').next() == Some(r.name.as_str()));
                let versions: Vec<String> =
                    resolver.nodes.get(&r.name).into_iter().flatten().filter_map(|c| c.version.clone()).collect();
                let (code, msg, help) = if disabled {
                    (
                        "E0205",
                        format!("'{}' depends on '{}', which is disabled", n.name, r.name),
                        Some("enable it, or remove the ref".to_string()),
                    )
                } else if let (Some(v), false) = (&r.version, versions.is_empty()) {
                    (
                        "E0201",
                        format!("ref('{}', v='{v}'): model '{}' has no version {v}", r.name, r.name),
                        did_you_mean(v, versions.iter().map(String::as_str))
                            .map(|h| h.replace("'?", "'? (v=...)"))
                            .or_else(|| Some(format!("its versions are {}", versions.join(", ")))),
                    )
                } else {
                    let names: Vec<&str> = resolver.nodes.keys().map(String::as_str).collect();
                    (
                        "E0201",
                        format!("ref('{}') does not match any model, seed or snapshot", r.name),
                        did_you_mean(&r.name, names),
                    )
                };
                diags.push(
                    Diagnostic::error(code, msg)
                        .with_span(decl_span(project, n).unwrap_or_else(|| call_span(n, "ref", &r.name)))
                        .with_opt_help(help),
                );
            }
        }
    }
    for (s, t) in &n.sources {
        match resolver.sources.get(&(s.clone(), t.clone())) {
            Some(x) => {
                d.insert(x.unique_id.clone());
            }
            None => {
                let names: Vec<String> = resolver.sources.keys().map(|(a, b)| format!("{a}.{b}")).collect();
                let help = did_you_mean(&format!("{s}.{t}"), names.iter().map(String::as_str))
                    .unwrap_or_else(|| "declare it under `sources:` in a property file".into());
                diags.push(
                    Diagnostic::error("E0202", format!("source('{s}', '{t}') is not declared in any property file"))
                        .with_span(decl_span(project, n).unwrap_or_else(|| call_span(n, "source", s)))
                        .with_help(help),
                );
            }
        }
    }
    d.into_iter().collect()
}

/// Each exposure's `depends_on`. An exposure on something that does not exist is reported, and
/// the rest goes on (dbt stops; here the docs of everything else are still useful).
fn resolve_exposures(project: &Project, resolver: &Resolver, manifest: &mut Manifest, diags: &mut Diagnostics) {
    let mut exposure_deps: Vec<(String, Vec<String>)> = vec![];
    for e in manifest.exposures.values() {
        let mut d = BTreeSet::new();
        let names: Vec<&str> = resolver.nodes.keys().map(String::as_str).collect();
        let decl = || -> Span {
            let yp = props_path(project, &e.package_name, &e.name);
            let span = yp.map(|(f, y)| yaml_span(project, &f, &y.key("depends_on")));
            span.unwrap_or_else(|| Span::file_only(&e.file))
        };
        for r in &e.refs {
            match resolver.node(r, &e.package_name) {
                Some(t) => {
                    d.insert(t.unique_id.clone());
                }
                None => diags.push(
                    Diagnostic::warning(
                        "W0204",
                        format!("exposure '{}' depends on ref('{}'), which does not exist", e.name, r.name),
                    )
                    .with_span(decl())
                    .with_opt_help(did_you_mean(&r.name, names.iter().copied())),
                ),
            }
        }
        for (s, t) in &e.sources {
            match resolver.sources.get(&(s.clone(), t.clone())) {
                Some(x) => {
                    d.insert(x.unique_id.clone());
                }
                None => diags.push(
                    Diagnostic::warning(
                        "W0204",
                        format!("exposure '{}' depends on source('{s}', '{t}'), which is not declared", e.name),
                    )
                    .with_span(decl()),
                ),
            }
        }
        exposure_deps.push((e.unique_id.clone(), d.into_iter().collect()));
    }
    for (id, d) in exposure_deps {
        if let Some(e) = manifest.exposures.get_mut(&id) {
            e.depends_on = d;
        }
    }
}

/// The deprecation date as dbt prints it (`2024-01-01T00:00:00+00:00`), if it is one.
pub fn deprecation_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = text.trim();
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok().map(|d| d.and_utc()))
        .or_else(|| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok().map(|d| d.and_utc()))
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
}

/// Versioned models: every declared version has its file; a version past its
/// `deprecation_date`, and a ref to one, are dbt's warnings.
fn check_versions(project: &Project, manifest: &Manifest, diags: &mut Diagnostics) {
    let now = chrono::Utc::now();
    for package in &project.packages {
        // The model files' names, for a suggestion (only when a version has no file).
        let stems = std::cell::OnceCell::new();
        for patch in package.properties.models.values().filter(|p| !p.versions.is_empty()) {
            for v in &patch.versions {
                let id = format!("model.{}.{}.v{}", package.name, patch.name, v.v);
                if manifest.nodes.contains_key(&id) || manifest.disabled.contains(&id) {
                    continue;
                }
                let stem = v.defined_in.clone().unwrap_or_else(|| format!("{}_v{}", patch.name, v.v.replace('.', "_")));
                diags.push(
                    Diagnostic::error(
                        "E0110",
                        format!(
                            "version {} of model '{}' is defined in '{stem}', which is not a model file",
                            v.v, patch.name
                        ),
                    )
                    .with_span(yaml_span(project, &patch.file, &v.ypath.key("v")))
                    .with_help(
                        did_you_mean(
                            &stem,
                            stems
                                .get_or_init(|| package.models.iter().map(|f| f.stem()).collect::<Vec<String>>())
                                .iter()
                                .map(String::as_str),
                        )
                        .unwrap_or_else(|| {
                            format!(
                            "create {stem}.sql under the model paths, or set `defined_in:` to the file that defines it"
                        )
                        }),
                    ),
                );
            }
        }
    }
    let deprecated = |n: &Node| -> Option<(String, chrono::DateTime<chrono::Utc>)> {
        let text = n.version.as_ref()?.deprecation_date.clone()?;
        let at = deprecation_time(&text)?;
        Some((at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(), at))
    };
    // (Only versioned models have a deprecation date: without one, nothing to look up.)
    if !manifest.nodes.values().any(|n| n.version.as_ref().is_some_and(|v| v.deprecation_date.is_some())) {
        return;
    }
    for n in manifest.nodes.values() {
        if let Some((shown, _)) = deprecated(n).filter(|(_, at)| *at < now) {
            diags.push(
                Diagnostic::warning(
                    "W0207",
                    format!("Model {} has passed its deprecation date of {shown}. This model should be disabled or removed.", n.versioned_name()),
                )
                .with_span(Span::file_only(&n.original_file_path)),
            );
        }
        for d in n.depends_on.iter().filter(|_| !n.is_test()) {
            let Some(t) = manifest.nodes.get(d) else { continue };
            let Some((shown, at)) = deprecated(t) else { continue };
            let latest = t.version.as_ref().map(|v| v.latest.clone()).unwrap_or_default();
            if at < now && t.version.as_ref().is_some_and(|v| !v.is_latest()) {
                diags.push(
                    Diagnostic::warning(
                        "W0208",
                        format!(
                            "While compiling '{}': Found a reference to {}, which was deprecated on '{shown}'. A new version of '{}' is available. Migrate now: {{{{ ref('{}', '{}', v='{latest}') }}}}.",
                            n.name, t.versioned_name(), t.name, t.package_name, t.name
                        ),
                    )
                    .with_span(call_span(n, "ref", &t.name)),
                );
            }
        }
    }
}

/// Whether a node's contract is enforced (`contract: {enforced: true}`).
pub fn contract_enforced(n: &Node) -> bool {
    n.config.get("contract").and_then(|c| c.get("enforced")).and_then(Json::as_bool).unwrap_or(false)
}

/// Model contracts, checked as they are parsed: a contracted model declares its columns, each
/// with a `data_type`; model-level constraints name declared columns; constraints on a view are
/// ignored with dbt's warning. A foreign key's `to: ref(...)` / `source(...)` becomes the
/// relation it names and a dependency, as in dbt. Returns the dependencies by node.
fn contracts(
    project: &Project,
    resolver: &Resolver,
    manifest: &mut Manifest,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Vec<String>> {
    let call = regex::Regex::new(r#"^\s*(ref|source)\s*\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)\s*$"#)
        .expect("constraint `to` pattern");
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut resolved: Vec<(String, Option<usize>, usize, String)> = vec![];
    for n in manifest.nodes.values().filter(|n| n.resource_type == ResourceType::Model) {
        let Some(package) = project.packages.iter().find(|p| p.name == n.package_name) else { continue };
        let Some(patch) = package.properties.models.get(&n.name) else {
            if contract_enforced(n) {
                diags.push(
                    Diagnostic::error("E0220", format!("model '{}' has an enforced contract but no columns", n.name))
                        .with_span(Span::file_only(&n.original_file_path))
                        .with_help("declare its columns, each with a `data_type`, under `models:` in a property file"),
                );
            }
            continue;
        };
        let at = |yp: &crate::project::yaml::YPath| yaml_span(project, &patch.file, yp);
        if contract_enforced(n) {
            if n.columns.is_empty() {
                diags.push(
                    Diagnostic::error("E0220", format!("model '{}' has an enforced contract but no columns", n.name))
                        .with_span(at(&patch.ypath.key("name")))
                        .with_help("declare its columns, each with a `data_type`; the contract checks every one"),
                );
            }
            for (i, c) in n.columns.iter().enumerate() {
                if c.data_type.is_none() {
                    diags.push(
                        Diagnostic::error(
                            "E0220",
                            format!(
                                "column '{}' of model '{}' has no data_type, and its contract is enforced",
                                c.name, n.name
                            ),
                        )
                        .with_span(at(&patch.ypath.key("columns").index(i).key("name")))
                        .with_help("add `data_type: <type>`: an enforced contract checks every column's name and type"),
                    );
                }
            }
            let on_schema_change = n.config.get_str("on_schema_change").unwrap_or_else(|| "ignore".into());
            if n.materialized() == "incremental" && !matches!(on_schema_change.as_str(), "append_new_columns" | "fail")
            {
                diags.push(
                    Diagnostic::error(
                        "E0222",
                        format!("Invalid value for on_schema_change: {on_schema_change}. Models materialized as incremental with contracts enabled must set on_schema_change to 'append_new_columns' or 'fail'"),
                    )
                    .with_span(at(&patch.ypath.key("name")))
                    .with_help(format!("set on_schema_change='fail' (or 'append_new_columns') on model '{}'", n.name)),
                );
            }
            let names: Vec<&str> = n.columns.iter().map(|c| c.name.as_str()).collect();
            for c in &n.constraints {
                for (j, col) in c.columns.iter().enumerate() {
                    if !names.iter().any(|x| x.eq_ignore_ascii_case(col)) {
                        diags.push(
                            Diagnostic::error(
                                "E0221",
                                format!(
                                    "{} constraint of model '{}' names column '{col}', which it does not declare",
                                    c.kind, n.name
                                ),
                            )
                            .with_span(at(&c.ypath.key("columns").index(j)))
                            .with_help(
                                did_you_mean(col, names.iter().copied())
                                    .unwrap_or_else(|| format!("the declared columns are: {}", names.join(", "))),
                            ),
                        );
                    }
                }
            }
            let all = n.constraints.iter().chain(n.columns.iter().flat_map(|c| &c.constraints));
            if n.materialized() == "view" {
                if let Some(c) = all.clone().find(|c| c.warn_unsupported && c.kind != "custom") {
                    diags.push(
                        Diagnostic::warning(
                            "W0205",
                            "Constraint types are not supported for view materializations and will be ignored.",
                        )
                        .with_span(at(&c.ypath))
                        .with_help("set 'warn_unsupported: false' on this constraint to ignore this warning"),
                    );
                }
            }
        }
        // Foreign keys: (column index or None for the model, constraint index, constraint).
        let fks = n
            .columns
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.constraints.iter().enumerate().map(move |(j, k)| (Some(i), j, k)));
        let fks = fks.chain(n.constraints.iter().enumerate().map(|(j, k)| (None, j, k)));
        for (col, j, k) in fks {
            let Some(to) = k.to.as_deref().filter(|_| k.kind == "foreign_key") else { continue };
            let Some(m) = call.captures(to) else { continue };
            let target = if &m[1] == "ref" {
                let r = match m.get(3) {
                    Some(name) => RefCall::new(Some(m[2].to_string()), name.as_str().to_string()),
                    None => RefCall::new(None, m[2].to_string()),
                };
                resolver.node(&r, &n.package_name).map(|t| (t.unique_id.clone(), t.relation.clone()))
            } else {
                m.get(3)
                    .and_then(|t| resolver.sources.get(&(m[2].to_string(), t.as_str().to_string())))
                    .map(|x| (x.unique_id.clone(), x.relation.clone()))
            };
            match target {
                Some((id, rel)) => {
                    deps.entry(n.unique_id.clone()).or_default().push(id);
                    resolved.push((n.unique_id.clone(), col, j, rel.to_string()));
                }
                None => {
                    let names: Vec<&str> = resolver.nodes.keys().map(String::as_str).collect();
                    diags.push(
                        Diagnostic::error(
                            "E0201",
                            format!(
                                "foreign key of model '{}': {to} does not match any model, seed, snapshot or source",
                                n.name
                            ),
                        )
                        .with_span(at(&k.ypath.key("to")))
                        .with_opt_help(m.get(3).is_none().then(|| did_you_mean(&m[2], names)).flatten()),
                    );
                }
            }
        }
    }
    for (id, col, j, to) in resolved {
        let Some(n) = manifest.nodes.get_mut(&id) else { continue };
        let k = match col {
            Some(i) => &mut n.columns[i].constraints[j],
            None => &mut n.constraints[j],
        };
        k.to = Some(to);
    }
    deps
}

/// Snapshot "files" for every package: each `{% snapshot name %}` block of the snapshot paths
/// (its body padded so line numbers stay those of the file), and each `snapshots:` entry of
/// property YAML with a `relation`.
fn snapshot_sources(project: &Project, diags: &mut Diagnostics) -> BTreeMap<String, Vec<SourceFile>> {
    let mut out: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
    for package in &project.packages {
        let files = out.entry(package.name.clone()).or_default();
        for f in &package.snapshots {
            match crate::jinja::blocks::blocks(&f.source, &["snapshot"]) {
                Ok(blocks) => {
                    for b in blocks {
                        let pad: String =
                            f.source[..b.body_start].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
                        let folder = std::path::Path::new(&f.resource_path)
                            .parent()
                            .map(|p| p.to_string_lossy().to_string())
                            .unwrap_or_default();
                        let resource_path = if folder.is_empty() {
                            format!("{}.sql", b.name())
                        } else {
                            format!("{folder}/{}.sql", b.name())
                        };
                        files.push(SourceFile {
                            path: f.path.clone(),
                            resource_path,
                            abs_path: f.abs_path.clone(),
                            source: format!("{pad}{}", &f.source[b.body_start..b.body_end]).into(),
                        });
                    }
                }
                Err((start, kind)) => diags.push(
                    Diagnostic::error("E0401", format!("unclosed {{% {kind} %}} block"))
                        .with_span(Span::from_offsets(&f.path, &f.source, start, start + 2))
                        .with_help(format!("add {{% end{kind} %}} after the block")),
                ),
            }
        }
        for (name, patch) in &package.properties.snapshots {
            if let Some(rel) = &patch.relation {
                files.push(SourceFile {
                    path: patch.file.to_string_lossy().replace('\\', "/"),
                    resource_path: format!("{name}.sql"),
                    abs_path: project.root.join(&patch.file),
                    source: format!("select * from {{{{ {rel} }}}}").into(),
                });
            }
        }
    }
    out
}

/// A snapshot whose config cannot work: no unique_key, no or an unknown strategy, a timestamp
/// strategy without updated_at, a check strategy without check_cols.
fn snapshot_config_problem(n: &Node) -> Option<Diagnostic> {
    let c = &n.config;
    let (key, msg, help) = if c.get("unique_key").is_none_or(Json::is_null) {
        (
            "unique_key",
            format!("snapshot '{}' has no unique_key", n.name),
            "set unique_key to the column (or list of columns) that identifies a row",
        )
    } else {
        match c.get_str("strategy").as_deref() {
            Some("timestamp") if c.get_str("updated_at").is_none() => (
                "strategy",
                format!("snapshot '{}' uses the timestamp strategy without updated_at", n.name),
                "set updated_at to the column holding when a row last changed",
            ),
            Some("check") if c.get("check_cols").is_none_or(Json::is_null) => (
                "strategy",
                format!("snapshot '{}' uses the check strategy without check_cols", n.name),
                "set check_cols to a list of columns, or 'all'",
            ),
            Some("timestamp" | "check") => return None,
            Some(other) => {
                ("strategy", format!("snapshot '{}' has strategy '{other}'", n.name), "strategy is timestamp or check")
            }
            None => (
                "strategy",
                format!("snapshot '{}' has no strategy", n.name),
                "set strategy to timestamp (with updated_at) or check (with check_cols)",
            ),
        }
    };
    let at = n.raw_code.find(key).map(|i| (i, key.len())).or_else(|| n.raw_code.find("config(").map(|i| (i, 6)));
    let span = match at {
        Some((i, len)) => Span::from_offsets(&n.original_file_path, &n.raw_code, i, i + len),
        None => Span::file_only(n.patch_path.clone().unwrap_or_else(|| n.original_file_path.clone())),
    };
    Some(Diagnostic::error("E0703", msg).with_span(span).with_help(help))
}

/// A microbatch model whose config cannot work: no event_time, no or an unknown batch_size, a
/// begin that is not a date, a lookback that is not a number.
fn microbatch_config_problem(n: &Node) -> Option<Diagnostic> {
    if n.resource_type != ResourceType::Model || !n.is_microbatch() {
        return None;
    }
    let c = &n.config;
    let what = format!("microbatch model '{}'", n.name);
    let (key, msg, help) = if c.get_str("event_time").is_none() {
        (
            "incremental_strategy",
            format!("{what} has no event_time"),
            "set event_time to the column that places each row in a batch".to_string(),
        )
    } else if c.get_str("batch_size").as_deref().and_then(crate::project::microbatch::BatchSize::parse).is_none() {
        let got = c.get_str("batch_size").map(|b| format!(" '{b}'")).unwrap_or_default();
        (
            "batch_size",
            format!("{what} has no valid batch_size{got}"),
            "set batch_size to hour, day, month or year".into(),
        )
    } else if c.get_str("begin").is_none() {
        (
            "incremental_strategy",
            format!("{what} has no begin"),
            "set begin to the date its first build starts from, e.g. '2024-01-01'".into(),
        )
    } else if c.get_str("begin").as_deref().and_then(crate::project::microbatch::parse_time).is_none() {
        ("begin", format!("{what}: begin is not a date or timestamp"), "write begin as '2024-01-01'".into())
    } else if c.get("lookback").is_some_and(|l| !l.is_u64()) {
        (
            "lookback",
            format!("{what}: lookback is not a whole number"),
            "set lookback to how many batches before the current one to build again".into(),
        )
    } else {
        return None;
    };
    let at = n.raw_code.find(key).map(|i| (i, key.len())).or_else(|| n.raw_code.find("config(").map(|i| (i, 6)));
    let span = match at {
        Some((i, len)) => Span::from_offsets(&n.original_file_path, &n.raw_code, i, i + len),
        None => Span::file_only(n.patch_path.clone().unwrap_or_else(|| n.original_file_path.clone())),
    };
    Some(Diagnostic::error("E0704", msg).with_span(span).with_help(help))
}

/// A config the target's engine cannot build (for Spark: dbt-duckdb's materializations, and
/// what needs MERGE), located at the key in the model's file.
fn engine_config_problem(n: &Node) -> Option<Diagnostic> {
    if !n.config.enabled() {
        return None;
    }
    let materialized = n.materialized();
    let strategy = n.config.get_str("incremental_strategy");
    let file_format = n.config.get_str("file_format");
    let shape = crate::adapter::NodeShape {
        resource_type: n.resource_type.as_str(),
        language: if n.language == crate::parse::Language::Python { "python" } else { "sql" },
        materialized: &materialized,
        strategy: strategy.as_deref(),
        file_format: file_format.as_deref(),
    };
    let p = (n.relation.dialect.config_problem)(&shape)?;
    let at = n.raw_code.find(p.key).map(|i| (i, p.key.len())).or_else(|| n.raw_code.find("config(").map(|i| (i, 6)));
    let span = match at {
        Some((i, len)) => Span::from_offsets(&n.original_file_path, &n.raw_code, i, i + len),
        None => Span::file_only(n.patch_path.clone().unwrap_or_else(|| n.original_file_path.clone())),
    };
    Some(
        Diagnostic::error("E0706", format!("{}: {}", n.name, p.message))
            .with_span(span)
            .with_note(format!("the target's engine is {}", n.relation.dialect.name))
            .with_help(p.help),
    )
}

/// The property file and YAML path of an exposure.
fn props_path(
    project: &Project,
    package: &str,
    name: &str,
) -> Option<(std::path::PathBuf, crate::project::yaml::YPath)> {
    let p = project.packages.iter().find(|p| p.name == package)?;
    p.properties
        .exposures
        .iter()
        .find(|(_, _, raw)| raw.get("name").and_then(Json::as_str) == Some(name))
        .map(|(f, y, _)| (f.clone(), y.clone()))
}

/// A file's path inside its package (the project-relative path without the packages folder).
pub fn package_relative(package: &Package, project: &Project, file: &std::path::Path) -> String {
    // The root project's files are relative to it already (the common case, and the cheap one).
    let relative = if package.dir == project.root {
        file
    } else {
        let prefix = crate::diagnostics::rel_path(&project.root, &package.dir);
        file.strip_prefix(&prefix).unwrap_or(file)
    };
    let text = relative.to_string_lossy();
    if text.contains('\\') {
        text.replace('\\', "/")
    } else {
        text.into_owned()
    }
}

/// For nodes declared in property YAML (generic and unit tests): where the declaration is.
fn decl_span(project: &Project, n: &Node) -> Option<Span> {
    let (file, yp) = n.test.as_ref()?.decl.clone()?;
    Some(yaml_span(project, &file, &yp))
}

/// The span of a YAML path in a project file (the file alone when it cannot be read).
pub fn yaml_span(project: &Project, file: &std::path::Path, yp: &crate::project::yaml::YPath) -> Span {
    crate::project::yaml::span_at(&project.root, file, yp)
}

/// The folders of a property file below its resource folder (`models/marts/x.yml` → `marts`),
/// which nodes declared in it (sources, generic and unit tests) carry in their fqn.
pub fn property_file_folders(file: &str) -> Vec<String> {
    std::path::Path::new(file)
        .parent()
        .into_iter()
        .flat_map(|p| p.components().skip(1).map(|c| c.as_os_str().to_string_lossy().to_string()))
        .collect()
}

/// Where `ref('name')` is written in the node's file (the file when it cannot be found).
pub fn ref_span(n: &Node, name: &str) -> Span {
    call_span(n, "ref", name)
}

/// Where `ref('name')` or `source('name', ...)` is written in the node's file.
fn call_span(n: &Node, func: &str, arg: &str) -> Span {
    let src = &n.raw_code;
    let mut from = 0;
    while let Some(i) = src[from..].find(func) {
        let start = from + i;
        let rest = src[start + func.len()..].trim_start();
        if let Some(inner) = rest.strip_prefix('(') {
            let inner = inner.trim_start();
            for q in ['\'', '"'] {
                if inner.starts_with(&format!("{q}{arg}{q}"))
                    || (func == "ref"
                        && inner.contains(&format!("{q}{arg}{q}"))
                        && inner.find(')') > inner.find(&format!("{q}{arg}{q}")))
                {
                    let end = src[start..].find(')').map(|j| start + j + 1).unwrap_or(start + func.len());
                    return Span::from_offsets(&n.original_file_path, src, start, end);
                }
            }
        }
        from = start + func.len();
    }
    Span::file_only(&n.original_file_path)
}

fn relation_for(engine: &Engine, globals: &Arc<Globals>, n: &Node) -> Result<Relation, Diagnostic> {
    let custom = |k: &str| n.config.get_str(k);
    // Legacy snapshots name their schema (and database) exactly.
    if let Some(schema) = (n.resource_type == ResourceType::Snapshot).then(|| custom("target_schema")).flatten() {
        let database = custom("target_database").unwrap_or_else(|| globals.target_database.clone());
        let alias = custom("alias").unwrap_or_else(|| n.name.clone());
        return Ok(Relation::new(globals.dialect, &database, &schema, &alias));
    }
    let builtin = |name: &str| engine.is_builtin(name);
    // The built-in naming macros are dbt's defaults; with no project override, the same rules
    // run in Rust, which keeps parse of large projects fast.
    let fast = builtin("generate_schema_name") && builtin("generate_alias_name") && builtin("generate_database_name");
    if fast {
        let database = custom("database").unwrap_or_else(|| globals.target_database.clone());
        let schema = match custom("schema") {
            Some(s) => format!("{}_{}", globals.target_schema, s.trim()),
            None => globals.target_schema.clone(),
        };
        // dbt's default__generate_alias_name: a version adds `_v<version>`.
        let alias = custom("alias").map(|a| a.trim().to_string()).unwrap_or_else(|| n.cte_name());
        return Ok(Relation::new(globals.dialect, &database, &schema, &alias));
    }
    let model = minijinja::Value::from_serialize(n.to_json());
    let opt = |k: &str| custom(k).map(minijinja::Value::from).unwrap_or(minijinja::Value::from(()));
    let ctx = || NodeContext {
        unique_id: n.unique_id.clone(),
        name: n.name.clone(),
        package: n.package_name.clone(),
        this: None,
        config: n.config.clone(),
        model: crate::templating::ModelJson::ready(n.to_json()),
        is_incremental: false,
        overrides: None,
        extra: vec![],
    };
    let call = |m: &str, arg: minijinja::Value| -> Result<String, Diagnostic> {
        let (v, _) = engine.call_macro(m, vec![arg, model.clone()], Phase::Parse, globals, ctx(), None)?;
        Ok(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()).trim().to_string())
    };
    Ok(Relation::new(
        globals.dialect,
        &call("generate_database_name", opt("database"))?,
        &call("generate_schema_name", opt("schema"))?,
        &call("generate_alias_name", opt("alias"))?,
    ))
}

fn unused_config_paths(project: &Project, manifest: &Manifest, diags: &mut Diagnostics) {
    let trees = [
        ("models", &project.config.models, ResourceType::Model),
        ("seeds", &project.config.seeds, ResourceType::Seed),
        ("analyses", &project.config.analyses, ResourceType::Analysis),
    ];
    for (_key, tree, rt) in trees {
        let fqns: Vec<&Vec<String>> =
            manifest.nodes.values().filter(|n| n.resource_type == rt).map(|n| &n.fqn).collect();
        for path in tree.paths() {
            let rel = &path[1..];
            let used = fqns.iter().any(|f| f.len() >= rel.len() && f[..rel.len()] == *rel);
            let under_disabled =
                manifest.disabled.iter().any(|u| rel.last().is_some_and(|l| u.ends_with(&format!(".{l}"))));
            if !used && !under_disabled && !rel.is_empty() {
                let doc = &project.config.doc;
                let mut yp = crate::project::yaml::YPath::default();
                for p in &path {
                    yp = yp.key(p);
                }
                let siblings: Vec<String> =
                    fqns.iter().filter(|f| f.len() >= rel.len()).map(|f| f[rel.len() - 1].clone()).collect();
                diags.push(
                    Diagnostic::warning(
                        "W0101",
                        format!("config path `{}` in dbt_project.yml matches no {}", path.join("."), rt.as_str()),
                    )
                    .with_span(doc.span(&yp))
                    .with_opt_help(did_you_mean(
                        rel.last().map(String::as_str).unwrap_or(""),
                        siblings.iter().map(String::as_str),
                    )),
                );
            }
        }
    }
}

/// Warnings for keys of an in-file `config()` call that strata does not know.
fn unknown_config_keys(n: &Node, in_file: &Config) -> Vec<Diagnostic> {
    use crate::project::config::KNOWN_CONFIG_KEYS;
    let mut out = vec![];
    for key in in_file.0.keys() {
        if KNOWN_CONFIG_KEYS.contains(&key) {
            continue;
        }
        let span = match n.raw_code.find(key) {
            Some(i) => Span::from_offsets(&n.original_file_path, &n.raw_code, i, i + key.len()),
            None => Span::file_only(&n.original_file_path),
        };
        out.push(
            Diagnostic::warning("W0107", format!("unknown config key '{key}' in config()")).with_span(span).with_help(
                did_you_mean(key, KNOWN_CONFIG_KEYS.iter().copied()).unwrap_or_else(|| {
                    "custom configs belong under `meta`; this key is kept but nothing reads it".into()
                }),
            ),
        );
    }
    out
}

/// `{% docs name %}...{% enddocs %}` blocks of the project's markdown files.
fn docs_blocks(project: &Project, diags: &mut Diagnostics) -> BTreeMap<String, (String, String)> {
    let mut docs: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in project.packages.iter().flat_map(|p| &p.docs) {
        match crate::jinja::blocks::blocks(&f.source, &["docs"]) {
            Ok(bs) => {
                for b in bs {
                    let name = b.name().to_string();
                    let text = f.source[b.body_start..b.body_end].trim().to_string();
                    if let Some((_, prev)) = docs.get(&name) {
                        diags.push(
                            Diagnostic::error("E0207", format!("doc block '{name}' is defined twice"))
                                .with_span(Span::from_offsets(&f.path, &f.source, b.start, b.body_start))
                                .with_note(format!("also defined in {prev}")),
                        );
                        continue;
                    }
                    docs.insert(name, (text, f.path.clone()));
                }
            }
            Err((start, kind)) => diags.push(
                Diagnostic::error("E0401", format!("unclosed {{% {kind} %}} block"))
                    .with_span(Span::from_offsets(&f.path, &f.source, start, start + 2))
                    .with_help(format!("add {{% end{kind} %}} after the block")),
            ),
        }
    }
    docs
}

/// Resolve `{{ doc() }}` in node and column descriptions (each node on any core; the problems
/// in node order; a description without Jinja stays as it is).
fn render_descriptions(project: &Project, manifest: &mut Manifest, diags: &mut Diagnostics) {
    let texts: BTreeMap<String, String> = manifest.docs.iter().map(|(k, (t, _))| (k.clone(), t.clone())).collect();
    let problems: Vec<Vec<Diagnostic>> = manifest
        .nodes
        .par_iter_mut()
        .map(|(_, n)| {
            let mut problems = vec![];
            let Some(package) = project.packages.iter().find(|p| p.name == n.package_name) else { return problems };
            let patches = &package.properties;
            let patch = match n.resource_type {
                ResourceType::Model => patches.models.get(&n.name),
                ResourceType::Seed => patches.seeds.get(&n.name),
                ResourceType::Snapshot => patches.snapshots.get(&n.name),
                ResourceType::Analysis => patches.analyses.get(&n.name),
                ResourceType::Source | ResourceType::Test | ResourceType::UnitTest => None,
            };
            let Some(patch) = patch else { return problems };
            // (the node's own description: None; a column's: its index)
            let mut fields: Vec<(Option<usize>, &mut String)> = vec![(None, &mut n.description)];
            fields.extend(n.columns.iter_mut().enumerate().map(|(i, c)| (Some(i), &mut c.description)));
            for (column, text) in fields {
                match crate::templating::render_description(text, &texts) {
                    Ok(Some(r)) => *text = r,
                    Ok(None) => {}
                    Err((name, help)) => {
                        let yp = match column {
                            None => patch.ypath.key("description"),
                            Some(i) => patch.ypath.key("columns").index(i).key("description"),
                        };
                        let span = yaml_span(project, &patch.file, &yp);
                        let msg = if name.is_empty() {
                            "cannot render description".to_string()
                        } else {
                            format!("doc('{name}') does not match any docs block")
                        };
                        problems.push(Diagnostic::error("E0206", msg).with_span(span).with_opt_help(help));
                    }
                }
            }
            problems
        })
        .collect();
    diags.extend(problems.into_iter().flatten());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(meta: Json) -> SourceTable {
        SourceTable {
            source_name: "raw".into(),
            name: "orders".into(),
            identifier: "orders_v2".into(),
            schema: "landing".into(),
            meta,
            ..Default::default()
        }
    }

    #[test]
    fn external_locations_are_formatted_as_dbt_duckdb_does() {
        let loc = |meta: Json| external_source_location(&source(meta), "db");
        assert_eq!(loc(json!({})), Ok(None));
        assert_eq!(
            loc(json!({"external_location": "s3://b/{schema}/{name}.parquet"})),
            Ok(Some("'s3://b/landing/orders.parquet'".into()))
        );
        assert_eq!(
            loc(json!({"external_location": "read_csv('data/{identifier}.csv', header={{true}}[0])"})),
            Ok(Some("read_csv('data/orders_v2.csv', header={true}[0])".into()))
        );
        assert_eq!(
            loc(json!({"external_location": "data/%(name)s_%(region)s.csv", "formatter": "oldstyle", "region": "eu"})),
            Ok(Some("'data/orders_eu.csv'".into()))
        );
        assert_eq!(
            loc(json!({"external_location": "data/${name}/$database.json", "formatter": "template"})),
            Ok(Some("'data/orders/db.json'".into()))
        );
        assert!(loc(json!({"external_location": "data/{nope}.csv"})).unwrap_err().contains("{nope}"));
        assert!(loc(json!({"external_location": "x", "formatter": "fancy"})).unwrap_err().contains("fancy"));
    }
}
