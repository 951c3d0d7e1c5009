//! Property YAML (`models:`, `sources:`, `seeds:`, `analyses:`, `snapshots:`, `macros:`,
//! `exposures:`, `unit_tests:`): parsed into patches that later apply to nodes. Unknown keys on
//! models, columns, sources and seeds are errors with a did-you-mean, as dbt rejects them.

use super::config::{canonical_key, Config, KNOWN_CONFIG_KEYS};
use super::yaml::{as_string, key_string, string_list, to_json, YPath, YamlDoc};
use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use rayon::prelude::*;
use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::BTreeMap;
use std::path::PathBuf;

const TOP_KEYS: &[&str] = &[
    "version",
    "models",
    "sources",
    "seeds",
    "snapshots",
    "analyses",
    "macros",
    "exposures",
    "unit_tests",
    "metrics",
    "semantic_models",
    "saved_queries",
    "groups",
    "data_tests",
];
const NODE_KEYS: &[&str] = &[
    "name",
    "description",
    "config",
    "columns",
    "tests",
    "data_tests",
    "docs",
    "meta",
    "tags",
    "access",
    "group",
    "latest_version",
    "versions",
    "constraints",
    "deprecation_date",
    "time_spine",
    "quote_columns",
    "column_types",
];
/// Snapshots declared in YAML also name the relation they snapshot.
const SNAPSHOT_KEYS: &[&str] =
    &["name", "description", "config", "columns", "tests", "data_tests", "docs", "meta", "tags", "relation"];
const COLUMN_KEYS: &[&str] = &[
    "name",
    "description",
    "data_type",
    "tests",
    "data_tests",
    "meta",
    "tags",
    "quote",
    "constraints",
    "policy_tags",
    "granularity",
    "docs",
    "config",
];
const SOURCE_KEYS: &[&str] = &[
    "name",
    "description",
    "database",
    "schema",
    "loader",
    "loaded_at_field",
    "loaded_at_query",
    "tables",
    "meta",
    "tags",
    "config",
    "freshness",
    "quoting",
    "overrides",
    "tests",
    "data_tests",
];
const SOURCE_TABLE_KEYS: &[&str] = &[
    "name",
    "identifier",
    "description",
    "columns",
    "loaded_at_field",
    "loaded_at_query",
    "freshness",
    "meta",
    "tags",
    "quoting",
    "external",
    "tests",
    "data_tests",
    "config",
];
const MACRO_KEYS: &[&str] = &["name", "description", "arguments", "docs", "meta", "config"];

/// One entry of a `tests:` / `data_tests:` list, with where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDecl {
    /// The entry as written (`unique`, or `{accepted_values: {...}}`).
    pub value: Json,
    /// Where it is, in the property file.
    pub ypath: YPath,
}

/// A column as declared in property YAML.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Description (may contain `{{ doc() }}`).
    pub description: String,
    /// Declared type.
    pub data_type: Option<String>,
    /// meta mapping.
    pub meta: Json,
    /// tags.
    pub tags: Vec<String>,
    /// Tests as written (`tests:` and `data_tests:`).
    pub tests: Vec<TestDecl>,
    /// Whether the name is quoted.
    pub quote: Option<bool>,
    /// `constraints:` (applied when the model's contract is enforced).
    pub constraints: Vec<Constraint>,
}

/// The periods of a freshness threshold.
pub const FRESHNESS_PERIODS: &[&str] = &["minute", "hour", "day"];

/// A source table's freshness criteria (dbt's FreshnessThreshold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Freshness {
    /// `warn_after`: (count, period).
    pub warn_after: Option<(i64, String)>,
    /// `error_after`: (count, period).
    pub error_after: Option<(i64, String)>,
    /// `filter`: a SQL condition on the rows looked at.
    pub filter: Option<String>,
}

impl Freshness {
    /// As manifest.json and sources.json have it (an absent threshold is nulls).
    pub fn to_json(&self) -> Json {
        let t = |x: &Option<(i64, String)>| match x {
            Some((c, p)) => serde_json::json!({"count": c, "period": p}),
            None => serde_json::json!({"count": null, "period": null}),
        };
        serde_json::json!({"warn_after": t(&self.warn_after), "error_after": t(&self.error_after), "filter": self.filter})
    }

    /// Seconds in a period.
    pub fn seconds(period: &str) -> i64 {
        match period {
            "minute" => 60,
            "hour" => 3600,
            _ => 86400,
        }
    }

    /// Whether any threshold is set (a freshness with neither checks nothing).
    pub fn has_threshold(&self) -> bool {
        self.warn_after.is_some() || self.error_after.is_some()
    }
}

