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
use crate::templating::FastMap;
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
/// them (package, name, folder) for the sidebar. Callers are the nodes and macros whose text
/// calls the macro's name.
fn macro_pages<'a>(input: &'a SiteInput) -> (Json, Vec<(&'a str, &'a str, String)>) {
    let mut callers: FastMap<&str, Vec<String>> = FastMap::default();
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
        list.push((m.package.as_str(), m.name.as_str(), format!("{}/{dir}", m.package)));
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
    numbers: FastMap<String, usize>,
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

/// A node's fields that selector methods match, as its shard's worker reads them: fqn (dotted),
/// file path, tags, materialization (none for sources and exposures), `docs.node_color`, and
/// for tests `generic:<test name>` or `singular`. The tags and materializations are numbered
/// after, in id order ([`Selectable`]).
struct SelectorFields {
    fqn: String,
    path: String,
    tags: Vec<String>,
    materialized: Option<String>,
    color: Option<String>,
    test: Option<String>,
}

/// [`SelectorFields`] as the explorer reads them, tags and materialization by number.
type Selectable = (String, String, Vec<usize>, Option<usize>, Option<String>, Option<String>);

fn selector_fields(m: &Manifest, id: &str) -> Option<SelectorFields> {
    if let Some(n) = m.nodes.get(id) {
        let color = n.config.get("docs").and_then(|d| d.get("node_color")).and_then(Json::as_str);
        let test = n.test.as_ref().map(|t| match &t.metadata {
            Some(md) => format!("generic:{}", md.name),
            None => "singular".to_string(),
        });
        Some(SelectorFields {
            fqn: n.fqn.join("."),
            path: n.original_file_path.clone(),
            tags: n.config.tags(),
            materialized: Some(n.materialized()),
            color: color.map(str::to_string),
            test,
        })
    } else if let Some(s) = m.sources.get(id) {
        Some(SelectorFields {
            fqn: s.fqn.join("."),
            path: s.table.file.to_string_lossy().into_owned(),
            tags: s.table.tags.clone(),
            materialized: None,
            color: None,
            test: None,
        })
    } else {
        m.exposures.get(id).map(|e| SelectorFields {
            fqn: format!("{}.{}", e.package_name, e.name),
            path: e.file.clone(),
            tags: e
                .raw
                .get("tags")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            materialized: None,
            color: None,
            test: None,
        })
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
fn overview(m: &Manifest, children: &Children, run_results: Option<&Json>) -> Json {
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
            let readers = children_of(children, &n.unique_id).iter().filter(|c| !is_test(c)).count();
            (n.unique_id.as_str(), readers)
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
    children: Children<'a>,
    downstream: Downstream<'a>,
    tests_of: TestsOf<'a>,
}

/// Each id's children, in id order (manifest.json's `child_map`).
type Children<'a> = Vec<(&'a str, Vec<&'a str>)>;
/// Each column's readers, by the node and the lowercased column.
type Downstream<'a> = FastMap<(&'a str, Cow<'a, str>), Vec<Reader<'a>>>;
/// Tests' names by the node and lowercased column (None: the node) they test.
type TestsOf<'a> = FastMap<(&'a str, Option<String>), Vec<&'a str>>;

/// A node in docs/index.js: id, resource type, name, package, shard, folder and schema numbers.
type IndexNode<'a> = (&'a str, String, String, String, usize, usize, usize);

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
    tests: Vec<&'a str>,
    raw_sql: &'a str,
    compiled_sql: Option<&'a String>,
    rows: Option<i64>,
    parents: &'a [String],
    children: Vec<&'a str>,
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
    tests: Vec<&'a str>,
    upstream: Vec<Reader<'a>>,
    downstream: &'a [Reader<'a>],
}

/// One node's entry in the site besides its details (written into its shard): what the index,
/// the search, the sidebar and the explorer's selectors need, and the warnings its
/// descriptions raise.
struct Page {
    kind: String,
    name: String,
    package: String,
    /// What the search matches, lowercase.
    text: String,
    folder: String,
    schema: String,
    select: SelectorFields,
    warnings: Vec<Diagnostic>,
}

