//! `strata diff`: what would change against the --state build: load -> select -> compile and
//! analyse both sides -> compare relations and columns -> print (exit 1 with --exit-code when
//! something changes).

use super::context::{compile_and_analyse, connect, selected, state_error, Loaded};
use crate::diff::{Change, Kind};
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::Settings;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// `strata diff`: new, modified and removed nodes against the --state build, with their compiled
/// SQL diffs, output-column changes and what is downstream. `--exit-code`: exit 1 on any change.
pub(super) fn diff(settings: &Settings, l: &Loaded, printer: &Printer, exit_code: bool) -> i32 {
    let Some(dir) = l.state.state_dir.as_ref() else {
        return state_error(
            printer,
            ("<command line>", "strata diff", 8, 4),
            "`diff` compares with another build, but no --state was given".into(),
            "pass --state with the target folder of the build to compare with",
        );
    };
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    // Select: everything, or what --select / --selector choose.
    let whole = settings.select.is_empty() && settings.selector.is_none();
    let scope: BTreeSet<String> = if whole {
        l.manifest.nodes.keys().chain(l.manifest.sources.keys()).cloned().collect()
    } else {
        match selected(settings, l, &l.state, printer) {
            Ok(ids) => ids.into_iter().collect(),
            Err(c) => return c,
        }
    };
    // Compile and analyse this side.
    let sql_ids: Vec<String> = l
        .manifest
        .nodes
        .values()
        .filter(|n| n.resource_type != ResourceType::Seed && KINDS.contains(&n.resource_type))
        .filter(|n| scope.contains(&n.unique_id))
        .map(|n| n.unique_id.clone())
        .collect();
    let (compiled, lineage) = match compile_and_analyse(l, db.as_ref(), conn.as_ref(), &sql_ids, false) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d);
            return 2;
        }
    };
    // Compare with the state's side, and report.
    let previous = Previous::read(l, dir);
    let mut changes = changed(l, &scope, &compiled, &lineage, &previous);
    if whole {
        changes.extend(removed(l, &previous));
    }
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    print!("{}", crate::diff::render(&changes));
    i32::from(exit_code && !changes.is_empty())
}

/// The resource types `diff` compares.
const KINDS: [ResourceType; 4] =
    [ResourceType::Model, ResourceType::Snapshot, ResourceType::Analysis, ResourceType::Seed];

/// The --state build, as `diff` reads it.
struct Previous<'a> {
    state: &'a crate::select::Context,
    dir: &'a Path,
    /// Its lineage.json.
    lineage: serde_json::Value,
    /// Its relation names and this target's, longest first: a production state names
    /// production's relations.
    renames: Vec<(String, String)>,
}

impl<'a> Previous<'a> {
    fn read(l: &'a Loaded, dir: &'a Path) -> Previous<'a> {
        let state = &l.state;
        let lineage = std::fs::read_to_string(dir.join("lineage.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let mut renames: Vec<(String, String)> = state
            .state_nodes
            .iter()
            .filter_map(|(id, v)| {
                let name = |v: &serde_json::Value| v.get("relation_name")?.as_str().map(str::to_string);
                let (theirs, ours) = (name(v)?, name(state.current_nodes.get(id)?)?);
                (theirs != ours).then_some((theirs, ours))
            })
            .collect();
        renames.sort_by_key(|(theirs, _)| std::cmp::Reverse(theirs.len()));
        Previous { state, dir, lineage, renames }
    }

    /// A node's output columns in the state's lineage.
    fn columns(&self, id: &str) -> Option<Vec<String>> {
        let names = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|c| c.get("name").or(Some(c)).and_then(|n| n.as_str()).map(str::to_string))
                    .collect()
            })
        };
        let key = id.replace('~', "~0").replace('/', "~1");
        self.lineage
            .pointer(&format!("/nodes/{key}/columns"))
            .and_then(names)
            .or_else(|| self.lineage.pointer(&format!("/base_columns/{key}")).and_then(names))
    }

    /// The state's compiled SQL of a file, its relation names replaced by this target's; None
    /// when it has none (then sources are compared).
    fn compiled(&self, file: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("compiled").join(file)).ok()?;
        Some(self.renames.iter().fold(text, |t, (theirs, ours)| t.replace(theirs.as_str(), ours)))
    }

    /// The state's source code of a node.
    fn raw(&self, id: &str) -> Option<String> {
        self.state.state_nodes.get(id)?.get("raw_code")?.as_str().map(str::to_string)
    }
}

/// Upstream node → its column (lowercased) → the `reader.column`s that read it, sorted: who
/// reads each (node, column) in either build (a column removed now has readers only in the
/// state's lineage), among the nodes that still exist.
type Readers = HashMap<String, BTreeMap<String, BTreeSet<String>>>;

