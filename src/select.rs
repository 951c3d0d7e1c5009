//! Node selection: `--select` / `--exclude` in dbt's grammar: space-separated unions,
//! comma intersections, graph operators (`+m`, `m+`, `2+m`, `m+1`, `@m`), wildcards, and the
//! methods fqn (default), tag, path, file, package, config.<key>, resource_type, source.
//! In: `(&Manifest, &Dag, selectors)`. Out: the selected unique ids in dependency order.

use crate::diagnostics::{did_you_mean, Diagnostic, Span};
use crate::graph::Dag;
use crate::parse::{Manifest, ResourceType};
use std::collections::BTreeSet;

const METHODS: &[&str] = &[
    "fqn",
    "tag",
    "path",
    "file",
    "package",
    "config",
    "resource_type",
    "source",
    "test_type",
    "test_name",
    "state",
    "result",
    "exposure",
];

/// One atom of a selector: `2+tag:nightly+1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atom {
    /// `@` prefix: descendants and all their ancestors.
    pub at: bool,
    /// Ancestors to add: None for none, Some(None) for all, Some(Some(n)) for n levels.
    pub parents: Option<Option<usize>>,
    /// Descendants to add, like `parents`.
    pub children: Option<Option<usize>>,
    /// Method (`fqn` when none is written).
    pub method: String,
    /// Method argument (`config.materialized` → `materialized`).
    pub method_arg: Option<String>,
    /// Value to match.
    pub value: String,
}

/// A parsed selector: union of intersections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector(pub Vec<Vec<Atom>>);

fn sel_error(text: &str, start: usize, len: usize, msg: String, help: Option<String>) -> Diagnostic {
    Diagnostic::error("E0601", msg)
        .with_span(Span {
            file: "--select".into(),
            line: 1,
            col: text[..start].chars().count() + 1,
            len: len.max(1),
            source_line: Some(text.to_string()),
        })
        .with_opt_help(help)
}

/// Parse one selector string (several may be given; each is a union of its space-separated terms).
pub fn parse(text: &str) -> Result<Selector, Diagnostic> {
    let mut unions = vec![];
    let mut offset = 0;
    for term in text.split(' ') {
        let term_start = offset;
        offset += term.len() + 1;
        if term.is_empty() {
            continue;
        }
        let mut inter = vec![];
        let mut aoff = term_start;
        for atom in term.split(',') {
            let astart = aoff;
            aoff += atom.len() + 1;
            if atom.is_empty() {
                return Err(sel_error(
                    text,
                    astart,
                    1,
                    "empty selector between commas".into(),
                    Some("remove the extra comma".into()),
                ));
            }
            inter.push(parse_atom(text, atom, astart)?);
        }
        unions.push(inter);
    }
    Ok(Selector(unions))
}

fn parse_depth(s: &str) -> Result<Option<usize>, ()> {
    if s.is_empty() {
        Ok(None)
    } else {
        s.parse::<usize>().map(Some).map_err(|_| ())
    }
}

fn parse_atom(text: &str, atom: &str, start: usize) -> Result<Atom, Diagnostic> {
    let mut body = atom;
    let mut at = false;
    if let Some(rest) = body.strip_prefix('@') {
        at = true;
        body = rest;
    }
    let mut parents = None;
    if let Some(i) = body.find('+') {
        let head = &body[..i];
        if head.chars().all(|c| c.is_ascii_digit()) {
            parents = Some(parse_depth(head).map_err(|_| sel_error(text, start, i, "bad depth".into(), None))?);
            body = &body[i + 1..];
        }
    }
    let mut children = None;
    if let Some(i) = body.rfind('+') {
        let tail = &body[i + 1..];
        if tail.chars().all(|c| c.is_ascii_digit()) {
            children =
                Some(parse_depth(tail).map_err(|_| sel_error(text, start, atom.len(), "bad depth".into(), None))?);
            body = &body[..i];
        }
    }
    if at && (parents.is_some() || children.is_some()) {
        return Err(sel_error(
            text,
            start,
            atom.len(),
            "`@` cannot be combined with `+`".into(),
            Some("use either @model or +model+".into()),
        ));
    }
    let (method, method_arg, value) = match body.split_once(':') {
        Some((m, v)) => {
            let (m, arg) = match m.split_once('.') {
                Some((m, a)) => (m.to_string(), Some(a.to_string())),
                None => (m.to_string(), None),
            };
            if !METHODS.contains(&m.as_str()) {
                let col = start + atom.find(&m).unwrap_or(0);
                return Err(sel_error(
                    text,
                    col,
                    m.len(),
                    format!("unknown selector method '{m}'"),
                    did_you_mean(&m, METHODS.iter().copied()),
                ));
            }
            if m == "config" && arg.is_none() {
                return Err(sel_error(
                    text,
                    start,
                    body.len(),
                    "`config` needs a key, as in config.materialized:table".into(),
                    None,
                ));
            }
            (m, arg, v.to_string())
        }
        None => ("fqn".to_string(), None, body.to_string()),
    };
    if value.is_empty() {
        let col = start + atom.len();
        return Err(sel_error(
            text,
            col.min(text.len()),
            1,
            "selector has no value".into(),
            Some("write a name after the method, as in tag:nightly".into()),
        ));
    }
    Ok(Atom { at, parents, children, method, method_arg, value })
}

