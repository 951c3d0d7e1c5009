//! The documentation site: `strata docs generate` writes `target/index.html` (the page, with
//! the templates/docs/ styles and script inlined) and `target/docs/` (data as JavaScript files,
//! which a page opened from file:// can load): a small index of every node and edge loaded
//! first, a search index loaded after the first paint, and each node's details in one of many
//! shards loaded when that node is shown. So the page stays fast at 10,000 models.
//! `strata docs serve` serves `target/` on localhost.
//! In: the manifest, lineage, catalog and compiled SQL. Out: files under target/.

use crate::diagnostics::{Diagnostic, Span};
use crate::lineage::Lineage;
use crate::output::Printer;
use crate::parse::{Manifest, ResourceType};
use serde_json::{json, Map, Value as Json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const INDEX_HTML: &str = include_str!("../../templates/docs/index.html");
const STYLE_CSS: &str = include_str!("../../templates/docs/style.css");
const APP_JS: &str = include_str!("../../templates/docs/app.js");

/// Node details go into this many shard files.
fn shard_count(nodes: usize) -> usize {
    (nodes / 40).clamp(1, 512)
}

fn shard_of(id: &str, shards: usize) -> usize {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % shards as u64) as usize
}

/// Markdown to HTML.
pub fn markdown(text: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(text, pulldown_cmark::Options::ENABLE_TABLES);
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

/// Markdown that renders, but not as its author meant: an unclosed code fence swallows the rest.
fn markdown_problem(text: &str) -> Option<String> {
    let fences = text.lines().filter(|l| l.trim_start().starts_with("```")).count();
    (fences % 2 == 1).then(|| "a ``` code fence is never closed, so the rest of the description renders as code".into())
}

/// Add the names not already there (ignoring case), in order.
fn merge_names(names: &mut Vec<String>, more: Vec<String>) {
    for c in more {
        if !names.iter().any(|x| x.eq_ignore_ascii_case(&c)) {
            names.push(c);
        }
    }
}

/// A column's type: the database's, else the declared `data_type`.
fn column_type(
    info: Option<&crate::artifacts::catalog::TableInfo>,
    declared: Option<&Option<String>>,
    c: &str,
) -> String {
    info.and_then(|i| i.columns.iter().find(|(x, _)| x.eq_ignore_ascii_case(c)).map(|(_, t)| t.clone()))
        .or_else(|| declared.and_then(Clone::clone))
        .unwrap_or_default()
}

/// Everything the site shows.
pub struct SiteInput<'a> {
    /// The parsed project.
    pub manifest: &'a Manifest,
    /// Column lineage of the compiled models.
    pub lineage: &'a Lineage,
    /// Compiled SQL by unique id.
    pub compiled: &'a HashMap<String, String>,
    /// The database's tables and columns (types), by lowercased (db, schema, name).
    pub catalog: &'a HashMap<(String, String, String), crate::artifacts::catalog::TableInfo>,
    /// The root project's name.
    pub project: &'a str,
    /// When the site was generated.
    pub generated_at: String,
    /// The project folder (property files are read from it to locate problems).
    pub root: &'a Path,
    /// The last run's run_results.json, when target/ has one.
    pub run_results: Option<Json>,
    /// Every macro the project can call, its own, its packages' and the built-ins.
    pub macros: Vec<MacroDoc>,
}

/// A macro's page.
pub struct MacroDoc {
    /// Package (`strata` for the built-ins).
    pub package: String,
    /// Name as called.
    pub name: String,
    /// The file that defines it.
    pub path: String,
    /// The argument list as written.
    pub args: String,
    /// Its source (the whole block).
    pub source: String,
    /// `description` from `macros:` properties (markdown).
    pub description: String,
    /// Documented arguments from `macros:` properties.
    pub arguments: Vec<crate::project::properties::MacroArgument>,
}

/// Names a text calls (`name(` or `package.name(`), each once: the words right before a `(`.
fn called_names(text: &str) -> std::collections::BTreeSet<&str> {
    let bytes = text.as_bytes();
    let mut out = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices('(') {
        let mut j = i;
        while j > 0 && (bytes[j - 1] == b' ') {
            j -= 1;
        }
        let end = j;
        while j > 0 && (bytes[j - 1].is_ascii_alphanumeric() || bytes[j - 1] == b'_') {
            j -= 1;
        }
        if j < end {
            out.insert(&text[j..end]);
        }
    }
    out
}

