//! A DuckDB target: dbt-duckdb's profile keys, the ones strata implements ([`SUPPORTED_KEYS`]) and
//! the ones it does not (an error naming the key, never silence: [`UNSUPPORTED_KEYS`]).

use super::super::json_str;
use super::super::target::{EngineTarget, Locate, ReadTarget};
use crate::diagnostics::Diagnostic;
use serde_json::{Map, Value as Json};
use std::path::Path;

/// The DuckDB keys of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Database file path (absolute, or relative to where strata runs), or `:memory:`.
    pub path: String,
    /// Extensions to load.
    pub extensions: Vec<String>,
    /// DuckDB settings applied on connect.
    pub settings: Map<String, Json>,
    /// DuckDB configuration given when the database is opened (`config_options`).
    pub config_options: Map<String, Json>,
    /// Databases to attach (`attach`).
    pub attach: Vec<Attach>,
    /// Where external models are written by default (`external_root`, default `.`).
    pub external_root: String,
    /// `CREATE SECRET` parameters (`secrets`), each a map of DuckDB's secret keys.
    pub secrets: Vec<Map<String, Json>>,
    /// Folders added to Python's import path for python models (`module_paths`).
    pub module_paths: Vec<String>,
}

/// One `attach:` entry: another database opened next to the target's.
#[derive(Debug, Clone, PartialEq)]
pub struct Attach {
    /// File path (relative to the project folder) or a URL DuckDB understands.
    pub path: String,
    /// The catalog name (`alias`), default the file's stem.
    pub alias: Option<String>,
    /// `type` (`duckdb`, `sqlite`, `postgres`, ...), DuckDB's own `TYPE` option.
    pub kind: Option<String>,
    /// Open read-only.
    pub read_only: bool,
    /// Further ATTACH options.
    pub options: Map<String, Json>,
}

/// dbt-duckdb profile keys strata implements (and dbt's common `type`/`threads`).
pub const SUPPORTED_KEYS: &[&str] = &[
    "attach",
    "config_options",
    "database",
    "extensions",
    "external_root",
    "keep_open",
    "module_paths",
    "path",
    "schema",
    "secrets",
    "settings",
    "threads",
    "type",
];

/// dbt-duckdb profile keys strata does not implement: each is an error naming it.
pub const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    ("plugins", "dbt-duckdb plugins are Python classes loaded into dbt's process"),
    ("filesystems", "fsspec filesystems are Python objects registered in dbt's process"),
    ("use_credential_provider", "credential providers are Python (boto3) code in dbt's process"),
    ("remote", "the remote DuckDB server of dbt-duckdb's buenavista plugin"),
    ("disable_transactions", "strata always builds inside transactions, so a failed build keeps the old relation"),
    ("retries", "strata does not retry failed statements"),
    ("motherduck_token", "MotherDuck (`md:` paths) needs its extension and a network"),
];

