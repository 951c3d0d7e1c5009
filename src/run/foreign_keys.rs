//! Tables with foreign keys, on DuckDB (as dbt-duckdb 1.11 handles them):
//! - DuckDB records the name a table with a foreign key was created under on the table it
//!   references and does not follow a rename (duckdb/duckdb#24648), so such a table is built
//!   under its final name, never renamed into place ([`has_foreign_keys`]).
//! - DuckDB will not drop or rename a table that a foreign key references. Before such a table
//!   is rebuilt, the tables that reference it (directly or through others) are copied aside and
//!   dropped, deepest first, when this run rebuilds each of them from scratch afterwards (a
//!   selected table model, or an incremental one being fully refreshed, that refs the chain);
//!   after the build the copies are renamed back, without constraints, so their data stays
//!   readable until they are rebuilt. Anything else stops the build with dbt-duckdb's message.

use crate::adapter::{Connection, ForeignKey};
use crate::parse::{Manifest, Node};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a node's enforced contract declares a foreign key.
pub fn has_foreign_keys(node: &Node) -> bool {
    crate::parse::contract_enforced(node)
        && node
            .constraints
            .iter()
            .chain(node.columns.iter().flat_map(|c| &c.constraints))
            .any(|c| c.kind == "foreign_key")
}

/// A table dropped for the build, and the copy of its rows.
pub struct Dropped {
    table: String,
    backup: String,
}

/// The tables whose foreign keys point at `table`, directly or through other such tables,
/// deepest first (then by name), each with the tables it references (lowercased): the order
/// they can be dropped in.
fn dependents_of(all: &[ForeignKey], db: &str, schema: &str, table: &str) -> Vec<(String, Vec<String>)> {
    let fks: Vec<&ForeignKey> = all
        .iter()
        .filter(|f| {
            f.database.eq_ignore_ascii_case(db)
                && f.schema.eq_ignore_ascii_case(schema)
                && !f.table.eq_ignore_ascii_case(&f.referenced_table)
        })
        .collect();
    // Each table's greatest distance from `table` along the keys.
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    let mut frontier: Vec<String> = vec![table.to_lowercase()];
    for level in 1..=fks.len() {
        let next: BTreeSet<&str> = fks
            .iter()
            .filter(|f| frontier.contains(&f.referenced_table.to_lowercase()))
            .map(|f| f.table.as_str())
            .collect();
        if next.is_empty() {
            break;
        }
        for t in &next {
            depth.insert(t, level);
        }
        frontier = next.iter().map(|t| t.to_lowercase()).collect();
    }
    let mut rows: Vec<(usize, &str, &str)> = fks
        .iter()
        .filter_map(|f| depth.get(f.table.as_str()).map(|d| (*d, f.table.as_str(), f.referenced_table.as_str())))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(b.2)));
    let mut dependents: Vec<(String, Vec<String>)> = vec![];
    for (_, t, referenced) in rows {
        match dependents.iter_mut().find(|(d, _)| d == t) {
            Some((_, refs)) => refs.push(referenced.to_lowercase()),
            None => dependents.push((t.to_string(), vec![referenced.to_lowercase()])),
        }
    }
    dependents
}