/// The page of node, source or exposure `id`, its details written to `out` as JSON (None for
/// an id that is none of them).
fn node_page<'a>(input: &SiteInput<'a>, links: &Links<'a>, id: &str, out: &mut Vec<u8>) -> Option<Page> {
    let m = input.manifest;
    let mut warnings = vec![];
    let tests = |c: Option<String>| links.tests_of.get(&(id, c)).cloned().unwrap_or_default();
    // A column's entry: its tests and downstream readers are found by its lowercased name.
    let column = |name, ty, description, upstream| {
        let lower = str::to_lowercase(name);
        ColumnDetail {
            name,
            ty,
            description,
            tests: tests(Some(lower.clone())),
            upstream,
            downstream: links.downstream.get(&(id, Cow::Owned(lower))).map(Vec::as_slice).unwrap_or_default(),
        }
    };
    let children = || children_of(&links.children, id).to_vec();
    // (Serializing into a Vec cannot fail: every map these details hold has string keys.)
    let (kind, name, package, text) = if let Some(n) = m.nodes.get(id) {
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
        let _ = serde_json::to_writer(&mut *out, &detail);
        (n.resource_type.as_str().to_string(), n.name.clone(), n.package_name.clone(), text)
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
        let _ = serde_json::to_writer(&mut *out, &detail);
        ("source".to_string(), name, s.fqn[0].clone(), text)
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
        let _ = serde_json::to_writer(&mut *out, &detail);
        ("exposure".to_string(), e.name.clone(), e.package_name.clone(), format!("{} {desc}", e.name))
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
    let select = selector_fields(m, id)?;
    Some(Page { kind, name, package, text, folder, schema, select, warnings })
}

/// Each node's, source's and exposure's children (as manifest.json's `child_map`) and the
/// index's edges (parent, child) by position in `ids` (sorted), children in id order and each
/// one's parents as it lists them.
fn children_and_edges<'a>(m: &'a Manifest, ids: &[&str]) -> (Children<'a>, Vec<(usize, usize)>) {
    let parents = m.dependencies();
    let position = |id: &str| ids.binary_search(&id).ok();
    let mut edges: Vec<(usize, usize)> = vec![];
    for (child, ps) in &parents {
        for p in ps.iter() {
            if let (Some(a), Some(b)) = (position(p), position(child)) {
                edges.push((a, b));
            }
        }
    }
    (crate::artifacts::manifest::child_map(&parents), edges)
}

/// `id`'s children.
fn children_of<'c>(children: &'c Children, id: &str) -> &'c [&'c str] {
    match children.binary_search_by(|(k, _)| (*k).cmp(id)) {
        Ok(i) => &children[i].1,
        Err(_) => &[],
    }
}

/// Each column's downstream readers, keyed by the node and the lowercased column (borrowed when
/// it is lowercase already, as most are).
fn downstream_of(lineage: &Lineage) -> Downstream<'_> {
    let mut downstream = Downstream::default();
    for (id, nl) in &lineage.nodes {
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
    downstream
}

/// Tests' names by the node and (lowercased) column they test.
fn tests_by_target(m: &Manifest) -> TestsOf<'_> {
    let mut tests_of = TestsOf::default();
    for n in m.nodes.values().filter(|n| n.resource_type == ResourceType::Test) {
        if let Some(t) = &n.test {
            if let Some(a) = &t.attached_node {
                let name = t.metadata.as_ref().map(|md| md.name.as_str()).unwrap_or(&n.name);
                tests_of.entry((a, t.column_name.as_ref().map(|c| c.to_lowercase()))).or_default().push(name);
            }
        }
    }
    tests_of
}

/// docs/: each file written over the previous site's in place, then what the previous site had
/// and this one does not is removed. (Removing the folder and making every file anew cost ext4
/// about 75 ms of CPU at 10,000 models, 516 files, most of it finding free inodes; overwriting
/// them costs about 30.)
struct SiteDir {
    dir: std::path::PathBuf,
    shards: usize,
}

impl SiteDir {
    /// The index's four scripts, beside the shards' folder `n`.
    const SCRIPTS: [&'static str; 4] = ["index.js", "macros.js", "select.js", "search.js"];

    fn open(dir: std::path::PathBuf, shards: usize) -> std::io::Result<SiteDir> {
        std::fs::create_dir_all(dir.join("n"))?;
        Ok(SiteDir { dir, shards })
    }

    fn write(&self, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::write(self.dir.join(file), bytes)
    }

    /// Remove what this site did not write: shards past its count, anything else.
    fn remove_others(&self) -> std::io::Result<()> {
        // `<n>.js`, written as this site writes it, for n below the shard count.
        let shard = |name: &str| {
            let number = name.strip_suffix(".js").and_then(|n| n.parse::<usize>().ok());
            number.is_some_and(|n| n < self.shards && format!("{n}.js") == name)
        };
        let remove = |path: &Path| -> std::io::Result<()> {
            if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            }
        };
        for e in std::fs::read_dir(self.dir.join("n"))? {
            let e = e?;
            if !e.file_type()?.is_file() || !shard(&e.file_name().to_string_lossy()) {
                remove(&e.path())?;
            }
        }
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            let ours = if name == "n" { e.file_type()?.is_dir() } else { Self::SCRIPTS.contains(&name.as_str()) };
            if !ours {
                remove(&e.path())?;
            }
        }
        Ok(())
    }
}

