//! Node selection: `--select` / `--exclude` in dbt's grammar: space-separated unions,
//! comma intersections, graph operators (`+m`, `m+`, `2+m`, `m+1`, `@m`), wildcards, and the
//! methods fqn (default), tag, path, file, package, `config.<key>`, resource_type, source.
//! In: `(&Manifest, &Dag, selectors)`. Out: the selected unique ids in dependency order.

use crate::diagnostics::{did_you_mean, Diagnostic, Span};
use crate::graph::Dag;
use crate::parse::{Manifest, ResourceType};
use std::collections::{BTreeMap, BTreeSet};

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
    "source_status",
    "version",
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

/// What `state:` and `result:` compare with: the manifest and run results of another build
/// (`--state DIR`), and the current project's nodes in the same shape.
#[derive(Debug, Default, Clone)]
pub struct Context {
    /// The state's manifest nodes and sources, by unique id.
    pub state_nodes: BTreeMap<String, serde_json::Value>,
    /// The current nodes as manifest.json has them, by unique id.
    pub current_nodes: BTreeMap<String, serde_json::Value>,
    /// Macros whose text differs from the state's (or that are new), by name.
    pub changed_macros: BTreeSet<String>,
    /// The state's run results: unique id → status.
    pub results: BTreeMap<String, String>,
    /// The --state folder, when one was given.
    pub state_dir: Option<std::path::PathBuf>,
    /// `max_loaded_at` by source in the state's sources.json (None: the state has none).
    pub state_freshness: Option<BTreeMap<String, String>>,
    /// `max_loaded_at` by source in this target's sources.json (None: there is none).
    pub current_freshness: Option<BTreeMap<String, String>>,
}

/// Whether `text` calls the macro `name` (as a whole word, e.g. `name(` or `pkg.name(`).
pub fn calls(text: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

impl Context {
    /// Whether a state was given.
    pub fn has_state(&self) -> bool {
        self.state_dir.is_some()
    }

    /// Why the node `id` counts as `state:modified`: the sub-selectors that match it.
    pub fn modified_kinds(&self, id: &str, raw_code: &str) -> Vec<&'static str> {
        MODIFIED_KINDS.iter().copied().filter(|k| self.modified(id, Some(k), raw_code)).collect()
    }

    /// `state:<value>` for the node `id` (whose Jinja source is `raw_code`).
    fn state_matches(&self, id: &str, value: &str, raw_code: &str) -> bool {
        let (what, how) = match value.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (value, None),
        };
        let known = self.state_nodes.contains_key(id);
        match what {
            "new" => !known,
            "old" => known,
            "modified" => !known || self.modified(id, how, raw_code),
            "unmodified" => known && !self.modified(id, how, raw_code),
            _ => false,
        }
    }

    fn modified(&self, id: &str, how: Option<&str>, raw_code: &str) -> bool {
        let (Some(old), Some(new)) = (self.state_nodes.get(id), self.current_nodes.get(id)) else { return false };
        let field = |v: &serde_json::Value, k: &str| v.get(k).cloned().unwrap_or_default();
        if id.starts_with("source.") {
            // A source changes with its relation, freshness fields or declared columns.
            let differs = |keys: &[&str]| keys.iter().any(|k| field(old, k) != field(new, k));
            return match how {
                None => differs(&["relation_name", "loaded_at_field", "freshness", "columns", "description", "config"]),
                Some("relation") => differs(&["relation_name"]),
                Some("configs") => differs(&["loaded_at_field", "freshness", "config"]),
                Some("persisted_descriptions") => differs(&["description", "columns"]),
                Some(_) => false,
            };
        }
        let body = || field(old, "checksum") != field(new, "checksum");
        let configs = || {
            let strip = |v: &serde_json::Value| {
                let mut c = field(v, "config");
                if let Some(o) = c.as_object_mut() {
                    o.remove("contract");
                }
                c
            };
            strip(old) != strip(new)
        };
        // The configured names, not the resolved ones: a state built for another target
        // (production) has other databases and schemas without anything having changed.
        let relation = || {
            let conf = |v: &serde_json::Value, k: &str| field(&field(v, "config"), k);
            ["database", "schema", "alias"].iter().any(|k| conf(old, k) != conf(new, k))
        };
        let descriptions = || {
            let cols = |v: &serde_json::Value| -> Vec<(String, String)> {
                let mut out: Vec<(String, String)> = field(v, "columns")
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, c)| {
                                (k.clone(), c.get("description").and_then(|d| d.as_str()).unwrap_or("").to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.sort();
                out
            };
            // Only descriptions that persist_docs writes to the database count (as in dbt).
            let persist =
                |what: &str| field(&field(&field(new, "config"), "persist_docs"), what).as_bool().unwrap_or(false);
            (persist("relation") && field(old, "description") != field(new, "description"))
                || (persist("columns") && cols(old) != cols(new))
        };
        // dbt's same_contract: unchanged while enforced in neither; changed when it becomes
        // enforced, stops being enforced, or what it covers changes (its checksum: each column's
        // name, type and constraints, the materialization and model constraints).
        let contract = || {
            let c = |v: &serde_json::Value| {
                let top = field(v, "contract");
                if top.is_object() {
                    top
                } else {
                    field(&field(v, "config"), "contract")
                }
            };
            let (o, n) = (c(old), c(new));
            let enforced = |v: &serde_json::Value| v.get("enforced").and_then(|e| e.as_bool()).unwrap_or(false);
            match (enforced(&o), enforced(&n)) {
                (false, false) => false,
                (true, true) => o.get("checksum") != n.get("checksum"),
                _ => true,
            }
        };
        let macros = || self.changed_macros.iter().any(|mac| calls(raw_code, mac));
        match how {
            None => body() || configs() || relation() || descriptions() || contract() || macros(),
            Some("body") => body(),
            Some("configs") => configs(),
            Some("relation") => relation(),
            Some("persisted_descriptions") => descriptions(),
            Some("contract") => contract(),
            Some("macros") => macros(),
            Some(_) => false,
        }
    }
}