/// A `freshness:` value as written: absent (None), `null` (Some(None): no freshness), or
/// the keys it sets.
fn freshness_value(doc: &YamlDoc, v: Option<&Yaml>, p: &YPath, diags: &mut Diagnostics) -> Option<Option<Freshness>> {
    let v = v?;
    let Yaml::Mapping(m) = v else {
        if !matches!(v, Yaml::Null) {
            diags.push(
                Diagnostic::error("E0109", "`freshness` must be a mapping (or null)")
                    .with_span(doc.span(p))
                    .with_help("write `freshness: {warn_after: {count: 12, period: hour}}`"),
            );
        }
        return Some(None);
    };
    check_keys(doc, m, p, &["warn_after", "error_after", "filter"], "freshness", diags, true);
    let threshold =
        |key: &str, diags: &mut Diagnostics| -> Option<(i64, String)> {
            let tp = p.key(key);
            match m.get(key)? {
                Yaml::Mapping(t) => {
                    check_keys(doc, t, &tp, &["count", "period"], key, diags, true);
                    let count = t.get("count").and_then(Yaml::as_i64);
                    let period = t.get("period").and_then(as_string);
                    if count.is_none() {
                        diags.push(
                            Diagnostic::error("E0109", format!("`{key}` needs a whole-number `count`"))
                                .with_span(doc.span(&tp.key("count")))
                                .with_help(format!("write `{key}: {{count: 12, period: hour}}`")),
                        );
                    }
                    match &period {
                        Some(x) if FRESHNESS_PERIODS.contains(&x.as_str()) => {}
                        _ => {
                            let got = period.clone().unwrap_or_default();
                            diags.push(
                                Diagnostic::error("E0109", format!("unknown freshness period '{got}' in `{key}`"))
                                    .with_span(doc.span(&tp.key("period")))
                                    .with_help(did_you_mean(&got, FRESHNESS_PERIODS.iter().copied()).unwrap_or_else(
                                        || format!("a period is one of {}", FRESHNESS_PERIODS.join(", ")),
                                    )),
                            );
                            return None;
                        }
                    }
                    Some((count?, period?))
                }
                Yaml::Null => None,
                _ => {
                    diags.push(
                        Diagnostic::error("E0109", format!("`{key}` must be a mapping with `count` and `period`"))
                            .with_span(doc.span(&tp)),
                    );
                    None
                }
            }
        };
    let warn_after = threshold("warn_after", diags);
    let error_after = threshold("error_after", diags);
    Some(Some(Freshness { warn_after, error_after, filter: m.get("filter").and_then(as_string) }))
}

/// Merge freshness declarations, outermost first, key by key; `null` removes what came before.
fn merge_freshness(levels: Vec<Option<Option<Freshness>>>, raw: &[Option<&Mapping>]) -> Option<Freshness> {
    let mut out: Option<Freshness> = None;
    for (level, m) in levels.into_iter().zip(raw) {
        match level {
            None => {}
            Some(None) => out = None,
            Some(Some(f)) => {
                let cur = out.get_or_insert_with(Freshness::default);
                let set = |k: &str| m.and_then(|m| m.get(k)).is_some();
                if set("warn_after") {
                    cur.warn_after = f.warn_after;
                }
                if set("error_after") {
                    cur.error_after = f.error_after;
                }
                if set("filter") {
                    cur.filter = f.filter;
                }
            }
        }
    }
    out
}

/// The constraint types dbt knows.
pub const CONSTRAINT_TYPES: &[&str] = &["check", "not_null", "unique", "primary_key", "foreign_key", "custom"];
const CONSTRAINT_KEYS: &[&str] =
    &["type", "name", "expression", "columns", "to", "to_columns", "warn_unenforced", "warn_unsupported"];

/// A column or model constraint, as dbt's ColumnLevelConstraint / ModelLevelConstraint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraint {
    /// One of [`CONSTRAINT_TYPES`].
    pub kind: String,
    /// `name` (model-level constraints are rendered as `constraint <name> ...`).
    pub name: Option<String>,
    /// `expression`.
    pub expression: Option<String>,
    /// The columns of a model-level constraint.
    pub columns: Vec<String>,
    /// A foreign key's table: as written (`ref('customers')`, or a relation name), then the
    /// relation a `ref()` or `source()` names once parsed.
    pub to: Option<String>,
    /// The columns a foreign key points at.
    pub to_columns: Vec<String>,

    /// `warn_unenforced` (default true).
    pub warn_unenforced: bool,
    /// `warn_unsupported` (default true).
    pub warn_unsupported: bool,
    /// Where it is written.
    pub ypath: YPath,
}

impl Constraint {
    /// As manifest.json and the Jinja context have it (`columns` only on model-level ones).
    pub fn to_json(&self, model_level: bool) -> Json {
        let mut v = serde_json::json!({
            "type": self.kind, "name": self.name, "expression": self.expression,
            "warn_unenforced": self.warn_unenforced, "warn_unsupported": self.warn_unsupported,
            "to": self.to, "to_columns": self.to_columns,
        });
        if model_level {
            v["columns"] = serde_json::json!(self.columns);
        }
        v
    }
}

