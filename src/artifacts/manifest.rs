//! `target/manifest.json` in dbt's manifest v12 shape (checked against dbt's schema in the
//! tests): nodes, sources, macros, docs, exposures, unit tests, parent_map and child_map, with
//! unique ids as dbt forms them. The column lineage is referenced from `metadata.env`.

use super::metadata;
use crate::parse::{Manifest, Node, ResourceType};
use crate::project::Project;
use crate::templating::Engine;
use crate::Invocation;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// dbt's schema URL for manifest v12.
pub const MANIFEST_SCHEMA: &str = "https://schemas.getdbt.com/dbt/manifest/v12.json";

fn sha256(text: &str) -> Json {
    use sha2::Digest;
    json!({"name": "sha256", "checksum": format!("{:x}", sha2::Sha256::digest(text.as_bytes()))})
}

/// Keys each resource type's schema does not allow.
fn not_allowed(rt: ResourceType) -> &'static [&'static str] {
    const NOT_MODEL: &[&str] = &[
        "access",
        "constraints",
        "defer_relation",
        "deprecation_date",
        "freshness",
        "latest_version",
        "primary_key",
        "time_spine",
        "version",
    ];
    const SEED: &[&str] = &[
        "_pre_injected_sql",
        "access",
        "compiled",
        "compiled_code",
        "compiled_path",
        "constraints",
        "contract",
        "deprecation_date",
        "extra_ctes",
        "extra_ctes_injected",
        "freshness",
        "language",
        "latest_version",
        "metrics",
        "primary_key",
        "refs",
        "sources",
        "time_spine",
        "version",
    ];
    match rt {
        ResourceType::Model => &[],
        ResourceType::Seed => SEED,
        _ => NOT_MODEL,
    }
}

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

fn config_json(n: &Node) -> Json {
    let mut c = match n.config.to_json() {
        Json::Object(m) => m,
        _ => Map::new(),
    };
    c.insert("enabled".into(), json!(true));
    c.insert("tags".into(), json!(n.config.tags()));
    c.insert("materialized".into(), json!(n.materialized()));
    c.entry("meta").or_insert(json!({}));
    for k in ["pre-hook", "post-hook"] {
        c.insert(k.into(), hooks(&n.config, k));
    }
    for k in ["alias", "schema", "database"] {
        if c.get(k).is_some_and(|v| !v.is_string()) {
            c.insert(k.into(), Json::Null);
        }
    }
    if n.resource_type == ResourceType::Model {
        c.entry("access").or_insert(json!("protected"));
        c.entry("on_schema_change").or_insert(json!("ignore"));
        c.entry("contract").or_insert(json!({"enforced": false, "alias_types": true}));
    }
    if n.resource_type == ResourceType::Test {
        for (k, d) in [("severity", "ERROR"), ("fail_calc", "count(*)"), ("warn_if", "!= 0"), ("error_if", "!= 0")] {
            c.entry(k).or_insert(json!(d));
        }
        if let Some(Json::String(s)) = c.get("severity") {
            let upper = s.to_uppercase();
            c.insert("severity".into(), json!(upper));
        }
    }
    Json::Object(c)
}

fn relation_name(n: &Node) -> Json {
    if n.is_test() || n.resource_type == ResourceType::Analysis || n.materialized() == "ephemeral" {
        return Json::Null;
    }
    json!(n.relation.to_string())
}

