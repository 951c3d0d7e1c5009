//! `target/manifest.json` in dbt's manifest v12 shape (checked against dbt's schema in the
//! tests): nodes, sources, macros, docs, exposures, unit tests, parent_map and child_map, with
//! unique ids as dbt forms them. The column lineage is referenced from `metadata.env`.

use super::metadata;
use crate::parse::{Manifest, Node, ResourceType};
use crate::project::Project;
use crate::templating::Engine;
use crate::Invocation;
use serde::Serialize;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// dbt's schema URL for manifest v12.
pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

fn hooks(config: &crate::project::config::Config, key: &str) -> Json {
    Json::Array(
        config
            .hooks(key)
            .into_iter()
            .enumerate()
            .map(|(i, sql)| json!({"sql": sql, "transaction": true, "index": i}))
            .collect(),
    )
}

/// A node's config as dbt's *Config objects: the resolved configs, with dbt's shapes for hooks,
/// tags and test severity and its defaults, serialised without building a map.
struct ConfigOut<'a>(&'a Node);

impl Serialize for ConfigOut<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let n = self.0;
        let c = &n.config.0;
        let overridden = ["enabled", "tags", "materialized", "pre-hook", "post-hook", "severity"];
        let mut map = ser.serialize_map(None)?;
        for (k, v) in c.iter() {
            if overridden.contains(&k) {
                continue;
            }
            if matches!(k, "alias" | "schema" | "database") && !v.is_string() {
                map.serialize_entry(k, &Json::Null)?;
            } else {
                map.serialize_entry(k, v)?;
            }
        }
        map.serialize_entry("enabled", &true)?;
        map.serialize_entry("tags", &n.config.tags())?;
        map.serialize_entry("materialized", &n.materialized())?;
        if !c.contains_key("meta") {
            map.serialize_entry("meta", &Json::Object(Map::new()))?;
        }
        for k in ["pre-hook", "post-hook"] {
            map.serialize_entry(k, &hooks(&n.config, k))?;
        }
        if n.resource_type == ResourceType::Model {
            for (k, d) in [("access", "protected"), ("on_schema_change", "ignore")] {
                if !c.contains_key(k) {
                    map.serialize_entry(k, d)?;
                }
            }
            if !c.contains_key("contract") {
                #[derive(Serialize)]
                struct ContractDefault {
                    enforced: bool,
                    alias_types: bool,
                }
                map.serialize_entry("contract", &ContractDefault { enforced: false, alias_types: true })?;
            }
        }
        if n.resource_type == ResourceType::Test {
            for (k, d) in [("fail_calc", "count(*)"), ("warn_if", "!= 0"), ("error_if", "!= 0")] {
                if !c.contains_key(k) {
                    map.serialize_entry(k, d)?;
                }
            }
            let severity = c.get("severity").and_then(Json::as_str).unwrap_or("error").to_uppercase();
            map.serialize_entry("severity", &severity)?;
        }
        map.end()
    }
}

/// A model's `contract`: enforced, alias_types and, when enforced, a checksum of what the
/// contract covers (each column's name, type and constraints; the materialization and model
/// constraints), which `state:modified.contract` compares.
fn contract_json(n: &Node) -> ContractOut {
    let enforced = crate::parse::contract_enforced(n);
    let checksum = enforced.then(|| {
        let mut cols: Vec<&crate::project::properties::ColumnDef> = n.columns.iter().collect();
        cols.sort_by(|a, b| a.name.cmp(&b.name));
        let mut state = String::new();
        for c in cols {
            let ks: Vec<Json> = c.constraints.iter().map(|k| k.to_json(false)).collect();
            state.push_str(&format!("|{}{}{}", c.name, c.data_type.as_deref().unwrap_or("None"), Json::from(ks)));
        }
        let ks: Vec<Json> = n.constraints.iter().map(|k| k.to_json(true)).collect();
        state.push_str(&format!("{}{}", n.materialized(), Json::from(ks)));
        Checksum::of(&state).checksum
    });
    ContractOut { enforced, alias_types: true, checksum }
}

#[derive(Serialize)]
struct ContractOut {
    enforced: bool,
    alias_types: bool,
    checksum: Option<String>,
}