/// A `constraints:` list (of a column, or of a model when `model_level`), checked as dbt parses it.
fn constraints(doc: &YamlDoc, m: &Mapping, p: &YPath, model_level: bool, diags: &mut Diagnostics) -> Vec<Constraint> {
    let mut out = vec![];
    let Some(list) = m.get("constraints") else { return out };
    let lp = p.key("constraints");
    let Yaml::Sequence(list) = list else {
        diags.push(Diagnostic::error("E0108", "`constraints` must be a list").with_span(doc.span(&lp)));
        return out;
    };
    for (i, c) in list.iter().enumerate() {
        let cp = lp.index(i);
        let Yaml::Mapping(c) = c else {
            diags.push(
                Diagnostic::error("E0108", "a constraint must be a mapping with a `type`")
                    .with_span(doc.span(&cp))
                    .with_help("write it as `- type: not_null`"),
            );
            continue;
        };
        check_keys(doc, c, &cp, CONSTRAINT_KEYS, "constraint", diags, true);
        let kind = c.get("type").and_then(as_string).unwrap_or_default();
        let bad = |msg: String, key: &str, help: String| {
            Diagnostic::error("E0108", msg).with_span(doc.span(&cp.key(key))).with_help(help)
        };
        if !CONSTRAINT_TYPES.contains(&kind.as_str()) {
            let help = did_you_mean(&kind, CONSTRAINT_TYPES.iter().copied())
                .unwrap_or_else(|| format!("a constraint's type is one of {}", CONSTRAINT_TYPES.join(", ")));
            let msg = if kind.is_empty() {
                "constraint without a `type`".to_string()
            } else {
                format!("unknown constraint type '{kind}'")
            };
            diags.push(if kind.is_empty() {
                Diagnostic::error("E0108", msg).with_span(doc.span(&cp)).with_help(help)
            } else {
                bad(msg, "type", help)
            });
            continue;
        }
        let list = |k: &str| c.get(k).map(string_list).unwrap_or_default();
        let constraint = Constraint {
            name: c.get("name").and_then(as_string),
            expression: c.get("expression").and_then(as_string),
            columns: list("columns"),
            to: c.get("to").and_then(as_string),
            to_columns: list("to_columns"),
            warn_unenforced: c.get("warn_unenforced").and_then(Yaml::as_bool).unwrap_or(true),
            warn_unsupported: c.get("warn_unsupported").and_then(Yaml::as_bool).unwrap_or(true),
            ypath: cp.clone(),
            kind,
        };
        let needs_expression = matches!(constraint.kind.as_str(), "check" | "custom");
        if needs_expression && constraint.expression.is_none() {
            diags.push(bad(
                format!("a {} constraint needs an `expression`", constraint.kind),
                "type",
                "add `expression: <SQL>`".into(),
            ));
        }
        if constraint.kind == "foreign_key"
            && constraint.expression.is_none()
            && (constraint.to.is_none() || constraint.to_columns.is_empty())
        {
            diags.push(bad(
                "a foreign_key constraint needs `to` and `to_columns` (or an `expression`)".into(),
                "type",
                "add `to: ref('other_model')` and `to_columns: [id]`".into(),
            ));
        }
        if model_level
            && matches!(constraint.kind.as_str(), "unique" | "primary_key" | "foreign_key")
            && constraint.columns.is_empty()
        {
            diags.push(bad(
                format!("a model-level {} constraint needs `columns`", constraint.kind),
                "type",
                "add `columns: [<column>, ...]`, or declare it on the column".into(),
            ));
        }
        out.push(constraint);
    }
    out
}

/// A macro's `macros:` entry: its description and documented arguments.
#[derive(Debug, Clone, Default)]
pub struct MacroPatch {
    /// The macro's name.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `arguments`: name, type and description of each, in order.
    pub arguments: Vec<MacroArgument>,
    /// The property file.
    pub file: PathBuf,
}

/// One documented macro argument.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MacroArgument {
    /// `name`.
    pub name: String,
    /// `type` (free text, as dbt keeps it); None when not given.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// `description`.
    pub description: String,
}

/// Properties for a model, seed, analysis or snapshot.
#[derive(Debug, Clone, Default)]
pub struct NodePatch {
    /// The node's name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `config:` block, merged above dbt_project.yml and below in-file config().
    pub config: Config,
    /// Columns in file order.
    pub columns: Vec<ColumnDef>,
    /// Node-level tests as written.
    pub tests: Vec<TestDecl>,
    /// The YAML file, relative to the project root.
    pub file: PathBuf,
    /// Where in that file.
    pub ypath: YPath,
    /// Snapshots in YAML: the relation they snapshot (`ref('orders')`).
    pub relation: Option<String>,
    /// Model-level `constraints:`.
    pub constraints: Vec<Constraint>,
    /// `versions:` of a versioned model, each with its columns resolved.
    pub versions: Vec<VersionDecl>,
    /// `latest_version` (else the highest version), as text and as written.
    pub latest_version: Option<(String, Json)>,
    /// The model's `deprecation_date` (a version's own one wins).
    pub deprecation_date: Option<String>,
}

/// One entry of a model's `versions:`.
#[derive(Debug, Clone, Default)]
pub struct VersionDecl {
    /// `v`, as text.
    pub v: String,
    /// `v` as written (a number or a string).
    pub v_json: Json,
    /// `defined_in`: the file (stem) that defines it; else `<name>_v<v>`.
    pub defined_in: Option<String>,
    /// The version's own `config:`, over the model's.
    pub config: Config,
    /// The model's columns as `include` / `exclude` choose them, with the version's own.
    pub columns: Vec<ColumnDef>,
    /// Model-level tests: the version's own, else the model's.
    pub tests: Vec<TestDecl>,
    /// `description` (else the model's).
    pub description: Option<String>,
    /// `deprecation_date` (else the model's).
    pub deprecation_date: Option<String>,
    /// `constraints` (else the model's).
    pub constraints: Option<Vec<Constraint>>,
    /// Where it is written.
    pub ypath: YPath,
}