/// Write the site under `target_dir`. Returns the warnings found (broken markdown).
pub fn generate(input: &SiteInput, target_dir: &Path) -> std::io::Result<Vec<Diagnostic>> {
    use rayon::prelude::*;
    let m = input.manifest;
    // Which nodes the site shows: models, seeds, snapshots, analyses, tests, sources, exposures.
    let mut ids: Vec<&str> = m
        .nodes
        .iter()
        .filter(|(_, n)| n.resource_type != ResourceType::UnitTest)
        .map(|(id, _)| id.as_str())
        .chain(m.sources.keys().map(String::as_str))
        .chain(m.exposures.keys().map(String::as_str))
        .collect();
    ids.sort_unstable();
    let shards = shard_count(ids.len());
    let files = SiteDir::open(target_dir.join("docs"), shards)?;
    // What every page reads besides the input, the three parts made on every core.
    let ((children, edges), (downstream, tests_of)) = rayon::join(
        || children_and_edges(m, &ids),
        || rayon::join(|| downstream_of(input.lineage), || tests_by_target(m)),
    );
    let links = Links { children, downstream, tests_of };
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
            // `{"id":{details},...}`: what serde_json writes for the map, made of the pieces.
            let mut body = format!("strataShard({shard}, {{").into_bytes();
            let mut pages: Vec<(usize, Page)> = Vec::with_capacity(members.len());
            for i in members {
                let start = body.len();
                if !pages.is_empty() {
                    body.push(b',');
                }
                let _ = serde_json::to_writer(&mut body, ids[i]);
                body.push(b':');
                match node_page(input, &links, ids[i], &mut body) {
                    Some(page) => pages.push((i, page)),
                    None => body.truncate(start),
                }
            }
            body.extend_from_slice(b"});\n");
            files.write(&Path::new("n").join(format!("{shard}.js")), &script_safe_bytes(body))?;
            Ok(pages)
        })
        .collect::<std::io::Result<_>>()?;
    let mut pages: Vec<Option<Page>> = (0..ids.len()).map(|_| None).collect();
    for (i, page) in made.into_iter().flatten() {
        pages[i] = Some(page);
    }

    // The index's node list, the search and the selectors' fields (numbered in id order), the
    // macros' pages and the overview, at once.
    let run_results = input.run_results.as_ref();
    let ((macro_data, macro_list), (overview, listed)) = rayon::join(
        || macro_pages(input),
        || {
            rayon::join(
                move || overview(m, &links.children, run_results),
                || {
                    let mut warnings = vec![];
                    let mut index_nodes: Vec<IndexNode> = vec![];
                    let mut search: Vec<String> = vec![];
                    // The sidebar's two trees: each node's folder (package, then its file's
                    // folders; sources under `sources/<source name>`, exposures under
                    // `exposures`) and its database and schema.
                    let mut folders = Interner::default();
                    let mut schemas = Interner::default();
                    // What the lineage explorer's selectors match on, loaded when the explorer
                    // opens.
                    let mut tags = Interner::default();
                    let mut materializations = Interner::default();
                    let mut selectable: Vec<Selectable> = vec![];
                    for (id, page) in ids.iter().zip(pages) {
                        let Some(p) = page else { continue };
                        let shard = shard_of(id, shards);
                        warnings.extend(p.warnings);
                        let (folder, schema) = (folders.index(&p.folder), schemas.index(&p.schema));
                        index_nodes.push((id, p.kind, p.name, p.package, shard, folder, schema));
                        let s = p.select;
                        let tag_numbers = s.tags.iter().map(|t| tags.index(t)).collect();
                        let materialized = s.materialized.map(|x| materializations.index(&x));
                        selectable.push((s.fqn, s.path, tag_numbers, materialized, s.color, s.test));
                        search.push(p.text);
                    }
                    let select = Select { tags: tags.names, materialized: materializations.names, nodes: selectable };
                    (warnings, index_nodes, search, folders, schemas, select)
                },
            )
        },
    );
    let (warnings, index_nodes, search, mut folders, schemas, select) = listed;
    // The macros' folders come after the nodes'.
    let macro_list: Vec<(&str, &str, usize)> =
        macro_list.into_iter().map(|(package, name, folder)| (package, name, folders.index(&folder))).collect();
    let index = Index {
        project: input.project,
        generated_at: &input.generated_at,
        nodes: index_nodes,
        edges,
        shards,
        folders: folders.names,
        macros: macro_list,
        schemas: schemas.names,
        overview,
    };
    // The index's four scripts (2-3 MB each at 10,000 models) are serialized and written on
    // every core, each freeing what it wrote.
    type Script<'s> = (&'static str, Box<dyn FnOnce() -> Vec<u8> + Send + 's>);
    let scripts: Vec<Script> = vec![
        ("index.js", Box::new(move || script("STRATA_INDEX", &index))),
        ("macros.js", Box::new(move || script("STRATA_MACROS", &macro_data))),
        ("select.js", Box::new(move || script("STRATA_SELECT", &select))),
        ("search.js", Box::new(move || script("STRATA_SEARCH", &search))),
    ];
    scripts.into_par_iter().try_for_each(|(name, make)| files.write(Path::new(name), &make()))?;
    files.remove_others()?;
    let page = INDEX_HTML
        .replace("/*STYLE*/", STYLE_CSS)
        .replace("/*APP*/", APP_JS)
        .replace("{{project}}", &html_escape(input.project));
    std::fs::write(target_dir.join("index.html"), page)?;
    Ok(warnings)
}