fn relation_name(n: &Node) -> Option<String> {
    if n.is_test() || n.resource_type == ResourceType::Analysis || n.materialized() == "ephemeral" {
        return None;
    }
    Some(n.relation.render())
}

#[derive(Serialize)]
struct Checksum {
    name: &'static str,
    checksum: String,
}

impl Checksum {
    fn of(text: &str) -> Checksum {
        use sha2::Digest;
        Checksum { name: "sha256", checksum: format!("{:x}", sha2::Sha256::digest(text.as_bytes())) }
    }
}

#[derive(Serialize)]
struct DocsOut {
    show: bool,
    node_color: Option<String>,
}

impl DocsOut {
    /// A node's `docs` config (`show`, `node_color`), dbt's defaults where it has none.
    fn of(config: &crate::project::config::Config) -> DocsOut {
        let docs = config.get("docs");
        DocsOut {
            show: docs.and_then(|d| d.get("show")).and_then(serde_json::Value::as_bool).unwrap_or(true),
            node_color: docs.and_then(|d| d.get("node_color")).and_then(serde_json::Value::as_str).map(str::to_string),
        }
    }
}

/// A node's columns by name, in the order the YAML declares them (as dbt writes them).
struct Columns<'a>(Vec<(&'a str, ColumnOut<'a>)>);

impl Serialize for Columns<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One column of a node, as ColumnInfo.
#[derive(Serialize)]
struct ColumnOut<'a> {
    name: &'a str,
    description: &'a str,
    meta: &'a Json,
    data_type: &'a Option<String>,
    constraints: Vec<Json>,
    quote: Option<bool>,
    tags: &'a [String],
}

#[derive(Serialize)]
struct RefOut<'a> {
    name: &'a str,
    package: &'a Option<String>,
    version: Option<Json>,
}

/// A ref's version as dbt records it: a number when it is one.
fn version_json(v: &Option<String>) -> Option<Json> {
    let v = v.as_ref()?;
    Some(v.parse::<i64>().map(Json::from).or_else(|_| v.parse::<f64>().map(Json::from)).unwrap_or_else(|_| json!(v)))
}

#[derive(Serialize)]
struct DependsOn<'a> {
    macros: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<&'a [String]>,
}

/// A node as dbt's manifest v12 has it. Fields a resource type's schema does not allow are
/// `None` and left out; the optional fields dbt fills with defaults are left out too.
#[derive(Serialize)]
struct NodeOut<'a> {
    database: &'a Option<String>,
    schema: &'a str,
    name: &'a str,
    resource_type: &'a str,
    package_name: &'a str,
    path: &'a str,
    original_file_path: String,
    unique_id: &'a str,
    fqn: &'a [String],
    alias: &'a str,
    checksum: Checksum,
    config: ConfigOut<'a>,
    tags: Vec<String>,
    description: &'a str,
    columns: Columns<'a>,
    meta: &'a Json,
    docs: DocsOut,
    patch_path: Option<String>,
    relation_name: Option<String>,
    raw_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refs: Option<Vec<RefOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sources: Option<Vec<[&'a str; 2]>>,
    depends_on: DependsOn<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    test_metadata: Option<TestMetadataOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column_name: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attached_node: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_key_name: Option<String>,
    /// A model's constraints and contract.
    #[serde(skip_serializing_if = "Option::is_none")]
    constraints: Option<Vec<Json>>,
    /// A model's version, latest version and deprecation date (null when unversioned).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<Option<&'a Json>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latest_version: Option<Option<&'a Json>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecation_date: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contract: Option<ContractOut>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    compiled: Option<CompiledOut<'a>>,
}

/// What an invocation compiled and ran, for the nodes' compiled fields.
pub struct Compiled<'a> {
    /// Compiled nodes by unique id.
    pub nodes: &'a std::collections::HashMap<String, crate::compile::CompiledNode>,
    /// Nodes whose SQL ran (they have `build_path`).
    pub built: &'a std::collections::HashSet<String>,
    /// The target path as the user gave it (`target` by default): paths are written under it,
    /// as dbt writes them.
    pub target_path: &'a str,
}