const VERSION_KEYS: &[&str] = &[
    "v",
    "defined_in",
    "description",
    "docs",
    "config",
    "columns",
    "tests",
    "data_tests",
    "constraints",
    "deprecation_date",
    "access",
    "meta",
    "tags",
];

/// YAML's text of a scalar (`1`, `1.5`, `two`).
fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A model's `versions:` and its latest version.
fn model_versions(
    doc: &YamlDoc,
    m: &Mapping,
    p: &YPath,
    base: &[ColumnDef],
    base_tests: &[TestDecl],
    diags: &mut Diagnostics,
) -> (Vec<VersionDecl>, Option<(String, Json)>) {
    let mut out = vec![];
    let Some(list) = m.get("versions") else { return (out, None) };
    let lp = p.key("versions");
    let Yaml::Sequence(list) = list else {
        diags.push(Diagnostic::error("E0110", "`versions` must be a list").with_span(doc.span(&lp)));
        return (out, None);
    };
    for (i, entry) in list.iter().enumerate() {
        let vp = lp.index(i);
        let Yaml::Mapping(e) = entry else {
            diags.push(Diagnostic::error("E0110", "a version must be a mapping with `v`").with_span(doc.span(&vp)));
            continue;
        };
        check_keys(doc, e, &vp, VERSION_KEYS, "version", diags, true);
        let Some(v) = e.get("v").and_then(scalar_text) else {
            diags.push(
                Diagnostic::error("E0110", "a version entry has no `v`")
                    .with_span(doc.span(&vp))
                    .with_help("write `- v: 1`"),
            );
            continue;
        };
        if out.iter().any(|x: &VersionDecl| x.v == v) {
            diags.push(
                Diagnostic::error("E0110", format!("version {v} is declared twice")).with_span(doc.span(&vp.key("v"))),
            );
            continue;
        }
        // Columns: the model's as include / exclude choose them, then the version's own.
        let mut columns: Vec<ColumnDef> = base.to_vec();
        if let Some(Yaml::Sequence(cols)) = e.get("columns") {
            let mut own = vec![];
            for (j, c) in cols.iter().enumerate() {
                let cp = vp.key("columns").index(j);
                let Yaml::Mapping(c) = c else { continue };
                if c.contains_key("include") || c.contains_key("exclude") {
                    let names = |k: &str| -> Option<Vec<String>> {
                        match c.get(k)? {
                            Yaml::String(s) if s == "all" || s == "*" => None,
                            other => Some(string_list(other)),
                        }
                    };
                    if let Some(keep) = c.get("include").and_then(|_| names("include")) {
                        columns.retain(|x| keep.contains(&x.name));
                    }
                    if let Some(drop) = c.get("exclude").and_then(|_| names("exclude")) {
                        columns.retain(|x| !drop.contains(&x.name));
                    }
                    let unknown: Vec<String> = ["include", "exclude"]
                        .iter()
                        .filter_map(|k| names(k))
                        .flatten()
                        .filter(|n| !base.iter().any(|b| &b.name == n))
                        .collect();
                    for n in unknown {
                        diags.push(
                            Diagnostic::error(
                                "E0110",
                                format!(
                                    "version {v} includes or excludes column '{n}', which the model does not declare"
                                ),
                            )
                            .with_span(doc.span(&cp))
                            .with_opt_help(did_you_mean(&n, base.iter().map(|b| b.name.as_str()))),
                        );
                    }
                } else {
                    own.extend(column_def(doc, c, &cp, diags));
                }
            }
            for c in own {
                match columns.iter_mut().find(|x| x.name == c.name) {
                    Some(x) => *x = c,
                    None => columns.push(c),
                }
            }
        }
        let own_tests = tests_of(e, &vp);
        out.push(VersionDecl {
            v_json: e.get("v").map(to_json).unwrap_or(Json::Null),
            defined_in: e.get("defined_in").and_then(as_string),
            config: config_block(doc, e, &vp, diags),
            columns,
            tests: if e.contains_key("tests") || e.contains_key("data_tests") {
                own_tests
            } else {
                base_tests.to_vec()
            },
            description: e.get("description").and_then(as_string),
            deprecation_date: e.get("deprecation_date").and_then(scalar_text),
            constraints: e.contains_key("constraints").then(|| constraints(doc, e, &vp, true, diags)),
            ypath: vp,
            v,
        });
    }
    let latest = match m.get("latest_version") {
        Some(l) => {
            let text = scalar_text(l).unwrap_or_default();
            if !out.iter().any(|x| x.v == text) {
                let known: Vec<&str> = out.iter().map(|x| x.v.as_str()).collect();
                diags.push(
                    Diagnostic::error(
                        "E0110",
                        format!("latest_version {text} is not one of the model's versions ({})", known.join(", ")),
                    )
                    .with_span(doc.span(&p.key("latest_version")))
                    .with_opt_help(did_you_mean(&text, known.iter().copied())),
                );
            }
            Some((text, to_json(l)))
        }
        // The highest version: numerically when both are numbers, else as text.
        None => out
            .iter()
            .max_by(|a, b| match (a.v.parse::<f64>(), b.v.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                _ => a.v.cmp(&b.v),
            })
            .map(|x| (x.v.clone(), x.v_json.clone())),
    };
    (out, latest)
}