fn readers(l: &Loaded, lineage: &crate::lineage::Lineage, previous: &Previous) -> Readers {
    let mut edges: Vec<(String, String, String, String)> = vec![];
    for (id, nl) in &lineage.nodes {
        for c in &nl.columns {
            edges.extend(
                c.upstream.iter().map(|u| (id.clone(), c.name.to_string(), u.node.to_string(), u.column.to_string())),
            );
        }
    }
    for (id, nl) in previous.lineage.get("nodes").and_then(|n| n.as_object()).into_iter().flatten() {
        for c in nl.get("columns").and_then(|c| c.as_array()).into_iter().flatten() {
            let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            for u in c.get("upstream").and_then(|u| u.as_array()).into_iter().flatten() {
                let s = |k: &str| u.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                edges.push((id.clone(), name.to_string(), s("node"), s("column")));
            }
        }
    }
    let mut readers: Readers = HashMap::new();
    for (id, column, up_node, up_column) in edges {
        let Some(reader) = l.manifest.nodes.get(&id) else { continue };
        let who = format!("{}.{column}", reader.name);
        readers.entry(up_node).or_default().entry(up_column.to_lowercase()).or_default().insert(who);
    }
    readers
}

/// The new and modified nodes and sources in scope.
fn changed(
    l: &Loaded,
    scope: &BTreeSet<String>,
    compiled: &HashMap<String, String>,
    lineage: &crate::lineage::Lineage,
    previous: &Previous,
) -> Vec<Change> {
    let state = previous.state;
    let mut readers = readers(l, lineage, previous);
    let new_columns = |id: &str| -> Option<Vec<String>> {
        lineage
            .nodes
            .get(id)
            .map(|n| n.columns.iter().map(|c| c.name.to_string()).collect())
            .or_else(|| lineage.base_columns.get(id).cloned())
    };
    // (id, file shown, file under target/compiled, raw code)
    let current: Vec<(String, String, String, String)> = l
        .manifest
        .nodes
        .values()
        .filter(|n| KINDS.contains(&n.resource_type))
        .map(|n| (n.unique_id.clone(), n.target_file_path(), l.manifest.target_rel_path(n), n.raw_code.to_string()))
        .chain(l.manifest.sources.values().map(|s| {
            let file = s.table.file.to_string_lossy().replace('\\', "/");
            (s.unique_id.clone(), file, String::new(), String::new())
        }))
        .filter(|(id, ..)| scope.contains(id))
        .collect();
    let mut changes = vec![];
    for (id, file, compiled_file, raw) in current {
        let is_source = id.starts_with("source.");
        let known = state.state_nodes.contains_key(&id);
        let (kind, old, new_sql) = if !known {
            (Kind::New, None, if is_source { None } else { compiled.get(&id).cloned().or(Some(raw.clone())) })
        } else {
            let mut why: Vec<String> = state.modified_kinds(&id, &raw).into_iter().map(str::to_string).collect();
            // Compiled SQL against compiled SQL when the state has it, else source against source.
            let (old, new) = match (previous.compiled(&compiled_file), compiled.get(&id)) {
                _ if is_source => (None, None),
                (Some(o), Some(n)) => {
                    if o.trim_end() != n.trim_end() {
                        why.push("compiled SQL".into());
                    }
                    (Some(o), Some(n.clone()))
                }
                _ => (previous.raw(&id), Some(raw.clone())),
            };
            if why.is_empty() {
                continue;
            }
            (Kind::Modified(why), old, new)
        };
        let node_readers: BTreeMap<String, Vec<String>> = readers
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(|(c, who)| (c, who.into_iter().collect()))
            .collect();
        let downstream: Vec<String> = l
            .dag
            .walk(&id, false, None)
            .into_iter()
            .filter(|d| l.manifest.nodes.get(d).is_none_or(|n| !n.is_test()))
            .collect();
        changes.push(Change {
            id: id.clone(),
            kind,
            path: file,
            old_sql: old,
            new_sql,
            old_columns: previous.columns(&id),
            new_columns: new_columns(&id),
            readers: node_readers,
            downstream,
        });
    }
    changes
}

/// The state's models, seeds, snapshots, analyses and sources that no longer exist.
fn removed(l: &Loaded, previous: &Previous) -> Vec<Change> {
    let mut changes = vec![];
    for (id, v) in &previous.state.state_nodes {
        let rt = v.get("resource_type").and_then(|r| r.as_str()).unwrap_or_default();
        if !matches!(rt, "model" | "seed" | "snapshot" | "analysis" | "source")
            || l.manifest.nodes.contains_key(id)
            || l.manifest.sources.contains_key(id)
        {
            continue;
        }
        let file = v.get("original_file_path").and_then(|p| p.as_str()).unwrap_or_default().to_string();
        let package = v.get("package_name").and_then(|p| p.as_str()).unwrap_or_default();
        let compiled_file = format!("{package}/{file}");
        changes.push(Change {
            id: id.clone(),
            kind: Kind::Removed,
            old_sql: if rt == "source" { None } else { previous.compiled(&compiled_file).or_else(|| previous.raw(id)) },
            path: file,
            new_sql: None,
            old_columns: previous.columns(id),
            new_columns: None,
            readers: Default::default(),
            downstream: vec![],
        });
    }
    changes
}