/// A compiled node's fields, as dbt writes them for the nodes an invocation compiled.
#[derive(Serialize)]
struct CompiledOut<'a> {
    compiled: bool,
    compiled_code: &'a str,
    compiled_path: String,
    extra_ctes_injected: bool,
    extra_ctes: Vec<Json>,
    build_path: Option<String>,
}

impl<'a> CompiledOut<'a> {
    fn of(m: &Manifest, n: &Node, compiled: Option<&Compiled<'a>>) -> Option<CompiledOut<'a>> {
        let all = compiled?;
        let c = all.nodes.get(&n.unique_id)?;
        let rel = m.target_rel_path(n);
        let path =
            |kind: &str| std::path::Path::new(all.target_path).join(kind).join(&rel).to_string_lossy().to_string();
        Some(CompiledOut {
            compiled: true,
            compiled_code: &c.sql,
            compiled_path: path("compiled"),
            extra_ctes_injected: true,
            extra_ctes: c.extra_ctes.iter().map(|(id, sql)| json!({"id": id, "sql": sql})).collect(),
            build_path: all.built.contains(&n.unique_id).then(|| path("run")),
        })
    }
}

static EMPTY_META: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| Json::Object(Map::new()));

fn node_json<'a>(
    m: &Manifest,
    n: &'a Node,
    root: &'a str,
    project: &Project,
    compiled: Option<&Compiled<'a>>,
    buf: &mut Vec<u8>,
) {
    const EMPTY: &str = "";
    let seed = n.resource_type == ResourceType::Seed;
    let mut out = NodeOut {
        database: &n.relation.database,
        schema: n.relation.schema.as_deref().unwrap_or(EMPTY),
        name: &n.name,
        resource_type: n.resource_type.as_str(),
        package_name: &n.package_name,
        path: &n.path,
        original_file_path: package_path(project, &n.package_name, &n.original_file_path),
        unique_id: &n.unique_id,
        fqn: &n.fqn,
        alias: n.relation.identifier.as_deref().unwrap_or(EMPTY),
        // A seed's checksum is its file's, as in dbt (its raw_code is empty).
        checksum: if seed {
            Checksum::of(&std::fs::read_to_string(&n.file_path).unwrap_or_default())
        } else {
            Checksum::of(&n.raw_code)
        },
        config: ConfigOut(n),
        tags: n.config.tags(),
        description: &n.description,
        columns: Columns(
            n.columns
                .iter()
                .map(|c| {
                    (
                        c.name.as_str(),
                        ColumnOut {
                            name: &c.name,
                            description: &c.description,
                            meta: if c.meta.is_object() { &c.meta } else { &EMPTY_META },
                            data_type: &c.data_type,
                            constraints: c.constraints.iter().map(|k| k.to_json(false)).collect(),
                            quote: c.quote,
                            tags: &c.tags,
                        },
                    )
                })
                .collect(),
        ),
        meta: n.config.get("meta").filter(|m| m.is_object()).unwrap_or(&EMPTY_META),
        docs: DocsOut::of(&n.config),
        patch_path: n
            .patch_path
            .as_ref()
            .map(|p| format!("{}://{}", n.package_name, package_path(project, &n.package_name, p))),
        relation_name: relation_name(n),
        raw_code: &n.raw_code,
        language: (!seed).then_some(n.language.as_str()),
        refs: (!seed).then(|| {
            n.refs
                .iter()
                .map(|r| RefOut { name: &r.name, package: &r.package, version: version_json(&r.version) })
                .collect()
        }),
        sources: (!seed).then(|| n.sources.iter().map(|(a, b)| [a.as_str(), b.as_str()]).collect()),
        depends_on: DependsOn { macros: [], nodes: (!seed).then_some(n.depends_on.as_slice()) },
        root_path: seed.then_some(root),
        test_metadata: None,
        column_name: None,
        attached_node: None,
        file_key_name: None,
        constraints: (n.resource_type == ResourceType::Model)
            .then(|| n.constraints.iter().map(|k| k.to_json(true)).collect()),
        contract: (n.resource_type == ResourceType::Model).then(|| contract_json(n)),
        version: (n.resource_type == ResourceType::Model).then(|| n.version.as_ref().map(|v| &v.v_json)),
        latest_version: (n.resource_type == ResourceType::Model).then(|| n.version.as_ref().map(|v| &v.latest_json)),
        deprecation_date: (n.resource_type == ResourceType::Model).then(|| {
            n.version.as_ref().and_then(|v| v.deprecation_date.as_deref()).map(|d| {
                crate::parse::deprecation_time(d)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
                    .unwrap_or_else(|| d.to_string())
            })
        }),
        compiled: CompiledOut::of(m, n, compiled),
    };
    if let (ResourceType::Test, Some(t)) = (n.resource_type, &n.test) {
        if let Some(md) = &t.metadata {
            // kwargs.model is dbt's `{{ get_where_subquery(ref('orders')) }}` already.
            out.test_metadata =
                Some(TestMetadataOut { name: &md.name, kwargs: &md.kwargs, namespace: md.namespace.as_deref() });
            out.column_name = Some(t.column_name.as_deref());
            out.attached_node = Some(t.attached_node.as_deref());
            // The property-file entry the test is declared under: `models.<name>` (a versioned
            // model's name, not its version), `seeds.<name>`, `sources.<source>`.
            let attached = t.attached_node.as_deref().unwrap_or_default();
            let parts: Vec<&str> = attached.split('.').collect();
            let (kind, key) = match parts.first() {
                Some(&"source") => ("sources", parts.get(2).copied().unwrap_or_default().to_string()),
                Some(&"seed") => ("seeds", parts.get(2).copied().unwrap_or_default().to_string()),
                _ => ("models", m.nodes.get(attached).map(|a| a.name.clone()).unwrap_or_default()),
            };
            out.file_key_name = Some(format!("{kind}.{key}"));
        }
    }
    let _ = serde_json::to_writer(buf, &out);
}