/// The macros' pages (docs/macros.js, read when a macro page opens) and the index's list of
/// them (package, name, folder number) for the sidebar. Callers are the nodes and macros whose
/// text calls the macro's name.
fn macro_pages(input: &SiteInput, folders: &mut Interner) -> (Json, Vec<Json>) {
    let mut callers: HashMap<&str, Vec<String>> = HashMap::new();
    for (id, n) in &input.manifest.nodes {
        for name in called_names(&n.raw_code) {
            callers.entry(name).or_default().push(id.clone());
        }
    }
    for m in &input.macros {
        for name in called_names(&m.source) {
            if name != m.name {
                callers.entry(name).or_default().push(format!("macro.{}.{}", m.package, m.name));
            }
        }
    }
    let mut pages = Map::new();
    let mut list = vec![];
    for m in &input.macros {
        let id = format!("macro.{}.{}", m.package, m.name);
        let mut called_by = callers.get(m.name.as_str()).cloned().unwrap_or_default();
        called_by.sort();
        called_by.dedup();
        let dir = m.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("macros");
        list.push(json!([m.package, m.name, folders.index(&format!("{}/{dir}", m.package))]));
        pages.insert(
            id,
            json!({
                "package": m.package, "name": m.name, "path": m.path, "signature": format!("{}({})", m.name, m.args),
                "description": markdown(&m.description), "arguments": m.arguments, "source": m.source,
                "called_by": called_by,
            }),
        );
    }
    (Json::Object(pages), list)
}

/// Where an unclosed code fence is: the last ``` line of the property file that holds it.
fn fence_span(root: &Path, file: &str) -> Span {
    let Ok(text) = std::fs::read_to_string(root.join(file)) else { return Span::file_only(file) };
    let fences: Vec<(usize, &str)> =
        text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with("```")).collect();
    match fences.last() {
        Some((i, l)) => Span::new(file, Some(&text), i + 1, l.len() - l.trim_start().len() + 1, 3),
        None => Span::file_only(file),
    }
}

fn rel_key(r: &crate::templating::relation::Relation) -> (String, String, String) {
    let l = |s: &Option<String>| s.clone().unwrap_or_default().to_lowercase();
    (l(&r.database), l(&r.schema), l(&r.identifier))
}

/// Distinct strings, each numbered by first appearance (the index refers to them by number).
#[derive(Default)]
struct Interner {
    names: Vec<String>,
    numbers: HashMap<String, usize>,
}

impl Interner {
    fn index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.numbers.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.numbers.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }
}