/// dbt's breaking changes to an enforced contract between a state's model (`old`) and the
/// current one, both as manifest.json has them: the reasons, in dbt's words (none when the
/// contract was not enforced, or nothing breaking changed).
pub fn breaking_contract_changes(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    use serde_json::Value as J;
    let enforced = |v: &J| v.pointer("/contract/enforced").and_then(J::as_bool).unwrap_or(false);
    if !enforced(old) {
        return vec![];
    }
    if enforced(new) && old.pointer("/contract/checksum") == new.pointer("/contract/checksum") {
        return vec![];
    }
    let enforces =
        |v: &J| matches!(v.pointer("/config/materialized").and_then(J::as_str), Some("table") | Some("incremental"));
    let empty = serde_json::Map::new();
    let old_cols = old.get("columns").and_then(J::as_object).unwrap_or(&empty);
    let new_cols = new.get("columns").and_then(J::as_object).unwrap_or(&empty);
    let list = |v: Option<&J>| v.and_then(J::as_array).cloned().unwrap_or_default();
    let label = |c: &J| {
        c.get("name").and_then(J::as_str).or_else(|| c.get("type").and_then(J::as_str)).unwrap_or_default().to_string()
    };
    let mut removed = vec![];
    let mut retyped = vec![];
    let mut col_constraints = vec![];
    let mut column_constraints_exist = false;
    let mut keys: Vec<&String> = old_cols.keys().collect();
    keys.sort();
    for k in keys {
        let o = &old_cols[k];
        let name = o.get("name").and_then(J::as_str).unwrap_or(k);
        match new_cols.get(k) {
            None => removed.push(name.to_string()),
            Some(n) => {
                let t = |v: &J| v.get("data_type").and_then(J::as_str).map(str::to_string).unwrap_or("None".into());
                if t(o) != t(n) {
                    retyped.push(format!("{name} ({} -> {})", t(o), t(n)));
                }
            }
        }
        let old_constraints = list(o.get("constraints"));
        column_constraints_exist |= !old_constraints.is_empty();
        if let (Some(n), true) = (new_cols.get(k), enforces(old)) {
            let now = list(n.get("constraints"));
            for c in old_constraints.iter().filter(|c| !now.contains(c)) {
                col_constraints.push(format!("'{}' constraint on column {k}", label(c)));
            }
        }
    }
    let mut model_constraints = vec![];
    let (old_mc, new_mc) = (list(old.get("constraints")), list(new.get("constraints")));
    if enforces(old) {
        for c in old_mc.iter().filter(|c| !new_mc.contains(c)) {
            let cols: Vec<String> =
                list(c.get("columns")).iter().filter_map(|x| x.as_str().map(|s| format!("'{s}'"))).collect();
            model_constraints.push(format!("'{}' constraint on columns [{}]", label(c), cols.join(", ")));
        }
    }
    let mut reasons = vec![];
    if !enforced(new) {
        reasons.push("Contract enforcement was removed: Previously, this model had an enforced contract. It is no longer configured to enforce its contract, and this is a breaking change.".to_string());
    }
    let items = |v: &[String]| v.join("\n    - ");
    if !removed.is_empty() {
        reasons.push(format!("Columns were removed: \n    - {}", items(&removed)));
    }
    if !retyped.is_empty() {
        reasons.push(format!("Columns with data_type changes: \n    - {}", items(&retyped)));
    }
    if !col_constraints.is_empty() {
        reasons.push(format!("Enforced column level constraints were removed: \n    - {}", items(&col_constraints)));
    }
    if !model_constraints.is_empty() {
        reasons.push(format!("Enforced model level constraints were removed: \n    - {}", items(&model_constraints)));
    }
    if enforces(old) && !enforces(new) && (!old_mc.is_empty() || column_constraints_exist) {
        let m = |v: &J| v.pointer("/config/materialized").and_then(J::as_str).unwrap_or_default().to_string();
        reasons.push(format!("Materialization changed with enforced constraints: \n    - {} -> {}", m(old), m(new)));
    }
    reasons
}

