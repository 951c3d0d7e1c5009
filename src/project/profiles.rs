//! `profiles.yml`: found via --profiles-dir, DBT_PROFILES_DIR, the project dir, then ~/.dbt;
//! the profile named by dbt_project.yml and the target chosen by --target or the profile's
//! default. Only `type: duckdb` outputs are supported, with dbt-duckdb's keys: the ones strata
//! implements ([`SUPPORTED_KEYS`]), the ones it does not (an error naming the key, never silence:
//! [`UNSUPPORTED_KEYS`]), and anything else is an unknown key with a did-you-mean.

use super::yaml::{as_string, key_string, to_json, YPath, YamlDoc};
use crate::diagnostics::{did_you_mean, Diagnostic, Span};
use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;
use std::path::{Path, PathBuf};

/// The resolved connection target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Profile name.
    pub profile_name: String,
    /// Target name (e.g. `dev`).
    pub name: String,
    /// Always `duckdb`.
    pub adapter_type: String,
    /// Database file path, or `:memory:`.
    pub path: String,
    /// Default schema.
    pub schema: String,
    /// Database (catalog) name: the profile's `database` or the file stem.
    pub database: String,
    /// Worker threads.
    pub threads: usize,
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
    /// Every key of the output, for `target.<key>` in Jinja.
    pub raw: Map<String, Json>,
    /// Where profiles.yml was found.
    pub profiles_file: PathBuf,
    /// The project folder: relative file paths in SQL resolve against it, as dbt runs from it.
    pub project_root: PathBuf,
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

/// `target` as Jinja sees it: the profile output plus name, schema, database, type, threads.
pub fn target_value(target: Option<&Target>) -> Json {
    match target {
        Some(t) => {
            let mut m = t.raw.clone();
            m.insert("name".into(), Json::from(t.name.clone()));
            m.insert("target_name".into(), Json::from(t.name.clone()));
            m.insert("schema".into(), Json::from(t.schema.clone()));
            m.insert("database".into(), Json::from(t.database.clone()));
            m.insert("type".into(), Json::from(t.adapter_type.clone()));
            m.insert("threads".into(), Json::from(t.threads));
            m.insert("profile_name".into(), Json::from(t.profile_name.clone()));
            m.insert("path".into(), Json::from(t.path.clone()));
            Json::Object(m)
        }
        None => {
            serde_json::json!({"name": "none", "schema": "main", "database": "memory", "type": "duckdb", "threads": 1})
        }
    }
}

/// Where to look for profiles.yml, in order.
pub fn candidate_dirs(
    flag: Option<&Path>,
    env_dir: Option<&Path>,
    project_dir: &Path,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(f) = flag {
        return vec![f.to_path_buf()];
    }
    if let Some(e) = env_dir {
        return vec![e.to_path_buf()];
    }
    let mut v = vec![project_dir.to_path_buf()];
    if let Some(h) = home {
        v.push(h.join(".dbt"));
    }
    v
}

/// Resolve the target from a parsed (and rendered) profiles.yml.
pub fn resolve(doc: &YamlDoc, profile: &str, target: Option<&str>, file: &Path) -> Result<Target, Vec<Diagnostic>> {
    resolve_one(doc, profile, target, file).map_err(|mut v| {
        v.sort_by_key(|d| d.span.as_ref().map(|s| (s.line, s.col)));
        v
    })
}