/// A node's fields that selector methods match, as the explorer reads them: fqn (dotted),
/// file path, tag numbers, materialization number, `docs.node_color` (or null), and for tests
/// `generic:<test name>` or `singular`.
fn selector_fields(m: &Manifest, id: &str, tags: &mut Interner, mats: &mut Interner) -> Json {
    let numbered = |names: &[String], tags: &mut Interner| names.iter().map(|t| tags.index(t)).collect::<Vec<_>>();
    if let Some(n) = m.nodes.get(id) {
        let color = n.config.get("docs").and_then(|d| d.get("node_color")).and_then(Json::as_str);
        let test = n.test.as_ref().map(|t| match &t.metadata {
            Some(md) => format!("generic:{}", md.name),
            None => "singular".to_string(),
        });
        json!([
            n.fqn.join("."),
            n.original_file_path,
            numbered(&n.config.tags(), tags),
            mats.index(&n.materialized()),
            color,
            test
        ])
    } else if let Some(s) = m.sources.get(id) {
        json!([
            s.fqn.join("."),
            s.table.file.to_string_lossy(),
            numbered(&s.table.tags, tags),
            Json::Null,
            Json::Null,
            Json::Null
        ])
    } else if let Some(e) = m.exposures.get(id) {
        let t: Vec<String> = e
            .raw
            .get("tags")
            .and_then(Json::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        json!([
            format!("{}.{}", e.package_name, e.name),
            e.file,
            numbered(&t, tags),
            Json::Null,
            Json::Null,
            Json::Null
        ])
    } else {
        Json::Null
    }
}

/// `database/schema` of a relation the database holds (empty when it holds none: tests,
/// ephemeral models).
fn relation_schema(r: &crate::templating::relation::Relation, held: bool) -> String {
    if !held {
        return String::new();
    }
    format!("{}/{}", r.database.as_deref().unwrap_or_default(), r.schema.as_deref().unwrap_or_default())
}

/// The overview page's data: the `__overview__` doc block, models by materialization, the most
/// referenced models, documentation coverage (models with a description, with a data test) and
/// the last run's results.
fn overview(m: &Manifest, children_of: &BTreeMap<String, Vec<String>>, run_results: Option<&Json>) -> Json {
    let models: Vec<&crate::parse::Node> =
        m.nodes.values().filter(|n| n.resource_type == ResourceType::Model).map(|n| &**n).collect();
    let mut by_materialization: BTreeMap<String, usize> = BTreeMap::new();
    for n in &models {
        *by_materialization.entry(n.materialized()).or_default() += 1;
    }
    let tested: std::collections::HashSet<&str> = m
        .nodes
        .values()
        .filter(|n| n.resource_type == ResourceType::Test)
        .filter_map(|n| n.test.as_ref()?.attached_node.as_deref())
        .collect();
    let undescribed: Vec<&str> =
        models.iter().filter(|n| n.description.trim().is_empty()).map(|n| n.unique_id.as_str()).collect();
    let untested: Vec<&str> =
        models.iter().filter(|n| !tested.contains(n.unique_id.as_str())).map(|n| n.unique_id.as_str()).collect();
    let is_test = |id: &str| m.nodes.get(id).is_some_and(|n| n.is_test());
    let mut referenced: Vec<(&str, usize)> = models
        .iter()
        .map(|n| {
            let readers = children_of.get(&n.unique_id).map(|c| c.iter().filter(|c| !is_test(c)).count());
            (n.unique_id.as_str(), readers.unwrap_or(0))
        })
        .filter(|(_, k)| *k > 0)
        .collect();
    referenced.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    referenced.truncate(10);
    let last_run = run_results.map(|rr| {
        let results = rr.get("results").and_then(Json::as_array).cloned().unwrap_or_default();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut problems = vec![];
        for r in &results {
            let status = r.get("status").and_then(Json::as_str).unwrap_or_default();
            *counts.entry(status.to_string()).or_default() += 1;
            if matches!(status, "error" | "fail" | "warn" | "skipped" | "partial success") {
                problems.push(json!([r.get("unique_id"), status, r.get("message")]));
            }
        }
        json!({
            "generated_at": rr.pointer("/metadata/generated_at"),
            "command": rr.pointer("/args/which"),
            "elapsed": rr.get("elapsed_time"),
            "counts": counts,
            "problems": problems,
        })
    });
    const LISTED: usize = 50;
    json!({
        "text": m.docs.get("__overview__").map(|(text, _)| markdown(text)),
        "models": models.len(),
        "by_materialization": by_materialization,
        "most_referenced": referenced,
        "described": models.len() - undescribed.len(),
        "tested": models.len() - untested.len(),
        "undescribed": &undescribed[..undescribed.len().min(LISTED)],
        "untested": &untested[..untested.len().min(LISTED)],
        "last_run": last_run,
    })
}

/// A column that reads another: (node, column, kind).
type Reader<'a> = (&'a str, &'a str, crate::sql::Kind);

/// What every node's page reads besides the input: children, each column's downstream readers
/// (node, column, kind), and tests by the node and column they test.
struct Links<'a> {
    children_of: BTreeMap<String, Vec<String>>,
    downstream: HashMap<(&'a str, Cow<'a, str>), Vec<Reader<'a>>>,
    tests_of: HashMap<(String, Option<String>), Vec<String>>,
}

/// A node in docs/index.js: id, resource type, name, package, shard, folder and schema numbers.
type IndexNode<'a> = (&'a String, String, String, String, usize, usize, usize);

/// A model's (seed's, test's...) details in its shard, in the order the site reads them.
#[derive(serde::Serialize)]
struct NodeDetail<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    package: &'a str,
    path: &'a str,
    relation: Option<String>,
    materialized: String,
    description: String,
    columns: Vec<ColumnDetail<'a>>,
    tests: Vec<String>,
    raw_sql: &'a str,
    compiled_sql: Option<&'a String>,
    rows: Option<i64>,
    parents: &'a [String],
    children: Vec<String>,
    tags: Vec<String>,
}