/// A generic test's `test_metadata`, serialized from what it borrows (it was a JSON value built,
/// and its arguments copied, for each of 11,000 tests).
#[derive(Serialize)]
struct TestMetadataOut<'a> {
    name: &'a str,
    kwargs: &'a serde_json::Map<String, Json>,
    namespace: Option<&'a str>,
}

fn unit_test_json(n: &Node) -> Json {
    let raw = n.test.as_ref().and_then(|t| t.unit.clone()).unwrap_or(json!({}));
    let fixture = |v: &Json| -> Json {
        json!({
            "rows": v.get("rows").cloned().filter(|r| r.is_array() || r.is_string()),
            "format": v.get("format").and_then(Json::as_str).unwrap_or("dict"),
            "fixture": v.get("fixture").cloned().filter(Json::is_string),
        })
    };
    let given: Vec<Json> = raw
        .get("given")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|g| {
            let mut f = fixture(g);
            f["input"] = json!(g.get("input").and_then(Json::as_str).unwrap_or_default());
            f
        })
        .collect();
    let model = n.test.as_ref().and_then(|t| t.attached_node.clone()).unwrap_or_default();
    json!({
        "model": model.rsplit('.').next().unwrap_or_default(),
        "given": given,
        "expect": fixture(raw.get("expect").unwrap_or(&json!({}))),
        "name": n.name,
        "resource_type": "unit_test",
        "package_name": n.package_name,
        "path": n.path,
        "original_file_path": n.original_file_path,
        "unique_id": n.unique_id,
        "fqn": n.fqn,
        "description": n.description,
        "overrides": null,
        "depends_on": {"macros": [], "nodes": n.depends_on},
        "config": {"tags": n.config.tags(), "meta": {}, "enabled": true},
        "checksum": null,
        "schema": n.relation.schema,
        "created_at": 0.0,
        "versions": null,
        "version": null,
    })
}