/// `state:` values, `result:` values and the `state:modified` sub-selectors.
const STATE_VALUES: &[&str] = &["new", "old", "modified", "unmodified"];
const MODIFIED_KINDS: &[&str] = &["body", "configs", "relation", "persisted_descriptions", "macros", "contract"];
const VERSION_VALUES: &[&str] = &["latest", "prerelease", "old", "none"];
const RESULT_VALUES: &[&str] = &["error", "fail", "skip", "success", "warn", "pass"];

/// Unique ids the atom matches before graph operators.
fn matches(m: &Manifest, atom: &Atom, ctx: &Context) -> BTreeSet<String> {
    let v = atom.value.as_str();
    let mut out = BTreeSet::new();
    for n in m.nodes.values() {
        let hit = match atom.method.as_str() {
            "state" => ctx.state_matches(&n.unique_id, v, &n.raw_code),
            "result" => ctx.results.get(&n.unique_id).is_some_and(|st| match v {
                "skip" => st == "skipped",
                "error" => st == "error" || st == "runtime error",
                other => st == other,
            }),
            "fqn" => {
                if v.contains('/') || v.ends_with(".sql") || v.ends_with(".csv") {
                    path_match(&n.original_file_path, v)
                } else {
                    // A versioned model's name selects all its versions; `name.v2` one of them.
                    fqn_match(&n.fqn, v)
                        || (n.version.is_some() && n.fqn.len() >= 2 && glob(v, &n.fqn[n.fqn.len() - 2]))
                }
            }
            "version" => match (&n.version, v) {
                (None, "none") => n.resource_type == crate::parse::ResourceType::Model,
                (Some(ver), "latest") => ver.is_latest(),
                (Some(ver), "prerelease") => version_cmp(&ver.v, &ver.latest).is_gt(),
                (Some(ver), "old") => version_cmp(&ver.v, &ver.latest).is_lt(),
                _ => false,
            },
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
            "state" => ctx.state_matches(&s.unique_id, v, ""),
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
            // dbt's source_status:fresher: loaded since the state's check (or not checked then).
            "source_status" => match (&ctx.current_freshness, &ctx.state_freshness) {
                (Some(now), Some(then)) => {
                    now.get(&s.unique_id).is_some_and(|n| then.get(&s.unique_id).is_none_or(|t| n > t))
                }
                _ => false,
            },
            _ => false,
        };
        if hit {
            out.insert(s.unique_id.clone());
        }
    }
    out
}