/// Shell-style wildcard match (`*`, `?`).
pub fn glob(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn fqn_match(fqn: &[String], value: &str) -> bool {
    if fqn.last().is_some_and(|n| glob(value, n)) {
        return true;
    }
    let parts: Vec<&str> = value.split('.').collect();
    let try_from = |f: &[String]| f.len() >= parts.len() && parts.iter().zip(f).all(|(p, x)| glob(p, x));
    try_from(fqn) || (fqn.len() > 1 && try_from(&fqn[1..]))
}

/// Unique ids the atom matches before graph operators.
fn matches(m: &Manifest, atom: &Atom) -> BTreeSet<String> {
    let v = atom.value.as_str();
    let mut out = BTreeSet::new();
    for n in m.nodes.values() {
        let hit = match atom.method.as_str() {
            "fqn" => {
                if v.contains('/') || v.ends_with(".sql") || v.ends_with(".csv") {
                    path_match(&n.original_file_path, v)
                } else {
                    fqn_match(&n.fqn, v)
                }
            }
            "tag" => n.config.tags().iter().any(|t| glob(v, t)),
            "path" => path_match(&n.original_file_path, v),
            "file" => std::path::Path::new(&n.original_file_path).file_name().is_some_and(|f| {
                let f = f.to_string_lossy();
                glob(v, &f) || f.rsplit_once('.').is_some_and(|(stem, _)| glob(v, stem))
            }),
            "package" => glob(v, &n.package_name),
            "resource_type" => {
                n.resource_type.as_str() == v || (v == "data_test" && n.resource_type.as_str() == "test")
            }
            "test_type" => match v {
                "generic" => n.test.as_ref().is_some_and(|t| t.metadata.is_some()),
                "singular" => {
                    n.resource_type == ResourceType::Test && n.test.as_ref().is_some_and(|t| t.metadata.is_none())
                }
                "unit" => n.resource_type == ResourceType::UnitTest,
                "data" => n.resource_type == ResourceType::Test,
                _ => false,
            },
            "test_name" => n.test.as_ref().and_then(|t| t.metadata.as_ref()).is_some_and(|md| glob(v, &md.name)),
            "config" => {
                let key = atom.method_arg.clone().unwrap_or_default();
                match n.config.get(&key) {
                    Some(serde_json::Value::String(s)) => glob(v, s),
                    Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str().is_some_and(|s| glob(v, s))),
                    Some(other) => v.parse::<serde_json::Value>().is_ok_and(|p| p == *other),
                    None => key == "materialized" && n.materialized() == v,
                }
            }
            _ => false,
        };
        if hit {
            out.insert(n.unique_id.clone());
        }
    }
    for s in m.sources.values() {
        let hit = match atom.method.as_str() {
            "source" => {
                let parts: Vec<&str> = v.split('.').collect();
                match parts.as_slice() {
                    [src] => glob(src, &s.table.source_name),
                    [src, tbl] => glob(src, &s.table.source_name) && glob(tbl, &s.table.name),
                    _ => false,
                }
            }
            "resource_type" => v == "source",
            "tag" => s.table.tags.iter().any(|t| glob(v, t)),
            "package" => glob(v, &s.fqn[0]),
            "path" => path_match(&s.table.file.to_string_lossy(), v),
            "fqn" => fqn_match(&s.fqn, v),
            _ => false,
        };
        if hit {
            out.insert(s.unique_id.clone());
        }
    }
    out
}