/// Drop the tables whose foreign keys point at `node`'s relation, keeping copies. `selected`
/// says whether a node is part of this run; `full_refresh` is the run's flag.
pub fn drop_dependents(
    conn: &dyn Connection,
    manifest: &Manifest,
    node: &Node,
    selected: &dyn Fn(&str) -> bool,
    full_refresh: bool,
) -> Result<Vec<Dropped>, String> {
    let rel = &node.relation;
    let (db, schema, table) = (
        rel.database.as_deref().unwrap_or_default(),
        rel.schema.as_deref().unwrap_or_default(),
        rel.identifier.as_deref().unwrap_or_default(),
    );
    let all = conn.foreign_keys().map_err(|e| format!("Database Error in model {}\n  {e}", node.name))?;
    let dependents = dependents_of(&all, db, schema, table);
    if dependents.is_empty() {
        return Ok(vec![]);
    }
    // The model that builds each table of the chain.
    let same_schema = |n: &&Node| {
        n.resource_type == crate::parse::ResourceType::Model
            && n.relation.database.as_deref().unwrap_or_default().eq_ignore_ascii_case(db)
            && n.relation.schema.as_deref().unwrap_or_default().eq_ignore_ascii_case(schema)
    };
    let builder = |t: &str| -> Option<&Node> {
        manifest
            .nodes
            .values()
            .map(|n| &**n)
            .filter(same_schema)
            .find(|n| n.relation.identifier.as_deref().unwrap_or_default().eq_ignore_ascii_case(t))
    };
    let mut chain: std::collections::HashMap<String, String> =
        [(table.to_lowercase(), node.unique_id.clone())].into_iter().collect();
    for (t, _) in &dependents {
        if let Some(n) = builder(t) {
            chain.insert(t.to_lowercase(), n.unique_id.clone());
        }
    }
    let mut problems = vec![];
    for (t, refs) in &dependents {
        let Some(n) = builder(t) else {
            problems.push(format!("{t} (not built by a dbt model in this project)"));
            continue;
        };
        let upstream: Vec<&String> = refs.iter().filter_map(|r| chain.get(r)).collect();
        let refs_chain = upstream.iter().any(|u| n.depends_on.contains(u));
        let full = n.config.get_bool("full_refresh").unwrap_or(full_refresh);
        let mat = n.materialized();
        if !selected(&n.unique_id) {
            problems.push(format!("{t} (model {} is not selected in this run)", n.name));
        } else if !refs_chain {
            problems.push(format!(
                "{t} (model {} does not ref() the table its foreign key points at, so it may not be rebuilt afterwards; use `to: ref(...)` in the constraint)",
                n.name
            ));
        } else if !(mat == "table" || (mat == "incremental" && full)) {
            problems.push(format!(
                "{t} (model {} is materialized as {mat} and would lose its data; run with --full-refresh)",
                n.name
            ));
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "Compilation Error in model {} ({})\n  Cannot replace {} because DuckDB does not allow replacing a table that a foreign key references, and strata can only drop referencing tables that this run will rebuild. Problem tables: {}",
            node.name,
            node.original_file_path,
            rel.render(),
            problems.join("; ")
        ));
    }
    let quote = |s: &str| rel.dialect.quote(s);
    let mut dropped = vec![];
    for (t, _) in &dependents {
        let table = format!("{}.{}.{}", quote(db), quote(schema), quote(t));
        let backup_name = format!("{t}__dbt_fk_backup");
        let backup = format!("{}.{}.{}", quote(db), quote(schema), quote(&backup_name));
        let sql = format!(
            "drop table if exists {backup}; create table {backup} as select * from {table}; drop table {table}"
        );
        if let Err(e) = conn.execute(&sql) {
            let _ = restore(conn, dropped);
            return Err(format!(
                "Database Error in model {}\n  while dropping {table}, which references it: {e}",
                node.name
            ));
        }
        dropped.push(Dropped { table: quote(t), backup });
    }
    Ok(dropped)
}

/// Restores the dropped tables when the build of the table they reference is over, whichever
/// way it ended.
pub struct RestoreOnDrop<'a> {
    /// The build's connection.
    pub conn: &'a dyn Connection,
    /// What was dropped.
    pub dropped: Vec<Dropped>,
}

impl Drop for RestoreOnDrop<'_> {
    fn drop(&mut self) {
        // A rename that fails leaves the copy under its backup name, where the next build of
        // the referencing model finds nothing to restore; the rows are not lost.
        let _ = restore(self.conn, std::mem::take(&mut self.dropped));
    }
}

/// Put the dropped tables' rows back under their names (without constraints: each is rebuilt
/// later in the run), in the reverse order.
pub fn restore(conn: &dyn Connection, dropped: Vec<Dropped>) -> Result<(), String> {
    for d in dropped.into_iter().rev() {
        conn.execute(&format!("alter table {} rename to {}", d.backup, d.table))
            .map_err(|e| format!("cannot restore {} from {}: {e}", d.table, d.backup))?;
    }
    Ok(())
}