/// Versions compare as numbers when both are, else as text (dbt's UnparsedVersion).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn path_match(file: &str, v: &str) -> bool {
    let v = v.trim_end_matches('/');
    file == v || file.starts_with(&format!("{v}/")) || glob(v, file)
}

/// Everything the atom selects, with graph operators applied.
fn select_atom(m: &Manifest, dag: &Dag, atom: &Atom, ctx: &Context) -> BTreeSet<String> {
    let mut base = matches(m, atom, ctx);
    // An exposure is not built; with `+` it selects what it depends on.
    if atom.method == "exposure" {
        let mut parents = BTreeSet::new();
        for e in m.exposures.values().filter(|e| glob(&atom.value, &e.name)) {
            if atom.parents.is_some() || atom.at {
                parents.extend(e.depends_on.iter().cloned());
            }
        }
        let depth = atom.parents.flatten().map(|d| d.saturating_sub(1));
        let mut out = parents.clone();
        if depth != Some(0) {
            for p in &parents {
                out.extend(dag.walk(p, true, depth));
            }
        }
        base = out;
        return base;
    }
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
pub fn evaluate(m: &Manifest, dag: &Dag, sel: &Selector, ctx: &Context) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for inter in &sel.0 {
        let mut acc: Option<BTreeSet<String>> = None;
        for atom in inter {
            let s = select_atom(m, dag, atom, ctx);
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
    select_in(m, dag, select, exclude, &Context::default())
}

/// [`select`] with a state to compare with (`state:`, `result:`).
pub fn select_in(
    m: &Manifest,
    dag: &Dag,
    select: &[String],
    exclude: &[String],
    ctx: &Context,
) -> Result<Vec<String>, Vec<Diagnostic>> {
    let mut diags = vec![];
    let mut parsed = |items: &[String]| -> Vec<Selector> {
        items.iter().filter_map(|s| parse(s).map_err(|d| diags.push(d)).ok()).collect()
    };
    let sel = parsed(select);
    let exc = parsed(exclude);
    for (text, s) in select.iter().zip(&sel).chain(exclude.iter().zip(&exc)) {
        for atom in s.0.iter().flatten() {
            if let Some(d) = check_state_atom(text, atom, ctx) {
                diags.push(d);
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    // No --select: everything (the common case, and at 10,000 models worth not building a set).
    let chosen: Option<BTreeSet<String>> = (!select.is_empty()).then(|| {
        let mut c: BTreeSet<String> = sel.iter().flat_map(|s| evaluate(m, dag, s, ctx)).collect();
        add_tests(m, &mut c);
        c
    });
    let excluded: BTreeSet<String> = exc.iter().flat_map(|s| evaluate(m, dag, s, ctx)).collect();
    Ok(dag
        .order()
        .iter()
        .filter(|id| chosen.as_ref().is_none_or(|c| c.contains(*id)) && !excluded.contains(*id))
        .cloned()
        .collect())
}

/// Selecting a node selects the tests that read it (dbt's eager indirect selection).
fn add_tests(m: &Manifest, chosen: &mut BTreeSet<String>) {
    let tests: Vec<String> = m
        .nodes
        .values()
        .filter(|n| n.is_test() && !chosen.contains(&n.unique_id) && n.depends_on.iter().any(|d| chosen.contains(d)))
        .map(|n| n.unique_id.clone())
        .collect();
    chosen.extend(tests);
}

/// `state:` and `result:` need `--state`, and a value they know.
fn check_state_atom(text: &str, atom: &Atom, ctx: &Context) -> Option<Diagnostic> {
    let start = text.find(&format!("{}:{}", atom.method, atom.value)).unwrap_or(0);
    let value_at = start + atom.method.len() + 1;
    match atom.method.as_str() {
        "state" | "result" | "source_status" if !ctx.has_state() => Some(sel_error(
            text,
            start,
            atom.method.len(),
            format!("`{}:` compares with another build, but no --state was given", atom.method),
            Some("pass --state with the target folder of the build to compare with".into()),
        )),
        "state" => {
            let (what, how) = match atom.value.split_once('.') {
                Some((a, b)) => (a, Some(b)),
                None => (atom.value.as_str(), None),
            };
            if !STATE_VALUES.contains(&what) {
                return Some(sel_error(
                    text,
                    value_at,
                    what.len(),
                    format!("unknown state '{what}'"),
                    did_you_mean(what, STATE_VALUES.iter().copied())
                        .or_else(|| Some(format!("one of: {}", STATE_VALUES.join(", ")))),
                ));
            }
            match how {
                Some(h) if !MODIFIED_KINDS.contains(&h) => Some(sel_error(
                    text,
                    value_at + what.len() + 1,
                    h.len(),
                    format!("unknown state:{what} sub-selector '{h}'"),
                    did_you_mean(h, MODIFIED_KINDS.iter().copied())
                        .or_else(|| Some(format!("one of: {}", MODIFIED_KINDS.join(", ")))),
                )),
                _ => None,
            }
        }
        "version" if !VERSION_VALUES.contains(&atom.value.as_str()) => Some(sel_error(
            text,
            value_at,
            atom.value.len(),
            format!("unknown version selector '{}'", atom.value),
            did_you_mean(&atom.value, VERSION_VALUES.iter().copied())
                .or_else(|| Some(format!("one of: {}", VERSION_VALUES.join(", ")))),
        )),
        "source_status" if atom.value != "fresher" => Some(sel_error(
            text,
            value_at,
            atom.value.len(),
            format!("unknown source_status '{}'", atom.value),
            Some("the source_status method takes `fresher`".into()),
        )),
        "source_status" if ctx.state_freshness.is_none() || ctx.current_freshness.is_none() => {
            let (what, help) = if ctx.state_freshness.is_none() {
                (
                    "the --state folder has no sources.json",
                    "run `strata source freshness` for the build you compare with, and keep its sources.json",
                )
            } else {
                ("the target folder has no sources.json", "run `strata source freshness` first")
            };
            Some(sel_error(
                text,
                start,
                atom.method.len(),
                format!("`source_status:` compares freshness results, but {what}"),
                Some(help.into()),
            ))
        }
        "result" if !RESULT_VALUES.contains(&atom.value.as_str()) => Some(sel_error(
            text,
            value_at,
            atom.value.len(),
            format!("unknown result '{}'", atom.value),
            did_you_mean(&atom.value, RESULT_VALUES.iter().copied())
                .or_else(|| Some(format!("one of: {}", RESULT_VALUES.join(", ")))),
        )),
        _ => None,
    }
}

/// A selector from selectors.yml: a selector string, a method entry, or a union / intersection
/// of them, each of which may `exclude` others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Definition {
    /// `"tag:nightly +orders"`.
    Text(String),
    /// `{method: tag, value: nightly, parents: true, ...}`.
    Atom(Atom),
    /// `union: [...]`.
    Union(Vec<Definition>, Vec<Definition>),
    /// `intersection: [...]`.
    Intersection(Vec<Definition>, Vec<Definition>),
}

/// selectors.yml's selectors by name, and the `default: true` one.
#[derive(Debug, Clone, Default)]
pub struct NamedSelectors {
    /// Definitions by name.
    pub by_name: BTreeMap<String, Definition>,
    /// The selector used when nothing is selected.
    pub default: Option<String>,
}

fn yaml_bool(v: Option<&serde_yaml::Value>) -> bool {
    v.and_then(serde_yaml::Value::as_bool).unwrap_or(false)
}

/// A problem in selectors.yml and where it is.
type DefError = (String, crate::project::yaml::YPath);
/// The included and excluded definitions of a `union` or `intersection`.
type Members = (Vec<Definition>, Vec<Definition>);

/// Read a definition; `Err` names the problem and the YAML path.
fn definition(v: &serde_yaml::Value, yp: crate::project::yaml::YPath) -> Result<Definition, DefError> {
    use serde_yaml::Value as Y;
    match v {
        Y::String(s) => Ok(Definition::Text(s.clone())),
        Y::Mapping(m) => {
            let list = |key: &str| -> Result<Option<Members>, DefError> {
                let Some(items) = m.get(Y::String(key.into())) else { return Ok(None) };
                let Y::Sequence(items) = items else { return Err((format!("`{key}` must be a list"), yp.key(key))) };
                let (mut inc, mut exc) = (vec![], vec![]);
                for (i, item) in items.iter().enumerate() {
                    let ip = yp.key(key).index(i);
                    match item.get("exclude") {
                        Some(Y::Sequence(ex)) => {
                            for (j, e) in ex.iter().enumerate() {
                                exc.push(definition(e, ip.key("exclude").index(j))?);
                            }
                        }
                        Some(_) => return Err(("`exclude` must be a list".into(), ip.key("exclude"))),
                        None => inc.push(definition(item, ip)?),
                    }
                }
                Ok(Some((inc, exc)))
            };
            if let Some((i, e)) = list("union")? {
                return Ok(Definition::Union(i, e));
            }
            if let Some((i, e)) = list("intersection")? {
                return Ok(Definition::Intersection(i, e));
            }
            // `{method: tag, value: x}` or the shorthand `{tag: x}`.
            let (method, value) = match (m.get("method").and_then(Y::as_str), m.get("value")) {
                (Some(me), Some(va)) => (me.to_string(), crate::project::yaml::as_string(va).unwrap_or_default()),
                _ => match m
                    .iter()
                    .find(|(k, _)| k.as_str().is_some_and(|k| METHODS.contains(&k.split('.').next().unwrap_or(""))))
                {
                    Some((k, va)) => (
                        k.as_str().unwrap_or_default().to_string(),
                        crate::project::yaml::as_string(va).unwrap_or_default(),
                    ),
                    None => {
                        return Err(("a selector needs `method` and `value`, `union` or `intersection`".into(), yp))
                    }
                },
            };
            let (method, method_arg) = match method.split_once('.') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (method, None),
            };
            if !METHODS.contains(&method.as_str()) {
                return Err((format!("unknown selector method '{method}'"), yp.key("method")));
            }
            let depth = |k: &str| m.get(k).and_then(Y::as_u64).map(|d| d as usize);
            let parents = if yaml_bool(m.get("parents")) { Some(depth("parents_depth")) } else { None };
            let children = if yaml_bool(m.get("children")) { Some(depth("children_depth")) } else { None };
            Ok(Definition::Atom(Atom {
                at: yaml_bool(m.get("childrens_parents")),
                parents,
                children,
                method,
                method_arg,
                value,
            }))
        }
        _ => Err(("a selector definition is a string or a mapping".into(), yp)),
    }
}

/// Read selectors.yml (if the project has one).
pub fn read_selectors(
    root: &std::path::Path,
    vars: &serde_json::Map<String, serde_json::Value>,
) -> Result<NamedSelectors, Vec<Diagnostic>> {
    use crate::project::yaml::{YPath, YamlDoc};
    let path = root.join("selectors.yml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(NamedSelectors::default()) };
    let mut doc = YamlDoc::parse(std::path::Path::new("selectors.yml"), text).map_err(|d| vec![d])?;
    // dbt's selectors.yml context: env_var() and var() (--vars).
    crate::jinja::render_config_strings(&mut doc.value, vars, None, false)
        .map_err(|e| vec![e.with_span(crate::diagnostics::Span::file_only("selectors.yml"))])?;
    let mut out = NamedSelectors::default();
    let mut diags = vec![];
    let items = doc.value.get("selectors").and_then(serde_yaml::Value::as_sequence).cloned().unwrap_or_default();
    for (i, item) in items.iter().enumerate() {
        let yp = YPath::default().key("selectors").index(i);
        let Some(name) = item.get("name").and_then(serde_yaml::Value::as_str) else {
            diags.push(Diagnostic::error("E0604", "a selector has no name").with_span(doc.span(&yp)));
            continue;
        };
        let Some(def) = item.get("definition") else {
            diags.push(
                Diagnostic::error("E0604", format!("selector '{name}' has no definition"))
                    .with_span(doc.span(&yp.key("name"))),
            );
            continue;
        };
        match definition(def, yp.key("definition")) {
            Ok(d) => {
                if let Definition::Text(t) = &d {
                    if let Err(mut e) = parse(t) {
                        e.span = Some(Box::new(doc.span(&yp.key("definition"))));
                        diags.push(e);
                        continue;
                    }
                }
                if yaml_bool(item.get("default")) {
                    out.default = Some(name.to_string());
                }
                out.by_name.insert(name.to_string(), d);
            }
            Err((msg, at)) => diags.push(
                Diagnostic::error("E0604", format!("selector '{name}': {msg}"))
                    .with_span(doc.span(&at))
                    .with_help("see dbt's selectors.yml: method/value, union, intersection, exclude"),
            ),
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn evaluate_definition(m: &Manifest, dag: &Dag, d: &Definition, ctx: &Context) -> BTreeSet<String> {
    let many = |items: &[Definition]| -> Vec<BTreeSet<String>> {
        items.iter().map(|i| evaluate_definition(m, dag, i, ctx)).collect()
    };
    match d {
        Definition::Text(t) => parse(t).map(|s| evaluate(m, dag, &s, ctx)).unwrap_or_default(),
        Definition::Atom(a) => select_atom(m, dag, a, ctx),
        Definition::Union(inc, exc) => {
            let mut out: BTreeSet<String> = many(inc).into_iter().flatten().collect();
            for e in many(exc) {
                out.retain(|x| !e.contains(x));
            }
            out
        }
        Definition::Intersection(inc, exc) => {
            let mut sets = many(inc).into_iter();
            let mut out = sets.next().unwrap_or_default();
            for s in sets {
                out.retain(|x| s.contains(x));
            }
            for e in many(exc) {
                out.retain(|x| !e.contains(x));
            }
            out
        }
    }
}

/// `--selector NAME`: the named selector's nodes (with their tests), minus `exclude`.
pub fn select_named(
    m: &Manifest,
    dag: &Dag,
    named: &NamedSelectors,
    name: &str,
    exclude: &[String],
    ctx: &Context,
) -> Result<Vec<String>, Vec<Diagnostic>> {
    let Some(def) = named.by_name.get(name) else {
        return Err(vec![Diagnostic::error("E0603", format!("no selector named '{name}' in selectors.yml"))
            .with_span(Span {
                file: "--selector".into(),
                line: 1,
                col: 1,
                len: name.chars().count().max(1),
                source_line: Some(name.to_string()),
            })
            .with_help(did_you_mean(name, named.by_name.keys().map(String::as_str)).unwrap_or_else(|| {
                format!("selectors.yml defines: {}", named.by_name.keys().cloned().collect::<Vec<_>>().join(", "))
            }))]);
    };
    let mut chosen = evaluate_definition(m, dag, def, ctx);
    add_tests(m, &mut chosen);
    let excluded: BTreeSet<String> = match select_in(m, dag, exclude, &[], ctx) {
        Ok(ids) if !exclude.is_empty() => ids.into_iter().collect(),
        Ok(_) => BTreeSet::new(),
        Err(d) => return Err(d),
    };
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

    /// `[@][p+]method[.arg]:value[+c]` with `*` for unbounded depths, atoms joined by `,` and
    /// terms by ` | `.
    fn show(s: &Selector) -> String {
        let depth = |d: Option<Option<usize>>, before: bool| match d {
            None => String::new(),
            Some(None) => "+".to_string(),
            Some(Some(n)) if before => format!("{n}+"),
            Some(Some(n)) => format!("+{n}"),
        };
        s.0.iter()
            .map(|inter| {
                inter
                    .iter()
                    .map(|a| {
                        let arg = a.method_arg.as_ref().map(|x| format!(".{x}")).unwrap_or_default();
                        let (p, c) = (depth(a.parents, true), depth(a.children, false));
                        format!("{}{p}{}{arg}:{}{c}", if a.at { "@" } else { "" }, a.method, a.value)
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn selector_grammar_table() {
        let table = [
            ("orders", "fqn:orders"),
            ("+orders", "+fqn:orders"),
            ("orders+", "fqn:orders+"),
            ("2+orders", "2+fqn:orders"),
            ("orders+3", "fqn:orders+3"),
            ("1+orders+1", "1+fqn:orders+1"),
            ("@orders", "@fqn:orders"),
            ("stg_*", "fqn:stg_*"),
            ("shop.staging.*", "fqn:shop.staging.*"),
            ("a b", "fqn:a | fqn:b"),
            ("a,b", "fqn:a,fqn:b"),
            ("tag:nightly,+orders other", "tag:nightly,+fqn:orders | fqn:other"),
            ("config.materialized:incremental", "config.materialized:incremental"),
            ("path:models/staging", "path:models/staging"),
            ("file:orders.sql", "file:orders.sql"),
            ("package:dbt_utils", "package:dbt_utils"),
            ("resource_type:seed", "resource_type:seed"),
            ("test_type:unit", "test_type:unit"),
            ("test_name:not_null", "test_name:not_null"),
            ("source:raw.orders+", "source:raw.orders+"),
            ("exposure:weekly+", "exposure:weekly+"),
            ("+exposure:weekly", "+exposure:weekly"),
            ("state:modified.body+", "state:modified.body+"),
            ("result:error+", "result:error+"),
            ("  a   b  ", "fqn:a | fqn:b"),
        ];
        for (text, want) in table {
            let got = parse(text).unwrap_or_else(|d| panic!("{text}: {}", d.message));
            assert_eq!(show(&got), want, "{text}");
        }
    }

    #[test]
    fn bad_selector_table() {
        // (selector, caret column, caret width, message)
        let table = [
            ("tga:x", 1, 3, "unknown selector method 'tga'"),
            ("orders tga:x", 8, 3, "unknown selector method 'tga'"),
            ("a,,b", 3, 1, "empty selector between commas"),
            ("tag:", 5, 1, "selector has no value"),
            ("@+orders", 1, 8, "`@` cannot be combined with `+`"),
            ("config:table", 1, 12, "`config` needs a key"),
            ("a,statee:new", 3, 6, "unknown selector method 'statee'"),
        ];
        for (text, col, len, msg) in table {
            let d = parse(text).err().unwrap_or_else(|| panic!("{text} parsed"));
            let span = d.span.as_ref().unwrap();
            assert_eq!((span.col, span.len), (col, len), "{text}");
            assert!(d.message.contains(msg), "{text}: {}", d.message);
        }
        // state:/result: values are checked against what a --state provides.
        let ctx = Context { state_dir: Some(Default::default()), ..Default::default() };
        let check = |text: &str| check_state_atom(text, &parse(text).unwrap().0[0][0], &ctx);
        let d = check("state:modifed").unwrap();
        assert_eq!((d.span.as_ref().unwrap().col, d.help.as_deref()), (7, Some("did you mean 'modified'?")));
        let d = check("result:passed").unwrap();
        assert_eq!(d.span.as_ref().unwrap().col, 8);
        assert!(check("state:modified.contract").is_none());
        let none = Context::default();
        let d = check_state_atom("state:new", &parse("state:new").unwrap().0[0][0], &none).unwrap();
        assert!(d.message.contains("no --state was given"));
    }

    #[test]
    fn globbing() {
        assert!(glob("stg_*", "stg_orders"));
        assert!(!glob("stg_*", "int_orders"));
        assert!(fqn_match(&["shop".into(), "staging".into(), "stg_orders".into()], "staging"));
        assert!(fqn_match(&["shop".into(), "staging".into(), "stg_orders".into()], "shop.staging.*"));
    }
}