fn path_match(file: &str, v: &str) -> bool {
    let v = v.trim_end_matches('/');
    file == v || file.starts_with(&format!("{v}/")) || glob(v, file)
}

/// Everything the atom selects, with graph operators applied.
fn select_atom(m: &Manifest, dag: &Dag, atom: &Atom) -> BTreeSet<String> {
    let base = matches(m, atom);
    let mut out = base.clone();
    for id in &base {
        if let Some(depth) = atom.parents {
            out.extend(dag.walk(id, true, depth));
        }
        if let Some(depth) = atom.children {
            out.extend(dag.walk(id, false, depth));
        }
        if atom.at {
            let down = dag.walk(id, false, None);
            for d in &down {
                out.extend(dag.walk(d, true, None));
            }
            out.extend(down);
        }
    }
    out
}

/// Evaluate a selector.
pub fn evaluate(m: &Manifest, dag: &Dag, sel: &Selector) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for inter in &sel.0 {
        let mut acc: Option<BTreeSet<String>> = None;
        for atom in inter {
            let s = select_atom(m, dag, atom);
            acc = Some(match acc {
                None => s,
                Some(a) => a.intersection(&s).cloned().collect(),
            });
        }
        out.extend(acc.unwrap_or_default());
    }
    out
}

/// Apply --select and --exclude; `None` selects everything. Returns ids in dependency order.
pub fn select(m: &Manifest, dag: &Dag, select: &[String], exclude: &[String]) -> Result<Vec<String>, Vec<Diagnostic>> {
    let mut diags = vec![];
    let mut parsed = |items: &[String]| -> Vec<Selector> {
        items.iter().filter_map(|s| parse(s).map_err(|d| diags.push(d)).ok()).collect()
    };
    let sel = parsed(select);
    let exc = parsed(exclude);
    if !diags.is_empty() {
        return Err(diags);
    }
    let chosen: BTreeSet<String> = if select.is_empty() {
        dag.order().iter().cloned().collect()
    } else {
        let mut c: BTreeSet<String> = sel.iter().flat_map(|s| evaluate(m, dag, s)).collect();
        // Selecting a node selects the tests that read it (dbt's eager indirect selection).
        let tests: Vec<String> = m
            .nodes
            .values()
            .filter(|n| n.is_test() && !c.contains(&n.unique_id) && n.depends_on.iter().any(|d| c.contains(d)))
            .map(|n| n.unique_id.clone())
            .collect();
        c.extend(tests);
        c
    };
    let excluded: BTreeSet<String> = exc.iter().flat_map(|s| evaluate(m, dag, s)).collect();
    Ok(dag.order().iter().filter(|id| chosen.contains(*id) && !excluded.contains(*id)).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graph_operators_and_methods() {
        let s = parse("2+tag:nightly+1 @stg_orders,config.materialized:table").unwrap();
        assert_eq!(s.0.len(), 2);
        let a = &s.0[0][0];
        assert_eq!(
            (a.parents, a.children, a.method.as_str(), a.value.as_str()),
            (Some(Some(2)), Some(Some(1)), "tag", "nightly")
        );
        assert!(s.0[1][0].at);
        assert_eq!(s.0[1][1].method_arg.as_deref(), Some("materialized"));
        let plain = parse("+orders+").unwrap();
        assert_eq!((plain.0[0][0].parents, plain.0[0][0].children), (Some(None), Some(None)));
    }

    #[test]
    fn bad_method_points_at_it() {
        let d = parse("orders tga:nightly").unwrap_err();
        let span = d.span.unwrap();
        assert_eq!((span.col, span.len), (8, 3));
        assert_eq!(d.help.as_deref(), Some("did you mean 'tag'?"));
    }

    #[test]
    fn globbing() {
        assert!(glob("stg_*", "stg_orders"));
        assert!(!glob("stg_*", "int_orders"));
        assert!(fqn_match(&["shop".into(), "staging".into(), "stg_orders".into()], "staging"));
        assert!(fqn_match(&["shop".into(), "staging".into(), "stg_orders".into()], "shop.staging.*"));
    }
}