/// One source table.
#[derive(Debug, Clone, Default)]
pub struct SourceTable {
    /// Source name (`source('this', ...)`).
    pub source_name: String,
    /// Table name (`source(..., 'this')`).
    pub name: String,
    /// Identifier in the database (defaults to the name).
    pub identifier: String,
    /// Schema (defaults to the source name).
    pub schema: String,
    /// Database (defaults to the target's).
    pub database: Option<String>,
    /// Table description.
    pub description: String,
    /// Source description.
    pub source_description: String,
    /// Columns.
    pub columns: Vec<ColumnDef>,
    /// `loaded_at_field` (the table's, else the source's; none when a `loaded_at_query` is closer).
    pub loaded_at_field: Option<String>,
    /// `loaded_at_query` (the table's, else the source's; none when a `loaded_at_field` is closer).
    pub loaded_at_query: Option<String>,
    /// `freshness`: the source's, its config's, the table's and its config's merged key by
    /// key, as dbt does; None when none declares one, or the table sets `freshness: null`.
    pub freshness: Option<Freshness>,
    /// `loader`.
    pub loader: String,
    /// Table meta merged over source meta.
    pub meta: Json,
    /// Tags of source and table.
    pub tags: Vec<String>,
    /// Config (enabled etc.).
    pub config: Config,
    /// `quoting`.
    pub quoting: Json,
    /// Tests as written.
    pub tests: Vec<TestDecl>,
    /// File it came from.
    pub file: PathBuf,
    /// Where in that file.
    pub ypath: YPath,
}

/// Everything read from property YAML files.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    /// Model patches by name.
    pub models: BTreeMap<String, NodePatch>,
    /// Seed patches by name.
    pub seeds: BTreeMap<String, NodePatch>,
    /// Analysis patches by name.
    pub analyses: BTreeMap<String, NodePatch>,
    /// Snapshot patches by name.
    pub snapshots: BTreeMap<String, NodePatch>,
    /// Macro descriptions and arguments by name.
    pub macros: BTreeMap<String, MacroPatch>,
    /// Source tables in file order.
    pub sources: Vec<SourceTable>,
    /// Exposures as written, with where each is.
    pub exposures: Vec<(PathBuf, YPath, Json)>,
    /// Unit tests as written.
    pub unit_tests: Vec<(PathBuf, YPath, Json)>,
}