/// A column of a model's or a source's details: upstream and downstream columns as
/// `[node, column, kind]`.
#[derive(serde::Serialize)]
struct ColumnDetail<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: String,
    description: String,
    tests: Vec<String>,
    upstream: Vec<Reader<'a>>,
    downstream: &'a [Reader<'a>],
}

/// One node's entry in the site: its details (JSON, for its shard), what the index, the search
/// and the sidebar need, and the warnings its descriptions raise.
struct Page {
    detail: String,
    kind: String,
    name: String,
    package: String,
    /// What the search matches, lowercase.
    text: String,
    folder: String,
    schema: String,
    warnings: Vec<Diagnostic>,
}

/// The page of node, source or exposure `id` (None for an id that is none of them).
fn node_page(input: &SiteInput, links: &Links, id: &String) -> Option<Page> {
    let m = input.manifest;
    let mut warnings = vec![];
    let tests = |c: Option<String>| links.tests_of.get(&(id.clone(), c)).cloned().unwrap_or_default();
    // A column's entry: its tests and downstream readers are found by its lowercased name.
    let column = |name, ty, description, upstream| {
        let lower = str::to_lowercase(name);
        ColumnDetail {
            name,
            ty,
            description,
            tests: tests(Some(lower.clone())),
            upstream,
            downstream: links.downstream.get(&(id.as_str(), Cow::Owned(lower))).map(Vec::as_slice).unwrap_or_default(),
        }
    };
    let children = || links.children_of.get(id).cloned().unwrap_or_default();
    let (detail, kind, name, package, text) = if let Some(n) = m.nodes.get(id) {
        let info = input.catalog.get(&rel_key(&n.relation));
        let lineage = input.lineage.nodes.get(id);
        let mut names: Vec<String> = n.columns.iter().map(|c| c.name.clone()).collect();
        merge_names(
            &mut names,
            info.map(|i| i.columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()).unwrap_or_default(),
        );
        merge_names(
            &mut names,
            lineage.map(|l| l.columns.iter().map(|c| c.name.to_string()).collect::<Vec<_>>()).unwrap_or_default(),
        );
        merge_names(&mut names, input.lineage.base_columns.get(id).cloned().unwrap_or_default());
        let columns: Vec<ColumnDetail> = names
            .iter()
            .map(|c| {
                let declared = n.columns.iter().find(|d| d.name.eq_ignore_ascii_case(c));
                let desc = declared.map(|d| d.description.as_str()).unwrap_or_default();
                if let Some(p) = markdown_problem(desc) {
                    let file = n.patch_path.clone().unwrap_or_else(|| n.original_file_path.clone());
                    warnings.push(
                        Diagnostic::warning("W1101", format!("description of column '{c}' of '{}': {p}", n.name))
                            .with_span(fence_span(input.root, &file))
                            .with_help("close the code block with a ``` line"),
                    );
                }
                let upstream = lineage
                    .and_then(|l| l.columns.iter().find(|x| x.name.eq_ignore_ascii_case(c)))
                    .map(|x| x.upstream.iter().map(|u| (&*u.node, &*u.column, u.kind)).collect())
                    .unwrap_or_default();
                column(c, column_type(info, declared.map(|d| &d.data_type), c), markdown(desc), upstream)
            })
            .collect();
        if let Some(p) = markdown_problem(&n.description) {
            let file = n.patch_path.clone().unwrap_or_else(|| n.original_file_path.clone());
            warnings.push(
                Diagnostic::warning("W1101", format!("description of '{}': {p}", n.name))
                    .with_span(fence_span(input.root, &file))
                    .with_help("close the code block with a ``` line"),
            );
        }
        let text = format!(
            "{} {} {} {}",
            n.name,
            n.description,
            names.join(" "),
            n.columns.iter().map(|c| c.description.as_str()).collect::<Vec<_>>().join(" ")
        );
        // Serialized from what it borrows: no JSON tree per node (at 10,000 models building
        // and dropping the trees was a quarter of `docs generate`).
        let detail = NodeDetail {
            name: &n.name,
            kind: n.resource_type.as_str(),
            package: &n.package_name,
            path: &n.original_file_path,
            relation: (!n.is_test()).then(|| n.relation.to_string()),
            materialized: n.materialized(),
            description: markdown(&n.description),
            columns,
            tests: tests(None),
            raw_sql: &n.raw_code,
            compiled_sql: input.compiled.get(id),
            rows: info.and_then(|i| i.rows),
            parents: &n.depends_on,
            children: children(),
            tags: n.config.tags(),
        };
        let detail = serde_json::to_string(&detail).unwrap_or_default();
        (detail, n.resource_type.as_str().to_string(), n.name.clone(), n.package_name.clone(), text)
    } else if let Some(s) = m.sources.get(id) {
        let t = &s.table;
        let info = input.catalog.get(&rel_key(&s.relation));
        let mut names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        merge_names(
            &mut names,
            info.map(|i| i.columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()).unwrap_or_default(),
        );
        let columns: Vec<ColumnDetail> = names
            .iter()
            .map(|c| {
                let declared = t.columns.iter().find(|d| d.name.eq_ignore_ascii_case(c));
                let ty = column_type(info, declared.map(|d| &d.data_type), c);
                column(c, ty, markdown(declared.map(|d| d.description.as_str()).unwrap_or_default()), vec![])
            })
            .collect();
        let name = format!("{}.{}", t.source_name, t.name);
        let text = format!("{name} {} {} {}", t.description, t.source_description, names.join(" "));
        let detail = json!({
            "name": name, "type": "source", "package": s.fqn[0], "path": t.file.to_string_lossy(),
            "relation": s.relation.to_string(), "materialized": "source",
            "description": markdown(&format!("{}\n\n{}", t.source_description, t.description)),
            "columns": columns, "tests": tests(None),
            "raw_sql": null, "compiled_sql": null, "rows": info.and_then(|i| i.rows),
            "parents": [], "children": children(), "tags": t.tags,
        });
        (serde_json::to_string(&detail).unwrap_or_default(), "source".to_string(), name, s.fqn[0].clone(), text)
    } else if let Some(e) = m.exposures.get(id) {
        let desc = e.raw.get("description").and_then(Json::as_str).unwrap_or_default().to_string();
        let owner = e.raw.get("owner").cloned().unwrap_or(Json::Null);
        let detail = json!({
            "name": e.name, "type": "exposure", "package": e.package_name, "path": e.file,
            "relation": null, "materialized": e.raw.get("type").and_then(Json::as_str).unwrap_or("exposure"),
            "description": markdown(&desc), "columns": [], "tests": [], "raw_sql": null, "compiled_sql": null,
            "rows": null, "parents": e.depends_on, "children": [], "tags": e.raw.get("tags").cloned().unwrap_or(json!([])),
            "owner": owner, "url": e.raw.get("url"),
        });
        let detail = serde_json::to_string(&detail).unwrap_or_default();
        (detail, "exposure".to_string(), e.name.clone(), e.package_name.clone(), format!("{} {desc}", e.name))
    } else {
        return None;
    };
    let (folder, schema) = if let Some(n) = m.nodes.get(id) {
        let dir = n.original_file_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let held = !n.is_test() && n.materialized() != "ephemeral";
        (format!("{}/{dir}", n.package_name), relation_schema(&n.relation, held))
    } else if let Some(src) = m.sources.get(id) {
        (format!("{}/sources/{}", src.fqn[0], src.table.source_name), relation_schema(&src.relation, true))
    } else {
        (format!("{package}/exposures"), String::new())
    };
    // Lowercased here, on the shard's worker: the search matches lowercase.
    let text = text.to_lowercase();
    Some(Page { detail, kind, name, package, text, folder, schema, warnings })
}

