//! `strata diff`: what would change against the --state build: load -> select -> compile and
//! analyse both sides -> compare relations and columns -> print (exit 1 with --exit-code when
//! something changes).

use super::context::{compile_and_analyse, connect, selected, state_error, Loaded};
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::Settings;
use std::collections::HashMap;

/// `strata diff`: new, modified and removed nodes against the --state build, with their compiled
/// SQL diffs, output-column changes and what is downstream. `--exit-code`: exit 1 on any change.
pub(super) fn diff(settings: &Settings, l: &Loaded, printer: &Printer, exit_code: bool) -> i32 {
    use crate::diff::{Change, Kind};
    let state = &l.state;
    let Some(dir) = state.state_dir.as_ref() else {
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
    let kinds = [ResourceType::Model, ResourceType::Snapshot, ResourceType::Analysis, ResourceType::Seed];
    let scope: std::collections::BTreeSet<String> = if settings.select.is_empty() && settings.selector.is_none() {
        l.manifest.nodes.keys().chain(l.manifest.sources.keys()).cloned().collect()
    } else {
        match selected(settings, l, state, printer) {
            Ok(ids) => ids.into_iter().collect(),
            Err(c) => return c,
        }
    };
    let sql_ids: Vec<String> = l
        .manifest
        .nodes
        .values()
        .filter(|n| n.resource_type != ResourceType::Seed && kinds.contains(&n.resource_type))
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
    // The state's columns, from its lineage.json.
    let old_lineage: serde_json::Value = std::fs::read_to_string(dir.join("lineage.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let old_columns = |id: &str| -> Option<Vec<String>> {
        let names = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|c| c.get("name").or(Some(c)).and_then(|n| n.as_str()).map(str::to_string))
                    .collect()
            })
        };
        old_lineage
            .pointer(&format!("/nodes/{}/columns", id.replace('~', "~0").replace('/', "~1")))
            .and_then(names)
            .or_else(|| {
                old_lineage
                    .pointer(&format!("/base_columns/{}", id.replace('~', "~0").replace('/', "~1")))
                    .and_then(names)
            })
    };
    let new_columns = |id: &str| -> Option<Vec<String>> {
        lineage
            .nodes
            .get(id)
            .map(|n| n.columns.iter().map(|c| c.name.clone()).collect())
            .or_else(|| lineage.base_columns.get(id).cloned())
    };
    // Who reads each (node, column), in either build (a column removed now has readers only in
    // the state's lineage), among the nodes that still exist.
    // Upstream node → its column (lowercased) → the `reader.column`s that read it, sorted.
    let mut readers: HashMap<String, std::collections::BTreeMap<String, std::collections::BTreeSet<String>>> =
        HashMap::new();
    let mut edges: Vec<(String, String, String, String)> = vec![];
    for (id, nl) in &lineage.nodes {
        for c in &nl.columns {
            edges.extend(c.upstream.iter().map(|u| (id.clone(), c.name.clone(), u.node.clone(), u.column.clone())));
        }
    }
    for (id, nl) in old_lineage.get("nodes").and_then(|n| n.as_object()).into_iter().flatten() {
        for c in nl.get("columns").and_then(|c| c.as_array()).into_iter().flatten() {
            let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            for u in c.get("upstream").and_then(|u| u.as_array()).into_iter().flatten() {
                let s = |k: &str| u.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                edges.push((id.clone(), name.to_string(), s("node"), s("column")));
            }
        }
    }
    for (id, column, up_node, up_column) in edges {
        let Some(reader) = l.manifest.nodes.get(&id) else { continue };
        let who = format!("{}.{column}", reader.name);
        readers.entry(up_node).or_default().entry(up_column.to_lowercase()).or_default().insert(who);
    }
    // The state's compiled SQL, its relation names replaced by this target's (a production
    // state names production's relations); None when it has none (then sources are compared).
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
    let old_compiled = |file: &str| -> Option<String> {
        let text = std::fs::read_to_string(dir.join("compiled").join(file)).ok()?;
        Some(renames.iter().fold(text, |t, (theirs, ours)| t.replace(theirs.as_str(), ours)))
    };
    let old_raw =
        |id: &str| -> Option<String> { state.state_nodes.get(id)?.get("raw_code")?.as_str().map(str::to_string) };
    let mut changes = vec![];
    // (id, file shown, file under target/compiled, raw code)
    let current: Vec<(String, String, String, String)> = l
        .manifest
        .nodes
        .values()
        .filter(|n| kinds.contains(&n.resource_type))
        .map(|n| (n.unique_id.clone(), n.target_file_path(), l.manifest.target_rel_path(n), n.raw_code.clone()))
        .chain(l.manifest.sources.values().map(|s| {
            let file = s.table.file.to_string_lossy().replace('\\', "/");
            (s.unique_id.clone(), file, String::new(), String::new())
        }))
        .filter(|(id, ..)| scope.contains(id))
        .collect();
    for (id, file, compiled_file, raw) in current {
        let is_source = id.starts_with("source.");
        let known = state.state_nodes.contains_key(&id);
        let (kind, old, new_sql) = if !known {
            (Kind::New, None, if is_source { None } else { compiled.get(&id).cloned().or(Some(raw.clone())) })
        } else {
            let mut why: Vec<String> = state.modified_kinds(&id, &raw).into_iter().map(str::to_string).collect();
            // Compiled SQL against compiled SQL when the state has it, else source against source.
            let (old, new) = match (old_compiled(&compiled_file), compiled.get(&id)) {
                _ if is_source => (None, None),
                (Some(o), Some(n)) => {
                    if o.trim_end() != n.trim_end() {
                        why.push("compiled SQL".into());
                    }
                    (Some(o), Some(n.clone()))
                }
                _ => (old_raw(&id), Some(raw.clone())),
            };
            if why.is_empty() {
                continue;
            }
            (Kind::Modified(why), old, new)
        };
        let node_readers: std::collections::BTreeMap<String, Vec<String>> = readers
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
            old_columns: old_columns(&id),
            new_columns: new_columns(&id),
            readers: node_readers,
            downstream,
        });
    }
    if settings.select.is_empty() && settings.selector.is_none() {
        for (id, v) in &state.state_nodes {
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
                old_sql: if rt == "source" { None } else { old_compiled(&compiled_file).or_else(|| old_raw(id)) },
                path: file,
                new_sql: None,
                old_columns: old_columns(id),
                new_columns: None,
                readers: Default::default(),
                downstream: vec![],
            });
        }
    }
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    print!("{}", crate::diff::render(&changes));
    i32::from(exit_code && !changes.is_empty())
}