impl Properties {
    /// Add one parsed property file.
    pub fn add_file(&mut self, doc: &YamlDoc, diags: &mut Diagnostics) {
        let root = YPath::default();
        let map = match &doc.value {
            Yaml::Mapping(m) => m,
            Yaml::Null => return,
            _ => {
                diags.push(Diagnostic::error("E0101", "a property file must be a mapping").with_span(doc.span(&root)));
                return;
            }
        };
        check_keys(doc, map, &root, TOP_KEYS, "property file", diags, false);
        for (section, kind) in
            [("models", "model"), ("seeds", "seed"), ("analyses", "analysis"), ("snapshots", "snapshot")]
        {
            // Each entry read on every core (one large file is otherwise one thread's work while
            // the others wait), then added in order.
            let read: Vec<(Option<NodePatch>, Diagnostics)> = items(doc, map, section, diags)
                .into_par_iter()
                .map(|(item, p)| {
                    let mut problems = Diagnostics::default();
                    (node_patch(doc, item, &p, kind, &mut problems), problems)
                })
                .collect();
            for (patch, problems) in read {
                diags.extend(problems.items);
                let Some(patch) = patch else { continue };
                let target = match section {
                    "models" => &mut self.models,
                    "seeds" => &mut self.seeds,
                    "analyses" => &mut self.analyses,
                    _ => &mut self.snapshots,
                };
                add_patch(target, kind, patch, doc, diags);
            }
        }
        for (item, p) in items(doc, map, "macros", diags) {
            check_keys(doc, item, &p, MACRO_KEYS, "macro", diags, true);
            if let Some(name) = item.get("name").and_then(as_string) {
                let description = item.get("description").and_then(as_string).unwrap_or_default();
                let arguments = item
                    .get("arguments")
                    .and_then(Yaml::as_sequence)
                    .map(|args| {
                        args.iter()
                            .filter_map(Yaml::as_mapping)
                            .filter_map(|a| {
                                Some(MacroArgument {
                                    name: a.get("name").and_then(as_string)?,
                                    type_: a.get("type").and_then(as_string),
                                    description: a.get("description").and_then(as_string).unwrap_or_default(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.macros.insert(name.clone(), MacroPatch { name, description, arguments, file: doc.path.clone() });
            }
        }
        for (item, p) in items(doc, map, "sources", diags) {
            self.add_source(doc, item, &p, diags);
        }
        for (item, p) in items(doc, map, "exposures", diags) {
            self.exposures.push((doc.path.clone(), p, to_json(&Yaml::Mapping(item.clone()))));
        }
        for (item, p) in items(doc, map, "unit_tests", diags) {
            self.unit_tests.push((doc.path.clone(), p, to_json(&Yaml::Mapping(item.clone()))));
        }
    }

    /// Add the properties of one more file (`file`, read from `doc` by [`Properties::add_file`]),
    /// with the same rule for a node described twice as within one file.
    pub fn merge(&mut self, file: Properties, doc: &YamlDoc, diags: &mut Diagnostics) {
        let sections = [
            ("model", &mut self.models, file.models),
            ("seed", &mut self.seeds, file.seeds),
            ("analysis", &mut self.analyses, file.analyses),
            ("snapshot", &mut self.snapshots, file.snapshots),
        ];
        for (kind, target, patches) in sections {
            // Nothing yet to clash with (the first file, often the only large one): taken whole.
            if target.is_empty() {
                *target = patches;
                continue;
            }
            for patch in patches.into_values() {
                add_patch(target, kind, patch, doc, diags);
            }
        }
        self.macros.extend(file.macros);
        self.sources.extend(file.sources);
        self.exposures.extend(file.exposures);
        self.unit_tests.extend(file.unit_tests);
    }

    fn add_source(&mut self, doc: &YamlDoc, src: &Mapping, p: &YPath, diags: &mut Diagnostics) {
        check_keys(doc, src, p, SOURCE_KEYS, "source", diags, true);
        let Some(source_name) = required_name(doc, src, p, "source", diags) else { return };
        let config = config_block(doc, src, p, diags);
        let source_meta = src.get("meta").map(to_json).unwrap_or(Json::Object(Default::default()));
        let source_tags = src.get("tags").map(string_list).unwrap_or_default();
        let tables = match src.get("tables") {
            Some(Yaml::Sequence(t)) => t.clone(),
            Some(_) => {
                diags.push(
                    Diagnostic::error("E0103", format!("`tables` of source '{source_name}' must be a list"))
                        .with_span(doc.span(&p.key("tables"))),
                );
                return;
            }
            None => vec![],
        };
        for (j, t) in tables.iter().enumerate() {
            let tp = p.key("tables").index(j);
            let Yaml::Mapping(t) = t else {
                diags.push(
                    Diagnostic::error("E0104", "a source table must be a mapping with a `name`")
                        .with_span(doc.span(&tp)),
                );
                continue;
            };
            check_keys(doc, t, &tp, SOURCE_TABLE_KEYS, "source table", diags, true);
            let Some(name) = required_name(doc, t, &tp, "source table", diags) else { continue };
            let mut meta = source_meta.clone();
            if let (Json::Object(m), Some(Json::Object(tm))) = (&mut meta, t.get("meta").map(to_json)) {
                m.extend(tm);
            }
            let mut tags = source_tags.clone();
            tags.extend(t.get("tags").map(string_list).unwrap_or_default());
            let mut tconfig = config.clone();
            tconfig.merge(&config_block(doc, t, &tp, diags));
            // freshness and loaded_at_*: the source's, its config's, the table's, its config's.
            let cfg = |m: &'_ Mapping| -> Option<Mapping> {
                match m.get("config") {
                    Some(Yaml::Mapping(c)) => Some(c.clone()),
                    _ => None,
                }
            };
            let (src_cfg, t_cfg) = (cfg(src), cfg(t));
            let levels: [(Option<&Mapping>, YPath); 4] = [
                (Some(src), p.clone()),
                (src_cfg.as_ref(), p.key("config")),
                (Some(t), tp.clone()),
                (t_cfg.as_ref(), tp.key("config")),
            ];
            let mut parsed = vec![];
            let mut raw = vec![];
            let (mut loaded_at_field, mut loaded_at_query) = (None, None);
            for (m, yp) in &levels {
                let Some(m) = m else {
                    parsed.push(None);
                    raw.push(None);
                    continue;
                };
                let f = freshness_value(doc, m.get("freshness"), &yp.key("freshness"), diags);
                raw.push(match m.get("freshness") {
                    Some(Yaml::Mapping(fm)) => Some(fm),
                    _ => None,
                });
                parsed.push(f);
                let (field, query) =
                    (m.get("loaded_at_field").and_then(as_string), m.get("loaded_at_query").and_then(as_string));
                if field.is_some() && query.is_some() {
                    diags.push(
                        Diagnostic::error("E0109", "Cannot specify both loaded_at_field and loaded_at_query")
                            .with_span(doc.span(&yp.key("loaded_at_query")))
                            .with_help("keep one: a column whose max is the load time, or a query that returns it"),
                    );
                }
                // The closest level that mentions either wins (`loaded_at_field: null` clears it).
                if m.contains_key("loaded_at_field") || m.contains_key("loaded_at_query") {
                    (loaded_at_field, loaded_at_query) = (field, query);
                }
            }
            let freshness = merge_freshness(parsed, &raw);
            self.sources.push(SourceTable {
                identifier: t.get("identifier").and_then(as_string).unwrap_or_else(|| name.clone()),
                schema: src.get("schema").and_then(as_string).unwrap_or_else(|| source_name.clone()),
                database: src.get("database").and_then(as_string),
                description: t.get("description").and_then(as_string).unwrap_or_default(),
                source_description: src.get("description").and_then(as_string).unwrap_or_default(),
                columns: columns(doc, t, &tp, diags),
                loaded_at_field,
                loaded_at_query,
                freshness,
                loader: src.get("loader").and_then(as_string).unwrap_or_default(),
                meta,
                tags,
                config: tconfig,
                quoting: t.get("quoting").or_else(|| src.get("quoting")).map(to_json).unwrap_or(Json::Null),
                tests: tests_of(t, &tp),
                file: doc.path.clone(),
                ypath: tp,
                source_name: source_name.clone(),
                name,
            });
        }
    }
}

/// Add a model's, seed's, analysis's or snapshot's patch (read from `doc`); one already
/// described is an error at the second description.
fn add_patch(
    target: &mut BTreeMap<String, NodePatch>,
    kind: &str,
    patch: NodePatch,
    doc: &YamlDoc,
    diags: &mut Diagnostics,
) {
    match target.entry(patch.name.clone()) {
        std::collections::btree_map::Entry::Occupied(prev) => diags.push(
            Diagnostic::error("E0102", format!("{kind} '{}' is described twice", patch.name))
                .with_span(doc.span(&patch.ypath.key("name")))
                .with_note(format!("first described in {}", prev.get().file.display()))
                .with_help("keep one entry per node across all property files"),
        ),
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(patch);
        }
    }
}

fn items<'a>(doc: &YamlDoc, map: &'a Mapping, section: &str, diags: &mut Diagnostics) -> Vec<(&'a Mapping, YPath)> {
    let p = YPath::default().key(section);
    match map.get(Yaml::String(section.into())) {
        None | Some(Yaml::Null) => vec![],
        Some(Yaml::Sequence(s)) => s
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Yaml::Mapping(m) => Some((m, p.index(i))),
                _ => {
                    diags.push(
                        Diagnostic::error(
                            "E0104",
                            format!("each entry of `{section}` must be a mapping with a `name`"),
                        )
                        .with_span(doc.span(&p.index(i))),
                    );
                    None
                }
            })
            .collect(),
        Some(_) => {
            diags.push(
                Diagnostic::error("E0103", format!("`{section}` must be a list"))
                    .with_span(doc.span(&p))
                    .with_help(format!("write `{section}:` followed by `- name: ...` entries")),
            );
            vec![]
        }
    }
}

fn check_keys(
    doc: &YamlDoc,
    map: &Mapping,
    p: &YPath,
    allowed: &[&str],
    what: &str,
    diags: &mut Diagnostics,
    strict: bool,
) {
    for (k, _) in map {
        let k = key_string(k);
        if !allowed.contains(&k.as_str()) {
            let msg = format!("unknown key '{k}' on {what}");
            let mut help = did_you_mean(&k, allowed.iter().copied());
            if help.is_none() && KNOWN_CONFIG_KEYS.contains(&canonical_key(&k).as_str()) {
                help = Some(format!("`{k}` is a config: put it under `config:`"));
            }
            let d = if strict { Diagnostic::error("E0105", msg) } else { Diagnostic::warning("W0105", msg) };
            diags.push(d.with_span(doc.span(&p.key(&k))).with_opt_help(help));
        }
    }
}

fn required_name(doc: &YamlDoc, m: &Mapping, p: &YPath, what: &str, diags: &mut Diagnostics) -> Option<String> {
    match m.get("name").and_then(as_string) {
        Some(n) if !n.is_empty() => Some(n),
        _ => {
            diags.push(Diagnostic::error("E0106", format!("{what} entry has no `name`")).with_span(doc.span(p)));
            None
        }
    }
}

/// The `config:` block of a property entry, with unknown keys warned about.
fn config_block(doc: &YamlDoc, m: &Mapping, p: &YPath, diags: &mut Diagnostics) -> Config {
    let mut c = Config::default();
    match m.get("config") {
        Some(Yaml::Mapping(cm)) => {
            for (k, v) in cm {
                let k = key_string(k);
                let canon = canonical_key(&k);
                if !KNOWN_CONFIG_KEYS.contains(&canon.as_str()) {
                    diags.push(
                        Diagnostic::warning("W0103", format!("unknown config key '{k}'"))
                            .with_span(doc.span(&p.key("config").key(&k)))
                            .with_help(did_you_mean(&canon, KNOWN_CONFIG_KEYS.iter().copied()).unwrap_or_else(|| {
                                "custom configs belong under `meta:`; this key is kept but nothing reads it".into()
                            })),
                    );
                }
                c.set(&canon, to_json(v));
            }
        }
        Some(Yaml::Null) | None => {}
        Some(_) => {
            diags.push(Diagnostic::error("E0107", "`config` must be a mapping").with_span(doc.span(&p.key("config"))))
        }
    }
    c
}

fn tests_of(m: &Mapping, p: &YPath) -> Vec<TestDecl> {
    let mut out = vec![];
    for key in ["tests", "data_tests"] {
        if let Some(Yaml::Sequence(s)) = m.get(key) {
            out.extend(s.iter().enumerate().map(|(i, t)| TestDecl { value: to_json(t), ypath: p.key(key).index(i) }));
        }
    }
    out
}

fn columns(doc: &YamlDoc, m: &Mapping, p: &YPath, diags: &mut Diagnostics) -> Vec<ColumnDef> {
    let mut out = vec![];
    let Some(cols) = m.get("columns") else { return out };
    let Yaml::Sequence(cols) = cols else {
        diags.push(Diagnostic::error("E0103", "`columns` must be a list").with_span(doc.span(&p.key("columns"))));
        return out;
    };
    for (i, c) in cols.iter().enumerate() {
        let cp = p.key("columns").index(i);
        let Yaml::Mapping(c) = c else {
            diags.push(Diagnostic::error("E0104", "a column must be a mapping with a `name`").with_span(doc.span(&cp)));
            continue;
        };
        out.extend(column_def(doc, c, &cp, diags));
    }
    out
}

fn column_def(doc: &YamlDoc, c: &Mapping, cp: &YPath, diags: &mut Diagnostics) -> Option<ColumnDef> {
    check_keys(doc, c, cp, COLUMN_KEYS, "column", diags, true);
    let name = required_name(doc, c, cp, "column", diags)?;
    Some(ColumnDef {
        name,
        description: c.get("description").and_then(as_string).unwrap_or_default(),
        data_type: c.get("data_type").and_then(as_string),
        meta: c.get("meta").map(to_json).unwrap_or(Json::Object(Default::default())),
        tags: c.get("tags").map(string_list).unwrap_or_default(),
        tests: tests_of(c, cp),
        quote: c.get("quote").and_then(Yaml::as_bool),
        constraints: constraints(doc, c, cp, false, diags),
    })
}

fn node_patch(doc: &YamlDoc, m: &Mapping, p: &YPath, kind: &str, diags: &mut Diagnostics) -> Option<NodePatch> {
    check_keys(doc, m, p, if kind == "snapshot" { SNAPSHOT_KEYS } else { NODE_KEYS }, kind, diags, true);
    let name = required_name(doc, m, p, kind, diags)?;
    let mut config = config_block(doc, m, p, diags);
    // Legacy top-level keys that dbt folds into config.
    for key in ["docs", "meta", "tags", "column_types", "quote_columns", "access", "group"] {
        if let Some(v) = m.get(key) {
            let mut c = Config::default();
            c.set(key, to_json(v));
            c.merge(&config);
            config = c;
        }
    }
    let columns = columns(doc, m, p, diags);
    let tests = tests_of(m, p);
    let (versions, latest_version) =
        if kind == "model" { model_versions(doc, m, p, &columns, &tests, diags) } else { (vec![], None) };
    Some(NodePatch {
        name,
        description: m.get("description").and_then(as_string).unwrap_or_default(),
        config,
        columns,
        tests,
        file: doc.path.clone(),
        ypath: p.clone(),
        relation: m.get("relation").and_then(as_string),
        constraints: constraints(doc, m, p, true, diags),
        versions,
        latest_version,
        deprecation_date: m.get("deprecation_date").and_then(scalar_text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn unknown_model_key_is_an_error_with_suggestion() {
        let doc = YamlDoc::parse(
            Path::new("models/schema.yml"),
            "version: 2\nmodels:\n  - name: orders\n    descripton: hi\n    config:\n      materialzed: table\n",
        )
        .unwrap();
        let mut props = Properties::default();
        let mut diags = Diagnostics::default();
        props.add_file(&doc, &mut diags);
        let codes: Vec<_> = diags.items.iter().map(|d| (d.code, d.help.clone())).collect();
        assert_eq!(
            codes,
            vec![
                ("E0105", Some("did you mean 'description'?".to_string())),
                ("W0103", Some("did you mean 'materialized'?".to_string()))
            ]
        );
        assert_eq!(diags.items[0].span.as_ref().unwrap().line, 4);
        assert_eq!(props.models["orders"].config.get_str("materialzed").as_deref(), Some("table"));
    }

    #[test]
    fn sources_default_schema_and_identifier() {
        let doc = YamlDoc::parse(
            Path::new("m.yml"),
            "sources:\n  - name: raw\n    tables:\n      - name: orders\n      - name: items\n        identifier: order_items\n",
        )
        .unwrap();
        let mut props = Properties::default();
        let mut diags = Diagnostics::default();
        props.add_file(&doc, &mut diags);
        assert!(diags.items.is_empty());
        assert_eq!(props.sources[1].identifier, "order_items");
        assert_eq!(props.sources[0].schema, "raw");
    }

    #[test]
    fn a_node_described_in_two_files_is_reported_at_the_second() {
        let first = "models:\n  - name: orders\n    description: first\nsources:\n  - name: raw\n    tables:\n      - name: a\n";
        let second = "version: 2\nmodels:\n  - name: customers\n  - name: orders\n    description: second\nsources:\n  - name: raw2\n    tables:\n      - name: b\n";
        let mut props = Properties::default();
        let mut diags = Diagnostics::default();
        for (path, text) in [("models/a.yml", first), ("models/b.yml", second)] {
            let doc = YamlDoc::parse(Path::new(path), text.to_string()).unwrap();
            let mut file = Properties::default();
            file.add_file(&doc, &mut diags);
            props.merge(file, &doc, &mut diags);
        }
        assert_eq!(diags.items.len(), 1, "{:?}", diags.items);
        let d = &diags.items[0];
        assert_eq!(d.code, "E0102");
        let span = d.span.as_ref().unwrap();
        assert_eq!((span.file.as_path(), span.line), (Path::new("models/b.yml"), 4));
        assert_eq!(d.notes, vec!["first described in models/a.yml".to_string()]);
        assert_eq!(props.models["orders"].description, "first");
        assert!(props.models.contains_key("customers"));
        let tables: Vec<&str> = props.sources.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tables, ["a", "b"]);
    }
}