/// Write the site under `target_dir`. Returns the warnings found (broken markdown).
pub fn generate(input: &SiteInput, target_dir: &Path) -> std::io::Result<Vec<Diagnostic>> {
    use rayon::prelude::*;
    let m = input.manifest;
    // Which nodes the site shows: models, seeds, snapshots, analyses, tests, sources, exposures.
    let mut ids: Vec<String> =
        m.nodes.iter().filter(|(_, n)| n.resource_type != ResourceType::UnitTest).map(|(id, _)| id.clone()).collect();
    ids.extend(m.sources.keys().cloned());
    ids.extend(m.exposures.keys().cloned());
    ids.sort();
    let index_of: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let shards = shard_count(ids.len());

    // Edges (parent → child) and each column's downstream readers.
    let mut edges: Vec<(usize, usize)> = vec![];
    let mut parents_of: BTreeMap<&str, &[String]> = BTreeMap::new();
    for (id, n) in &m.nodes {
        parents_of.insert(id, &n.depends_on);
    }
    for (id, e) in &m.exposures {
        parents_of.insert(id, &e.depends_on);
    }
    let mut children_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (child, ps) in &parents_of {
        for p in *ps {
            if let (Some(&a), Some(&b)) = (index_of.get(p.as_str()), index_of.get(child)) {
                edges.push((a, b));
            }
            children_of.entry(p.clone()).or_default().push(child.to_string());
        }
    }
    // Keyed by the lowercased column, borrowed when it is lowercase already (most are).
    let mut downstream: HashMap<(&str, Cow<str>), Vec<Reader>> = HashMap::new();
    for (id, nl) in &input.lineage.nodes {
        for c in &nl.columns {
            for u in &c.upstream {
                let column = if u.column.chars().any(char::is_uppercase) {
                    Cow::Owned(u.column.to_lowercase())
                } else {
                    Cow::Borrowed(&*u.column)
                };
                downstream.entry((&*u.node, column)).or_default().push((id, &c.name, u.kind));
            }
        }
    }
    // Tests by the node and column they test.
    let mut tests_of: HashMap<(String, Option<String>), Vec<String>> = HashMap::new();
    for n in m.nodes.values().filter(|n| n.resource_type == ResourceType::Test) {
        if let Some(t) = &n.test {
            if let Some(a) = &t.attached_node {
                let name = t.metadata.as_ref().map(|md| md.name.clone()).unwrap_or_else(|| n.name.clone());
                tests_of.entry((a.clone(), t.column_name.clone().map(|c| c.to_lowercase()))).or_default().push(name);
            }
        }
    }
    let links = Links { children_of, downstream, tests_of };
    let docs_dir = target_dir.join("docs");
    let _ = std::fs::remove_dir_all(&docs_dir);
    std::fs::create_dir_all(docs_dir.join("n"))?;
    // Every shard on every core, each written as soon as its pages are made: the site's details
    // are never all in memory at once. What the index needs comes back, in id order.
    let mut members: Vec<Vec<usize>> = vec![vec![]; shards];
    for (i, id) in ids.iter().enumerate() {
        members[shard_of(id, shards)].push(i);
    }
    let made: Vec<Vec<(usize, Page)>> = members
        .into_par_iter()
        .enumerate()
        .map(|(shard, members)| {
            let mut pages: Vec<(usize, Page)> =
                members.into_iter().filter_map(|i| Some((i, node_page(input, &links, &ids[i])?))).collect();
            // `{"id":{details},...}`: what serde_json writes for the map, made of the pieces.
            let mut body = format!("strataShard({shard}, {{");
            for (n, (i, page)) in pages.iter_mut().enumerate() {
                if n > 0 {
                    body.push(',');
                }
                body.push_str(&Json::from(ids[*i].as_str()).to_string());
                body.push(':');
                body.push_str(&std::mem::take(&mut page.detail));
            }
            body.push_str("});\n");
            std::fs::write(docs_dir.join("n").join(format!("{shard}.js")), body.replace("</", "<\\/"))?;
            Ok(pages)
        })
        .collect::<std::io::Result<_>>()?;
    let mut pages: Vec<Option<Page>> = (0..ids.len()).map(|_| None).collect();
    for (i, page) in made.into_iter().flatten() {
        pages[i] = Some(page);
    }

    let mut warnings = vec![];
    let mut index_nodes: Vec<IndexNode> = vec![];
    let mut search: Vec<String> = vec![];
    // The sidebar's two trees: each node's folder (package, then its file's folders; sources
    // under `sources/<source name>`, exposures under `exposures`) and its database and schema.
    let mut folders = Interner::default();
    let mut schemas = Interner::default();
    // What the lineage explorer's selectors match on, loaded when the explorer opens.
    let mut tags = Interner::default();
    let mut materializations = Interner::default();
    let mut selectable: Vec<Json> = vec![];
    for (id, page) in ids.iter().zip(pages) {
        let Some(p) = page else { continue };
        let shard = shard_of(id, shards);
        warnings.extend(p.warnings);
        index_nodes.push((id, p.kind, p.name, p.package, shard, folders.index(&p.folder), schemas.index(&p.schema)));
        selectable.push(selector_fields(m, id, &mut tags, &mut materializations));
        search.push(p.text);
    }

    let (macro_data, macro_list) = macro_pages(input, &mut folders);
    /// docs/index.js, serialized from what it borrows (no JSON tree of 10,000 nodes).
    #[derive(serde::Serialize)]
    struct Index<'a> {
        project: &'a str,
        generated_at: &'a str,
        nodes: Vec<IndexNode<'a>>,
        edges: Vec<(usize, usize)>,
        shards: usize,
        folders: Vec<String>,
        macros: Vec<Json>,
        schemas: Vec<String>,
        overview: Json,
    }
    let index = Index {
        project: input.project,
        generated_at: &input.generated_at,
        nodes: index_nodes,
        edges,
        shards,
        folders: folders.names,
        macros: macro_list,
        schemas: schemas.names,
        overview: overview(m, &links.children_of, input.run_results.as_ref()),
    };
    let select = json!({"tags": tags.names, "materialized": materializations.names, "nodes": selectable});
    // The index's four scripts (2-3 MB each at 10,000 models) are serialized and written on
    // every core.
    type Script<'s> = (&'static str, Box<dyn Fn() -> String + Send + Sync + 's>);
    let scripts: [Script; 4] = [
        ("index.js", Box::new(|| format!("window.STRATA_INDEX = {};\n", script_safe(&index)))),
        ("macros.js", Box::new(|| format!("window.STRATA_MACROS = {};\n", script_safe(&macro_data)))),
        ("select.js", Box::new(|| format!("window.STRATA_SELECT = {};\n", script_safe(&select)))),
        ("search.js", Box::new(|| format!("window.STRATA_SEARCH = {};\n", script_safe(&search)))),
    ];
    scripts.par_iter().try_for_each(|(name, make)| std::fs::write(docs_dir.join(name), make()))?;
    let page = INDEX_HTML
        .replace("/*STYLE*/", STYLE_CSS)
        .replace("/*APP*/", APP_JS)
        .replace("{{project}}", &html_escape(input.project));
    std::fs::write(target_dir.join("index.html"), page)?;
    Ok(warnings)
}