fn node_json(n: &Node, root: &str, project: &Project) -> Json {
    let package_path = package_path(project, &n.package_name, &n.original_file_path);
    let columns: Map<String, Json> = n
        .columns
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                json!({"name": c.name, "description": c.description, "meta": c.meta.as_object().cloned().unwrap_or_default(),
                       "data_type": c.data_type, "constraints": [], "quote": c.quote, "tags": c.tags, "granularity": null,
                       "doc_blocks": []}),
            )
        })
        .collect();
    let mut v = json!({
        "database": n.relation.database,
        "schema": n.relation.schema.clone().unwrap_or_default(),
        "name": n.name,
        "resource_type": n.resource_type.as_str(),
        "package_name": n.package_name,
        "path": n.path,
        "original_file_path": package_path,
        "unique_id": n.unique_id,
        "fqn": n.fqn,
        "alias": n.relation.identifier.clone().unwrap_or_default(),
        "checksum": sha256(&n.raw_code),
        "config": config_json(n),
        "tags": n.config.tags(),
        "description": n.description,
        "columns": columns,
        "meta": n.config.get("meta").cloned().filter(Json::is_object).unwrap_or(json!({})),
        "group": null,
        "docs": {"show": true, "node_color": null},
        "patch_path": n.patch_path.as_ref().map(|p| format!("{}://{p}", n.package_name)),
        "build_path": null,
        "unrendered_config": {},
        "created_at": 0.0,
        "config_call_dict": {},
        "unrendered_config_call_dict": {},
        "relation_name": relation_name(n),
        "raw_code": n.raw_code,
        "doc_blocks": [],
        "language": "sql",
        "refs": n.refs.iter().map(|r| json!({"name": r.name, "package": r.package, "version": null})).collect::<Vec<_>>(),
        "sources": n.sources.iter().map(|(s, t)| json!([s, t])).collect::<Vec<_>>(),
        "metrics": [],
        "depends_on": {"macros": [], "nodes": n.depends_on},
        "compiled_path": null,
        "compiled": false,
        "compiled_code": null,
        "extra_ctes_injected": false,
        "extra_ctes": [],
        "_pre_injected_sql": null,
        "contract": {"enforced": false, "alias_types": true, "checksum": null},
        "access": "protected",
        "constraints": [],
        "version": null,
        "latest_version": null,
        "deprecation_date": null,
        "defer_relation": null,
        "primary_key": [],
        "time_spine": null,
        "freshness": null,
    });
    let Json::Object(m) = &mut v else { return v };
    for k in not_allowed(n.resource_type) {
        m.remove(*k);
    }
    match n.resource_type {
        ResourceType::Seed => {
            m.insert("root_path".into(), json!(root));
            m.insert("depends_on".into(), json!({"macros": []}));
        }
        ResourceType::Test => {
            if let Some(t) = &n.test {
                if let Some(md) = &t.metadata {
                    let mut kwargs = md.kwargs.clone();
                    if let Some(Json::String(model)) = kwargs.get("model") {
                        let wrapped = format!("{{{{ get_where_subquery({model}) }}}}");
                        kwargs.insert("model".into(), json!(wrapped));
                    }
                    m.insert(
                        "test_metadata".into(),
                        json!({"name": md.name, "kwargs": kwargs, "namespace": md.namespace}),
                    );
                    m.insert("column_name".into(), json!(t.column_name));
                    m.insert("attached_node".into(), json!(t.attached_node));
                    let key = t.attached_node.as_deref().and_then(|a| a.split('.').next_back()).unwrap_or_default();
                    let kind = match t.attached_node.as_deref().and_then(|a| a.split('.').next()) {
                        Some("source") => "sources",
                        Some("seed") => "seeds",
                        _ => "models",
                    };
                    m.insert("file_key_name".into(), json!(format!("{kind}.{key}")));
                }
            }
        }
        _ => {}
    }
    v
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

/// A project-relative path as dbt records it: relative to the node's package.
fn package_path(project: &Project, package: &str, path: &str) -> String {
    match project.packages.iter().find(|p| p.name == package) {
        Some(p) => crate::parse::package_relative(p, project, std::path::Path::new(path)),
        None => path.to_string(),
    }
}