/// A source as manifest.json has it.
fn source_json(id: &str, s: &crate::parse::SourceNode, project: &Project) -> Json {
    let t = &s.table;
    let columns: Map<String, Json> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), json!({"name": c.name, "description": c.description, "meta": c.meta.as_object().cloned().unwrap_or_default(), "data_type": c.data_type, "constraints": [], "quote": c.quote, "tags": c.tags, "granularity": null, "doc_blocks": []})))
            .collect();
    let package = id.split('.').nth(1).unwrap_or_default();
    let file = package_path(project, package, &t.file.to_string_lossy());
    json!({
        "database": s.relation.database, "schema": t.schema, "name": t.name, "resource_type": "source",
        "package_name": package, "path": file, "original_file_path": file,
        "unique_id": id, "fqn": s.fqn, "source_name": t.source_name, "source_description": t.source_description,
        "loader": t.loader, "identifier": t.identifier, "quoting": {"database": null, "schema": null, "identifier": null, "column": null},
        "loaded_at_field": t.loaded_at_field, "loaded_at_query": t.loaded_at_query,
        "freshness": t.freshness.as_ref().map(|f| f.to_json()), "external": null,
        "description": t.description, "columns": columns, "meta": t.meta.as_object().cloned().unwrap_or_default(),
        "source_meta": {}, "tags": t.tags, "config": {"enabled": true}, "patch_path": null, "unrendered_config": {},
        "relation_name": s.relation.to_string(), "created_at": 0.0, "unrendered_database": null,
        "unrendered_schema": null, "doc_blocks": [],
    })
}

/// The current nodes and sources as manifest.json has them, by unique id (what `state:`
/// selectors compare with another build's manifest).
pub fn node_values(m: &Manifest, project: &Project) -> BTreeMap<String, Json> {
    let root = project.root.to_string_lossy().to_string();
    let mut out = BTreeMap::new();
    for (id, n) in &m.nodes {
        let v = if n.resource_type == ResourceType::UnitTest {
            unit_test_json(n)
        } else {
            let mut buf = vec![];
            node_json(m, n, &root, project, None, &mut buf);
            serde_json::from_slice(&buf).unwrap_or_default()
        };
        out.insert(id.clone(), v);
    }
    for (id, s) in &m.sources {
        out.insert(id.clone(), source_json(id, s, project));
    }
    out
}

/// A project-relative path as dbt records it: relative to the node's package.
fn package_path(project: &Project, package: &str, path: &str) -> String {
    match project.packages.iter().find(|p| p.name == package) {
        Some(p) => crate::parse::package_relative(p, project, std::path::Path::new(path)),
        None => path.to_string(),
    }
}