/// docs/index.js, serialized from what it borrows (no JSON tree of 10,000 nodes).
#[derive(serde::Serialize)]
struct Index<'a> {
    project: &'a str,
    generated_at: &'a str,
    nodes: Vec<IndexNode<'a>>,
    edges: Vec<(usize, usize)>,
    shards: usize,
    folders: Vec<String>,
    macros: Vec<(&'a str, &'a str, usize)>,
    schemas: Vec<String>,
    overview: Json,
}

/// docs/select.js: the tags and materializations the nodes' numbers refer to, and each node's
/// [`Selectable`] fields, in the index's order.
#[derive(serde::Serialize)]
struct Select {
    tags: Vec<String>,
    materialized: Vec<String>,
    nodes: Vec<Selectable>,
}

/// `window.<name> = <JSON of v>;`, a script docs/ holds, safe to sit inside a <script>.
fn script(name: &str, v: &impl serde::Serialize) -> Vec<u8> {
    let mut out = format!("window.{name} = ").into_bytes();
    // (Cannot fail: every map the site writes has string keys.)
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b";\n");
    script_safe_bytes(out)
}

/// Script text in which no `</script>` can end the script early: each `</` becomes `<\/` (the
/// same string to JavaScript). Most text has none, and is returned as it is.
fn script_safe_bytes(text: Vec<u8>) -> Vec<u8> {
    let mut at = memchr::memmem::find_iter(&text, b"</").peekable();
    if at.peek().is_none() {
        return text;
    }
    let mut out = Vec::with_capacity(text.len() + 64);
    let mut from = 0;
    for i in at {
        out.extend_from_slice(&text[from..=i]);
        out.push(b'\\');
        from = i + 1;
    }
    out.extend_from_slice(&text[from..]);
    out
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
    use super::{called_names, script_safe_bytes, SiteDir};
    use std::path::Path;

    #[test]
    fn no_script_end_survives_in_a_script() {
        let escaped = |s: &str| String::from_utf8(script_safe_bytes(s.as_bytes().to_vec())).unwrap();
        assert_eq!(escaped("x = \"</script><b>\";"), "x = \"<\\/script><b>\";");
        assert_eq!(escaped("</a></b>"), "<\\/a><\\/b>");
        assert_eq!(escaped("a <b> c < / d <"), "a <b> c < / d <");
        assert_eq!(escaped(""), "");
    }

    #[test]
    fn a_site_written_over_another_keeps_only_its_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        // The previous site: more shards, a leftover file and folder of some older layout.
        let old = SiteDir::open(docs.clone(), 5).unwrap();
        for f in ["n/0.js", "n/1.js", "n/4.js", "n/007.js", "n/notes.txt", "index.js", "old.js", "search.js"] {
            old.write(Path::new(f), b"old content, longer than the new").unwrap();
        }
        std::fs::create_dir_all(docs.join("assets/img")).unwrap();
        std::fs::create_dir_all(docs.join("n/9.js")).unwrap();
        let new = SiteDir::open(docs.clone(), 2).unwrap();
        for f in ["n/0.js", "n/1.js", "index.js", "macros.js", "select.js", "search.js"] {
            new.write(Path::new(f), b"new").unwrap();
        }
        new.remove_others().unwrap();
        let mut left: Vec<String> = walkdir::WalkDir::new(&docs)
            .into_iter()
            .map(|e| e.unwrap().path().strip_prefix(&docs).unwrap().to_string_lossy().replace('\\', "/"))
            .collect();
        left.sort();
        assert_eq!(left, ["", "index.js", "macros.js", "n", "n/0.js", "n/1.js", "search.js", "select.js"]);
        assert_eq!(std::fs::read_to_string(docs.join("n/0.js")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(docs.join("search.js")).unwrap(), "new");
    }

    #[test]
    fn finds_the_names_a_text_calls() {
        let text = "select {{ cents_to_dollars ('amount') }}, {{ pkg.safe_divide(a, b) }} from x where (y)";
        let got: Vec<&str> = called_names(text).into_iter().collect();
        // Any word before a parenthesis counts; only macros' names are looked up in the result.
        assert_eq!(got, vec!["cents_to_dollars", "safe_divide", "where"]);
    }
}