fn resolve_one(doc: &YamlDoc, profile: &str, target: Option<&str>, file: &Path) -> Result<Target, Vec<Diagnostic>> {
    let root = YPath::default();
    let Yaml::Mapping(profiles) = &doc.value else {
        return Err(vec![Diagnostic::error("E0301", "profiles.yml must be a mapping of profile names")
            .with_span(Span::file_only(&doc.path))]);
    };
    let names: Vec<String> = profiles.keys().map(key_string).filter(|k| k != "config").collect();
    let Some(p) = profiles.get(Yaml::String(profile.into())) else {
        return Err(vec![Diagnostic::error("E0302", format!("profile '{profile}' not found in {}", file.display()))
            .with_span(Span::file_only(&doc.path))
            .with_note(format!("profiles defined: {}", if names.is_empty() { "none".into() } else { names.join(", ") }))
            .with_help(
                did_you_mean(profile, names.iter().map(String::as_str))
                    .unwrap_or_else(|| "set `profile:` in dbt_project.yml to one of these, or add the profile".into()),
            )]);
    };
    let ppath = root.key(profile);
    let outputs = match p.get("outputs") {
        Some(Yaml::Mapping(m)) => m,
        _ => {
            return Err(vec![Diagnostic::error("E0303", format!("profile '{profile}' has no `outputs`"))
                .with_span(doc.span(&ppath))
                .with_help("add `outputs: {dev: {type: duckdb, path: dev.duckdb}}`")])
        }
    };
    let target_name = match target.map(str::to_string).or_else(|| p.get("target").and_then(as_string)) {
        Some(t) => t,
        None => "default".to_string(),
    };
    let out_names: Vec<String> = outputs.keys().map(key_string).collect();
    let Some(out) = outputs.get(Yaml::String(target_name.clone())) else {
        return Err(vec![Diagnostic::error(
            "E0304",
            format!("target '{target_name}' not found in profile '{profile}'"),
        )
        .with_span(doc.span(&ppath.key("outputs")))
        .with_note(format!("targets defined: {}", out_names.join(", ")))
        .with_help(
            did_you_mean(&target_name, out_names.iter().map(String::as_str))
                .unwrap_or_else(|| "pass --target with one of these, or set `target:` in the profile".into()),
        )]);
    };
    let opath = ppath.key("outputs").key(&target_name);
    let Json::Object(raw) = to_json(out) else {
        return Err(vec![
            Diagnostic::error("E0305", format!("target '{target_name}' must be a mapping")).with_span(doc.span(&opath))
        ]);
    };
    let ty = raw.get("type").and_then(Json::as_str).unwrap_or("").to_string();
    if ty != "duckdb" {
        return Err(vec![Diagnostic::error(
            "E0306",
            format!("target '{target_name}' has type '{ty}'; strata runs on DuckDB only"),
        )
        .with_span(doc.span(&opath.key("type")))
        .with_help("set `type: duckdb`")]);
    }
    let mut problems = vec![];
    for key in raw.keys() {
        let span = doc.span(&opath.key(key));
        if let Some((_, why)) = UNSUPPORTED_KEYS.iter().find(|(k, _)| k == key) {
            problems.push(
                Diagnostic::error("E0309", format!("profile key `{key}` is not supported by strata"))
                    .with_span(span)
                    .with_note(why.to_string())
                    .with_help(format!("remove `{key}` from target '{target_name}'")),
            );
        } else if !SUPPORTED_KEYS.contains(&key.as_str()) {
            let known = SUPPORTED_KEYS.iter().chain(UNSUPPORTED_KEYS.iter().map(|(k, _)| k)).copied();
            problems.push(
                Diagnostic::error("E0310", format!("unknown key `{key}` in target '{target_name}'"))
                    .with_span(span)
                    .with_help(
                        did_you_mean(key, known).unwrap_or_else(|| {
                            format!("the keys of a duckdb target are {}", SUPPORTED_KEYS.join(", "))
                        }),
                    ),
            );
        }
    }
    let path = raw.get("path").and_then(json_str).unwrap_or_else(|| ":memory:".into());
    if path.starts_with("md:") || path.starts_with("motherduck:") {
        problems.push(
            Diagnostic::error("E0309", format!("MotherDuck path '{path}' is not supported by strata"))
                .with_span(doc.span(&opath.key("path")))
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
                            .with_span(doc.span(&opath.key("attach").index(i)))
                            .with_help("write `- {path: other.duckdb, alias: other, read_only: true}`"),
                    ),
                }
            }
            out
        }
        Some(_) => {
            problems.push(
                Diagnostic::error("E0311", "`attach` must be a list")
                    .with_span(doc.span(&opath.key("attach")))
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
                    .with_span(doc.span(&opath.key("secrets")))
                    .with_help("write `secrets: [{type: s3, key_id: ..., secret: ..., region: ...}]`"),
            );
            vec![]
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let database = raw.get("database").and_then(json_str).unwrap_or_else(|| database_from_path(&path));
    let threads = match raw.get("threads") {
        Some(Json::Number(n)) => n.as_u64().unwrap_or(1).max(1) as usize,
        Some(Json::String(s)) => s.parse().unwrap_or(1),
        _ => 1,
    };
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
    let settings = raw.get("settings").and_then(Json::as_object).cloned().unwrap_or_default();
    let config_options = raw.get("config_options").and_then(Json::as_object).cloned().unwrap_or_default();
    let strings = |k: &str| -> Vec<String> {
        match raw.get(k) {
            Some(Json::Array(a)) => a.iter().filter_map(json_str).collect(),
            Some(v) => json_str(v).into_iter().collect(),
            None => vec![],
        }
    };
    let module_paths = strings("module_paths");
    let external_root = raw.get("external_root").and_then(json_str).unwrap_or_else(|| ".".into());
    Ok(Target {
        profile_name: profile.to_string(),
        name: target_name,
        adapter_type: ty,
        schema: raw.get("schema").and_then(json_str).unwrap_or_else(|| "main".into()),
        path,
        database,
        threads,
        extensions,
        settings,
        config_options,
        attach,
        external_root,
        secrets,
        module_paths,
        raw,
        profiles_file: file.to_path_buf(),
        project_root: PathBuf::new(),
    })
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

fn json_str(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// DuckDB names the catalog of a database file after its stem; `:memory:` is `memory`.
pub fn database_from_path(path: &str) -> String {
    if path == ":memory:" || path.is_empty() {
        return "memory".into();
    }
    Path::new(path).file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "memory".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> YamlDoc {
        YamlDoc::parse(Path::new("profiles.yml"), s.into()).unwrap()
    }

    #[test]
    fn resolves_default_target_and_names_missing_ones() {
        let d = doc("shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: data/shop.duckdb\n      threads: 4\n");
        let t = resolve(&d, "shop", None, Path::new("profiles.yml")).unwrap();
        assert_eq!((t.database.as_str(), t.schema.as_str(), t.threads), ("shop", "main", 4));
        let e = resolve(&d, "shop", Some("prod"), Path::new("profiles.yml")).unwrap_err().remove(0);
        assert_eq!(e.code, "E0304");
        assert!(e.notes[0].contains("dev"));
        let e = resolve(&d, "shopp", None, Path::new("profiles.yml")).unwrap_err().remove(0);
        assert_eq!(e.help.as_deref(), Some("did you mean 'shop'?"));
    }
}