/// Write target/manifest.json (compact). `lineage` names the lineage file when one is written;
/// `compiled` gives the nodes this invocation compiled their compiled fields.
/// Nodes are serialised in parallel, a batch at a time, and streamed to the file, so a
/// 10,000-model project's manifest never exists in memory as a whole.
pub fn write(
    target_dir: &std::path::Path,
    m: &Manifest,
    engine: &Engine,
    project: &Project,
    inv: &Invocation,
    lineage: Option<&str>,
    compiled: Option<&Compiled>,
) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(target_dir)?;
    let root = project.root.to_string_lossy().to_string();
    // Everything after the nodes is made on another thread while the nodes are written.
    crate::jsonout::replace_file(&target_dir.join("manifest.json"), |f| {
        std::thread::scope(|scope| {
            let rest = scope.spawn(|| rest_of_manifest(m, engine, project));
            write!(f, "{{\"metadata\":{},\"nodes\":{{", manifest_metadata(project, inv, lineage))?;
            let ids: Vec<(&String, &Node)> = m
                .nodes
                .iter()
                .filter(|(_, n)| n.resource_type != ResourceType::UnitTest)
                .map(|(k, n)| (k, &**n))
                .collect();
            // Batches of 1,024 nodes (about 3 MB of JSON): larger ones only hold more of the file in
            // memory at once.
            crate::jsonout::write_entries(f, &ids, 1024, |(id, n), buf| {
                serde_json::to_writer(&mut *buf, id)?;
                buf.push(b':');
                node_json(m, n, &root, project, compiled, buf);
                Ok(())
            })?;
            let (rest, maps) = rest.join().map_err(|_| std::io::Error::other("manifest.json: a thread panicked"))?;
            // The small objects after the nodes (their object's braces dropped: it continues the
            // file's), then the parent and child maps (6 MB of JSON at 10,000 models) written as
            // the nodes are, on every core, then the empty objects that end the file.
            let rest = serde_json::to_vec(&rest).map_err(std::io::Error::other)?;
            f.write_all(b"},")?;
            f.write_all(&rest[1..rest.len() - 1])?;
            f.write_all(br#","parent_map":{"#)?;
            crate::jsonout::write_entries(f, &maps.parents, 4096, crate::jsonout::key_value)?;
            f.write_all(br#"},"child_map":{"#)?;
            crate::jsonout::write_entries(f, &maps.children, 4096, crate::jsonout::key_value)?;
            f.write_all(br#"},"group_map":{},"saved_queries":{},"semantic_models":{}}"#)
        })
    })
}

/// manifest.json's `metadata`.
fn manifest_metadata(project: &Project, inv: &Invocation, lineage: Option<&str>) -> Json {
    let mut md = metadata(MANIFEST_SCHEMA, inv);
    md["project_name"] = json!(project.config.name.as_str());
    md["adapter_type"] = json!(project.engine().dialect.name);
    if let Some(l) = lineage {
        md["env"]["STRATA_COLUMN_LINEAGE"] = json!(l);
    }
    // Where this build's database is, so that `--defer` from another target can attach it.
    let file = project.target.as_ref().and_then(|t| (project.engine().database_file)(t));
    if let (Some(t), Some(file)) = (project.target.as_ref(), file) {
        let path = t.project_root.join(file);
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        md["env"]["STRATA_DUCKDB_PATH"] = json!(path.to_string_lossy());
    }
    md
}

/// Each id's dependents (sorted, once each), in id order, from each id's dependencies (in id
/// order, as [`Manifest::dependencies`] lists them). A dependency that is not among the ids has
/// its dependents too (none is expected).
pub fn child_map<'a>(parents: &[(&'a str, &'a [String])]) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut children: Vec<(&str, Vec<&str>)> = parents.iter().map(|(id, _)| (*id, vec![])).collect();
    let index: crate::templating::FastMap<&str, usize> =
        parents.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
    let mut elsewhere: Vec<(&str, &str)> = vec![];
    for (id, ps) in parents {
        for p in ps.iter() {
            match index.get(p.as_str()) {
                Some(&i) => children[i].1.push(id),
                None => elsewhere.push((p, id)),
            }
        }
    }
    for (p, id) in elsewhere {
        match children.binary_search_by(|(k, _)| (*k).cmp(p)) {
            Ok(i) => children[i].1.push(id),
            Err(i) => children.insert(i, (p, vec![id])),
        }
    }
    for (_, c) in children.iter_mut() {
        c.sort_unstable();
        c.dedup();
    }
    children
}

/// Everything after the nodes, in manifest.json's order and shapes.
#[derive(Serialize)]
struct RestOut {
    unit_tests: Map<String, Json>,
    sources: Map<String, Json>,
    macros: Map<String, Json>,
    docs: Map<String, Json>,
    exposures: Map<String, Json>,
    metrics: Map<String, Json>,
    groups: Map<String, Json>,
    selectors: Map<String, Json>,
    disabled: Map<String, Json>,
}

/// manifest.json's `parent_map` and `child_map`, in id order (written after [`RestOut`], then
/// the empty `group_map`, `saved_queries` and `semantic_models`).
struct Maps<'a> {
    parents: Vec<(&'a str, &'a [String])>,
    children: Vec<(&'a str, Vec<&'a str>)>,
}

