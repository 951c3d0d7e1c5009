//! `strata lineage`: load -> compile and analyse -> print a model's or a column's lineage
//! (text, JSON or dot), or `--check` it.

use super::context::{compile_and_analyse, connect, node_ids, Loaded};
use crate::diagnostics::Diagnostic;
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::{Output, Settings};
use serde_json::json;

/// `lineage [model[.column]] [--upstream|--downstream] [--depth n] [--output text|json|dot]
/// [--check]`: table- or column-level lineage from the static analysis of every model.
pub(super) fn lineage(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    target: &Option<String>,
    (upstream, downstream): (bool, bool),
    depth: Option<usize>,
    check: bool,
) -> i32 {
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let ids = node_ids(l, &[ResourceType::Model]);
    let (_, lineage) = match compile_and_analyse(l, db.as_ref(), conn.as_ref(), &ids, true) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d);
            return 2;
        }
    };
    if check {
        let broken: Vec<Diagnostic> =
            lineage.diagnostics.iter().filter(|d| matches!(d.code, "W1001" | "W1002")).cloned().collect();
        if !broken.is_empty() {
            printer.diagnostics(&broken);
            printer.info(&format!(
                "lineage check: {} reference(s) to columns or relations that do not exist",
                broken.len()
            ));
            return 1;
        }
        if target.is_none() {
            printer.info("lineage check: every column reference resolves");
            return 0;
        }
    }
    let Some(target) = target else {
        printer.diagnostics(&[Diagnostic::error("E1204", "lineage needs a model or model.column")
            .with_help("e.g. `strata lineage fct_orders.amount --upstream`")]);
        return 2;
    };
    let (node, column) = match find(l, target) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&[d]);
            return 2;
        }
    };
    let edges = edges(l, &lineage, (&node, column.as_deref()), (upstream, downstream), depth);
    print(settings.output, &node, column.as_deref(), &edges);
    0
}

/// `name` of a model, seed or source (`source_name.table`), or that followed by `.column`.
fn find(l: &Loaded, target: &str) -> Result<(String, Option<String>), Diagnostic> {
    let find = |name: &str| -> Option<String> {
        l.manifest.nodes.values().find(|n| n.name == name && !n.is_test()).map(|n| n.unique_id.clone()).or_else(|| {
            l.manifest
                .sources
                .values()
                .find(|s| format!("{}.{}", s.table.source_name, s.table.name) == name)
                .map(|s| s.unique_id.clone())
        })
    };
    match find(target) {
        Some(id) => Ok((id, None)),
        None => match target.rsplit_once('.').and_then(|(n, c)| find(n).map(|id| (id, c.to_string()))) {
            Some((id, c)) => Ok((id, Some(c))),
            None => {
                let names: Vec<&str> = l.manifest.nodes.values().map(|n| n.name.as_str()).collect();
                Err(Diagnostic::error("E1205", format!("no model, seed or source named '{target}'"))
                    .with_opt_help(crate::diagnostics::did_you_mean(target, names)))
            }
        },
    }
}

/// An edge: (from node, from column, to node, to column, kind); columns empty at table level.
type Edge = (String, String, String, String, String);

/// The edges up and/or down from `(node, column)` (both when neither is asked), `depth` steps
/// at most. Column lineage does not continue through filter and join references.
fn edges(
    l: &Loaded,
    lineage: &crate::lineage::Lineage,
    (node, column): (&str, Option<&str>),
    (upstream, downstream): (bool, bool),
    depth: Option<usize>,
) -> Vec<Edge> {
    let both = !upstream && !downstream;
    let max = depth.unwrap_or(usize::MAX);
    let mut edges: Vec<Edge> = vec![];
    let mut seen = std::collections::BTreeSet::new();
    let mut walk = |start: (String, String), up: bool| {
        let mut frontier = vec![start];
        for _ in 0..max {
            let mut next = vec![];
            for (n, c) in &frontier {
                let steps: Vec<(String, String, String)> = match (&column, up) {
                    (Some(_), true) => lineage
                        .nodes
                        .get(n)
                        .and_then(|nl| nl.columns.iter().find(|x| x.name.eq_ignore_ascii_case(c)))
                        .map(|x| {
                            x.upstream
                                .iter()
                                .map(|u| {
                                    (u.node.to_string(), u.column.to_string(), format!("{:?}", u.kind).to_lowercase())
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    (Some(_), false) => lineage
                        .downstream_of(n, c)
                        .into_iter()
                        .map(|(a, b, k)| (a, b, format!("{k:?}").to_lowercase()))
                        .collect(),
                    (None, true) => l.dag.parents(n).into_iter().map(|p| (p, String::new(), String::new())).collect(),
                    (None, false) => l
                        .dag
                        .children(n)
                        .into_iter()
                        .filter(|c| !l.manifest.nodes.get(c).is_some_and(|x| x.is_test()))
                        .map(|c| (c, String::new(), String::new()))
                        .collect(),
                };
                for (m2, c2, kind) in steps {
                    let e = if up {
                        (m2.clone(), c2.clone(), n.clone(), c.clone(), kind.clone())
                    } else {
                        (n.clone(), c.clone(), m2.clone(), c2.clone(), kind.clone())
                    };
                    if seen.insert(e.clone()) {
                        edges.push(e);
                        if column.is_none() || (kind != "filter" && kind != "join") {
                            next.push((m2, c2));
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
    };
    let start = (node.to_string(), column.unwrap_or_default().to_string());
    if upstream || both {
        walk(start.clone(), true);
    }
    if downstream || both {
        walk(start, false);
    }
    edges
}

/// The edges as text (arrows from the asked node), JSON or Graphviz dot, on stdout.
fn print(output: Output, node: &str, column: Option<&str>, edges: &[Edge]) {
    let label = |n: &str, c: &str| if c.is_empty() { n.to_string() } else { format!("{n}.{c}") };
    match output {
        Output::Json => {
            let v = json!({
                "node": node, "column": column,
                "edges": edges.iter().map(|(a, b, c, d, k)| json!({"from": {"node": a, "column": b}, "to": {"node": c, "column": d}, "kind": k})).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Output::Dot => {
            println!("digraph lineage {{\n  rankdir=LR;");
            for (a, b, c, d, k) in edges {
                let attr = if k.is_empty() { String::new() } else { format!(" [label=\"{k}\"]") };
                println!("  \"{}\" -> \"{}\"{attr};", label(a, b), label(c, d));
            }
            println!("}}");
        }
        _ => {
            let me = label(node, column.unwrap_or(""));
            println!("{me}");
            for (a, b, c, d, k) in edges {
                let kind = if k.is_empty() { String::new() } else { format!(" ({k})") };
                if c == node && column.is_none_or(|x| x.eq_ignore_ascii_case(d)) {
                    println!("  <- {}{kind}", label(a, b));
                } else if a == node && column.is_none_or(|x| x.eq_ignore_ascii_case(b)) {
                    println!("  -> {}{kind}", label(c, d));
                } else {
                    println!("     {} -> {}{kind}", label(a, b), label(c, d));
                }
            }
        }
    }
}