/// JSON that can sit inside a <script> (no `</script>` can end it early).
fn script_safe(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default().replace("</", "<\\/")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `strata docs serve`: serve `target_dir` on 127.0.0.1:`port` until interrupted.
pub fn serve(target_dir: &Path, port: u16, printer: &Printer) -> i32 {
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E1201", format!("cannot listen on port {port}: {e}"))
                .with_help("pass another --port")]);
            return 2;
        }
    };
    if !target_dir.join("index.html").is_file() {
        printer.diagnostics(&[Diagnostic::error("E1202", "there is no docs site in the target folder")
            .with_help("run `strata docs generate` first")]);
        return 2;
    }
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    printer.info(&format!("Serving docs at http://127.0.0.1:{port}/ (press Ctrl+C to stop)"));
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { continue };
        let dir = target_dir.to_path_buf();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
            let rel = if path == "/" { "index.html".to_string() } else { path.trim_start_matches('/').to_string() };
            let safe = !rel.split('/').any(|p| p == ".." || p.is_empty());
            let file = dir.join(&rel);
            let (status, body, ctype) = match (safe, std::fs::read(&file)) {
                (true, Ok(b)) => {
                    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
                    let ctype = match ext {
                        "html" => "text/html; charset=utf-8",
                        "js" => "text/javascript; charset=utf-8",
                        "json" => "application/json",
                        "css" => "text/css",
                        "png" => "image/png",
                        _ => "application/octet-stream",
                    };
                    ("200 OK", b, ctype)
                }
                _ => ("404 Not Found", b"not found".to_vec(), "text/plain"),
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        });
    }
    0
}

#[cfg(test)]
mod tests {
    use super::called_names;

    #[test]
    fn finds_the_names_a_text_calls() {
        let text = "select {{ cents_to_dollars ('amount') }}, {{ pkg.safe_divide(a, b) }} from x where (y)";
        let got: Vec<&str> = called_names(text).into_iter().collect();
        // Any word before a parenthesis counts; only macros' names are looked up in the result.
        assert_eq!(got, vec!["cents_to_dollars", "safe_divide", "where"]);
    }
}