/// manifest.json as a JSON value. `lineage` names the lineage file when one is written.
pub fn manifest_json(
    m: &Manifest,
    engine: &Engine,
    project: &Project,
    inv: &Invocation,
    lineage: Option<&str>,
) -> Json {
    let root_name = project.config.name.as_str();
    let mut nodes = Map::new();
    let mut unit_tests = Map::new();
    for (id, n) in &m.nodes {
        if n.resource_type == ResourceType::UnitTest {
            unit_tests.insert(id.clone(), unit_test_json(n));
        } else {
            nodes.insert(id.clone(), node_json(n, &project.root.to_string_lossy(), project));
        }
    }
    let mut sources = Map::new();
    for (id, s) in &m.sources {
        let t = &s.table;
        let columns: Map<String, Json> = t
            .columns
            .iter()
            .map(|c| (c.name.clone(), json!({"name": c.name, "description": c.description, "meta": c.meta.as_object().cloned().unwrap_or_default(), "data_type": c.data_type, "constraints": [], "quote": c.quote, "tags": c.tags, "granularity": null, "doc_blocks": []})))
            .collect();
        let package = id.split('.').nth(1).unwrap_or_default();
        let file = package_path(project, package, &t.file.to_string_lossy());
        sources.insert(
            id.clone(),
            json!({
                "database": s.relation.database, "schema": t.schema, "name": t.name, "resource_type": "source",
                "package_name": package, "path": file, "original_file_path": file,
                "unique_id": id, "fqn": s.fqn, "source_name": t.source_name, "source_description": t.source_description,
                "loader": t.loader, "identifier": t.identifier, "quoting": {"database": null, "schema": null, "identifier": null, "column": null},
                "loaded_at_field": t.loaded_at_field, "loaded_at_query": null, "freshness": null, "external": null,
                "description": t.description, "columns": columns, "meta": t.meta.as_object().cloned().unwrap_or_default(),
                "source_meta": {}, "tags": t.tags, "config": {"enabled": true}, "patch_path": null, "unrendered_config": {},
                "relation_name": s.relation.to_string(), "created_at": 0.0, "unrendered_database": null,
                "unrendered_schema": null, "doc_blocks": [],
            }),
        );
    }
    let mut macros = Map::new();
    for (package, defs) in &engine.by_package {
        for (name, d) in defs {
            let id = format!("macro.{package}.{name}");
            let file = package_path(project, package, &d.path);
            macros.insert(
                id.clone(),
                json!({
                    "name": name, "resource_type": "macro", "package_name": package, "path": file,
                    "original_file_path": file, "unique_id": id, "macro_sql": d.source,
                    "depends_on": {"macros": []}, "description": "", "meta": {},
                    "docs": {"show": true, "node_color": null}, "patch_path": null, "arguments": [], "created_at": 0.0,
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
    // parent_map / child_map over nodes, sources, exposures and unit tests.
    let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, n) in &m.nodes {
        parents.insert(id.clone(), n.depends_on.clone());
    }
    for id in m.sources.keys() {
        parents.insert(id.clone(), vec![]);
    }
    for (id, e) in &m.exposures {
        parents.insert(id.clone(), e.depends_on.clone());
    }
    let mut children: BTreeMap<String, Vec<String>> = parents.keys().map(|k| (k.clone(), vec![])).collect();
    for (id, ps) in &parents {
        for p in ps {
            children.entry(p.clone()).or_default().push(id.clone());
        }
    }
    for c in children.values_mut() {
        c.sort();
        c.dedup();
    }
    let mut md = metadata(MANIFEST_SCHEMA, inv);
    md["project_name"] = json!(root_name);
    md["adapter_type"] = json!("duckdb");
    if let Some(l) = lineage {
        md["env"] = json!({"STRATA_COLUMN_LINEAGE": l});
    }
    json!({
        "metadata": md,
        "nodes": nodes,
        "sources": sources,
        "macros": macros,
        "docs": docs,
        "exposures": exposures,
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {},
        "parent_map": parents,
        "child_map": children,
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": unit_tests,
    })
}