/// Read a DuckDB output's keys; relative paths (the database file, attached databases, module
/// paths) are relative to the project folder `root`, where dbt runs.
pub fn read(raw: &Map<String, Json>, root: &Path, at: &dyn Locate) -> Result<ReadTarget, Vec<Diagnostic>> {
    let mut problems = vec![];
    let path = raw.get("path").and_then(json_str).unwrap_or_else(|| ":memory:".into());
    if path.starts_with("md:") || path.starts_with("motherduck:") {
        problems.push(
            Diagnostic::error("E0309", format!("MotherDuck path '{path}' is not supported by strata"))
                .with_span(at.key("path"))
                .with_note("MotherDuck needs its extension and a network")
                .with_help("use a local DuckDB file or `:memory:`"),
        );
    }
    let attach = match raw.get("attach") {
        None => vec![],
        Some(Json::Array(items)) => {
            let mut out = vec![];
            for (i, item) in items.iter().enumerate() {
                match attach_entry(item) {
                    Ok(a) => out.push(a),
                    Err(msg) => problems.push(
                        Diagnostic::error("E0311", format!("attach entry {}: {msg}", i + 1))
                            .with_span(at.item("attach", i))
                            .with_help("write `- {path: other.duckdb, alias: other, read_only: true}`"),
                    ),
                }
            }
            out
        }
        Some(_) => {
            problems.push(
                Diagnostic::error("E0311", "`attach` must be a list")
                    .with_span(at.key("attach"))
                    .with_help("write `attach: [{path: other.duckdb, alias: other}]`"),
            );
            vec![]
        }
    };
    let secrets: Vec<Map<String, Json>> = match raw.get("secrets") {
        None => vec![],
        Some(Json::Array(items)) if items.iter().all(Json::is_object) => {
            items.iter().filter_map(|v| v.as_object().cloned()).collect()
        }
        Some(_) => {
            problems.push(
                Diagnostic::error("E0311", "`secrets` must be a list of mappings")
                    .with_span(at.key("secrets"))
                    .with_help("write `secrets: [{type: s3, key_id: ..., secret: ..., region: ...}]`"),
            );
            vec![]
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let database = database_from_path(&path);
    let extensions = raw
        .get("extensions")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| match e {
                    Json::String(s) => Some(s.clone()),
                    Json::Object(m) => m.get("name").and_then(Json::as_str).map(str::to_string),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let strings = |k: &str| -> Vec<String> {
        match raw.get(k) {
            Some(Json::Array(a)) => a.iter().filter_map(json_str).collect(),
            Some(v) => json_str(v).into_iter().collect(),
            None => vec![],
        }
    };
    let mut s = Settings {
        path,
        extensions,
        settings: raw.get("settings").and_then(Json::as_object).cloned().unwrap_or_default(),
        config_options: raw.get("config_options").and_then(Json::as_object).cloned().unwrap_or_default(),
        attach,
        external_root: raw.get("external_root").and_then(json_str).unwrap_or_else(|| ".".into()),
        secrets,
        module_paths: strings("module_paths"),
    };
    // dbt runs from the project folder, so relative database paths are relative to it.
    if s.path != ":memory:" && !s.path.is_empty() && Path::new(&s.path).is_relative() && !s.path.starts_with("md:") {
        s.path = root.join(&s.path).to_string_lossy().to_string();
    }
    // So are attached databases, the module paths of python models and the external root.
    for a in &mut s.attach {
        if is_local_relative(&a.path) {
            a.path = root.join(&a.path).to_string_lossy().to_string();
        }
    }
    for m in &mut s.module_paths {
        if Path::new(m.as_str()).is_relative() {
            *m = root.join(&m).to_string_lossy().to_string();
        }
    }
    Ok((EngineTarget::DuckDb(s), database))
}

fn is_local_relative(p: &str) -> bool {
    p != ":memory:" && !p.is_empty() && !p.contains(':') && Path::new(p).is_relative()
}

fn attach_entry(item: &Json) -> Result<Attach, String> {
    let m = match item {
        Json::String(p) => {
            return Ok(Attach { path: p.clone(), alias: None, kind: None, read_only: false, options: Map::new() })
        }
        Json::Object(m) => m,
        _ => return Err("must be a path or a mapping".into()),
    };
    let path = m.get("path").and_then(json_str).ok_or("has no `path`")?;
    for k in m.keys() {
        if !["path", "alias", "type", "read_only", "options"].contains(&k.as_str()) {
            return Err(format!("unknown key `{k}` (keys: path, alias, type, read_only, options)"));
        }
    }
    Ok(Attach {
        path,
        alias: m.get("alias").and_then(json_str),
        kind: m.get("type").and_then(json_str),
        read_only: m.get("read_only").and_then(Json::as_bool).unwrap_or(false),
        options: m.get("options").and_then(Json::as_object).cloned().unwrap_or_default(),
    })
}

/// DuckDB names the catalog of a database file after its stem; `:memory:` is `memory`.
pub fn database_from_path(path: &str) -> String {
    if path == ":memory:" || path.is_empty() {
        return "memory".into();
    }
    Path::new(path).file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "memory".into())
}
