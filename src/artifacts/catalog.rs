//! `target/catalog.json` in dbt's catalog v1 shape: for every model, seed and source that
//! exists in DuckDB, its type, columns with their types, and its row count.

use super::metadata;
use crate::adapter::Connection;
use crate::parse::{Manifest, ResourceType};
use crate::Invocation;
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;

/// dbt's schema URL for catalog v1.
pub const CATALOG_SCHEMA: &str = "https://schemas.getdbt.com/dbt/catalog/v1.json";

/// A relation as the database describes it.
#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    /// BASE TABLE / VIEW as information_schema says.
    pub kind: String,
    /// (name, type) in order.
    pub columns: Vec<(String, String)>,
    /// Rows, for tables.
    pub rows: Option<i64>,
}

/// Every relation's columns and types (two catalog queries), by lowercased (db, schema, name).
pub fn read(conn: &dyn Connection) -> HashMap<(String, String, String), TableInfo> {
    let mut out: HashMap<(String, String, String), TableInfo> = HashMap::new();
    let lower = |(d, s, n): &(String, String, String)| (d.to_lowercase(), s.to_lowercase(), n.to_lowercase());
    for (name, kind) in conn.relation_types().unwrap_or_default() {
        out.entry(lower(&name)).or_default().kind = kind;
    }
    for (name, columns) in conn.all_columns().unwrap_or_default() {
        out.entry(lower(&name)).or_default().columns.extend(columns.into_iter().map(|c| (c.name, c.data_type)));
    }
    out
}

fn entry(id: &str, rel: &crate::templating::relation::Relation, info: &TableInfo) -> Json {
    let columns: Map<String, Json> = info
        .columns
        .iter()
        .enumerate()
        .map(|(i, (n, t))| (n.clone(), json!({"type": t, "index": i + 1, "name": n, "comment": null})))
        .collect();
    let mut stats = Map::new();
    match info.rows {
        Some(n) => {
            stats.insert("row_count".into(), json!({"id": "row_count", "label": "Row Count", "value": n, "include": true, "description": "Rows in the table"}));
            stats.insert("has_stats".into(), json!({"id": "has_stats", "label": "Has Stats?", "value": true, "include": false, "description": "Indicates whether there are statistics for this table"}));
        }
        None => {
            stats.insert("has_stats".into(), json!({"id": "has_stats", "label": "Has Stats?", "value": false, "include": false, "description": "Indicates whether there are statistics for this table"}));
        }
    }
    json!({
        "metadata": {
            "type": info.kind,
            "schema": rel.schema.clone().unwrap_or_default(),
            "name": rel.identifier.clone().unwrap_or_default(),
            "database": rel.database,
            "comment": null,
            "owner": null,
        },
        "columns": columns,
        "stats": stats,
        "unique_id": id,
    })
}

/// The database's relations, with row counts for the tables that are nodes or sources.
pub fn collect(m: &Manifest, conn: &dyn Connection) -> HashMap<(String, String, String), TableInfo> {
    let mut tables = read(conn);
    let rels = m
        .nodes
        .values()
        .filter(|n| matches!(n.resource_type, ResourceType::Model | ResourceType::Seed))
        .map(|n| &n.relation)
        .chain(m.sources.values().map(|s| &s.relation));
    for rel in rels {
        if let Some(info) = tables.get_mut(&key(rel)) {
            if info.kind.contains("TABLE") && info.rows.is_none() {
                let sql = format!("select count(*) from {rel}");
                info.rows = conn.query(&sql, None).ok().and_then(|t| t.rows.first()?.first()?.as_i64());
            }
        }
    }
    tables
}

fn key(r: &crate::templating::relation::Relation) -> (String, String, String) {
    let l = |s: &Option<String>| s.clone().unwrap_or_default().to_lowercase();
    (l(&r.database), l(&r.schema), l(&r.identifier))
}

/// catalog.json for the nodes and sources that exist.
pub fn catalog_json(m: &Manifest, tables: &HashMap<(String, String, String), TableInfo>, inv: &Invocation) -> Json {
    let mut nodes = Map::new();
    let mut sources = Map::new();
    for n in m.nodes.values().filter(|n| matches!(n.resource_type, ResourceType::Model | ResourceType::Seed)) {
        if let Some(info) = tables.get(&key(&n.relation)) {
            nodes.insert(n.unique_id.clone(), entry(&n.unique_id, &n.relation, info));
        }
    }
    for s in m.sources.values() {
        if let Some(info) = tables.get(&key(&s.relation)) {
            sources.insert(s.unique_id.clone(), entry(&s.unique_id, &s.relation, info));
        }
    }
    json!({"metadata": metadata(CATALOG_SCHEMA, inv), "nodes": nodes, "sources": sources, "errors": null})
}