/// The unit tests and everything after them: the small objects, and the parent and child maps
/// (borrowed from the manifest; at 10,000 models they are 6 MB of JSON).
fn rest_of_manifest<'a>(m: &'a Manifest, engine: &Engine, project: &Project) -> (RestOut, Maps<'a>) {
    let root_name = project.config.name.as_str();
    let unit_tests: Map<String, Json> = m
        .nodes
        .iter()
        .filter(|(_, n)| n.resource_type == ResourceType::UnitTest)
        .map(|(id, n)| (id.clone(), unit_test_json(n)))
        .collect();
    let sources: Map<String, Json> =
        m.sources.iter().map(|(id, s)| (id.clone(), source_json(id, s, project))).collect();
    let mut macros = Map::new();
    for (package, defs) in &engine.by_package {
        for (name, d) in defs {
            let id = format!("macro.{package}.{name}");
            let file = package_path(project, package, &d.path);
            let patch = project.macro_patch(package, name);
            macros.insert(
                id.clone(),
                json!({
                    "name": name, "resource_type": "macro", "package_name": package, "path": file,
                    "original_file_path": file, "unique_id": id, "macro_sql": d.source,
                    "depends_on": {"macros": []},
                    "description": patch.map(|p| p.description.as_str()).unwrap_or_default(), "meta": {},
                    "docs": {"show": true, "node_color": null},
                    "patch_path": patch.map(|p| format!("{package}://{}", package_path(project, package, &p.file.to_string_lossy()))),
                    "arguments": patch.map(|p| json!(p.arguments)).unwrap_or(json!([])), "created_at": 0.0,
                    "supported_languages": null,
                }),
            );
        }
    }
    let mut docs = Map::new();
    for (name, (text, file)) in &m.docs {
        let id = format!("doc.{root_name}.{name}");
        docs.insert(
            id.clone(),
            json!({"name": name, "resource_type": "doc", "package_name": root_name, "path": file, "original_file_path": file, "unique_id": id, "block_contents": text}),
        );
    }
    let mut exposures = Map::new();
    for (id, e) in &m.exposures {
        let r = &e.raw;
        let s = |k: &str| r.get(k).and_then(Json::as_str).map(str::to_string);
        let owner = r.get("owner").cloned().unwrap_or(json!({}));
        let file = package_path(project, &e.package_name, &e.file);
        let kind =
            s("type").filter(|t| ["dashboard", "notebook", "analysis", "ml", "application"].contains(&t.as_str()));
        let maturity = s("maturity").filter(|t| ["low", "medium", "high"].contains(&t.as_str()));
        exposures.insert(
            id.clone(),
            json!({
                "name": e.name, "resource_type": "exposure", "package_name": e.package_name, "path": file,
                "original_file_path": file, "unique_id": id, "fqn": e.fqn, "type": kind.unwrap_or_else(|| "dashboard".into()),
                "owner": {"email": owner.get("email").and_then(Json::as_str), "name": owner.get("name").and_then(Json::as_str)},
                "description": s("description").unwrap_or_default(), "label": s("label"), "maturity": maturity,
                "meta": r.get("meta").cloned().filter(Json::is_object).unwrap_or(json!({})),
                "tags": r.get("tags").cloned().filter(Json::is_array).unwrap_or(json!([])),
                "config": {"enabled": true, "tags": [], "meta": {}}, "unrendered_config": {}, "url": s("url"),
                "depends_on": {"macros": [], "nodes": e.depends_on},
                "refs": e.refs.iter().map(|x| json!({"name": x.name, "package": x.package, "version": null})).collect::<Vec<_>>(),
                "sources": e.sources.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
                "metrics": [], "created_at": 0.0,
            }),
        );
    }
    // parent_map / child_map over nodes, sources, exposures and unit tests, in id order.
    let parents = m.dependencies();
    let children = child_map(&parents);
    let rest = RestOut {
        unit_tests,
        sources,
        macros,
        docs,
        exposures,
        metrics: Map::new(),
        groups: Map::new(),
        selectors: Map::new(),
        disabled: Map::new(),
    };
    (rest, Maps { parents, children })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_map_is_each_ids_dependents_in_order() {
        let deps = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let (none, b, c, d) = (deps(&[]), deps(&["a", "x"]), deps(&["b", "a", "b"]), deps(&["c", "a", "0"]));
        let parents: Vec<(&str, &[String])> = vec![("a", &none), ("b", &b), ("c", &c), ("d", &d)];
        // What the B-tree it replaced made: every id, and every dependency, with its dependents.
        let mut expected: BTreeMap<&str, Vec<&str>> = parents.iter().map(|(id, _)| (*id, vec![])).collect();
        for (id, ps) in &parents {
            for p in ps.iter() {
                expected.entry(p).or_default().push(id);
            }
        }
        for c in expected.values_mut() {
            c.sort_unstable();
            c.dedup();
        }
        let got = child_map(&parents);
        assert_eq!(got, expected.into_iter().collect::<Vec<_>>());
        assert_eq!(got.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["0", "a", "b", "c", "d", "x"]);
        assert_eq!(got[1], ("a", vec!["b", "c", "d"]));
    }
}
