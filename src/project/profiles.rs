//! `profiles.yml`: found via --profiles-dir, DBT_PROFILES_DIR, the project dir, then ~/.dbt;
//! the profile named by dbt_project.yml and the target chosen by --target or the profile's
//! default. Only `type: duckdb` outputs are supported.

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
    /// Every key of the output, for `target.<key>` in Jinja.
    pub raw: Map<String, Json>,
    /// Where profiles.yml was found.
    pub profiles_file: PathBuf,
    /// The project folder: relative file paths in SQL resolve against it, as dbt runs from it.
    pub project_root: PathBuf,
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
pub fn resolve(doc: &YamlDoc, profile: &str, target: Option<&str>, file: &Path) -> Result<Target, Diagnostic> {
    let root = YPath::default();
    let Yaml::Mapping(profiles) = &doc.value else {
        return Err(Diagnostic::error("E0301", "profiles.yml must be a mapping of profile names")
            .with_span(Span::file_only(&doc.path)));
    };
    let names: Vec<String> = profiles.keys().map(key_string).filter(|k| k != "config").collect();
    let Some(p) = profiles.get(Yaml::String(profile.into())) else {
        return Err(Diagnostic::error("E0302", format!("profile '{profile}' not found in {}", file.display()))
            .with_span(Span::file_only(&doc.path))
            .with_note(format!("profiles defined: {}", if names.is_empty() { "none".into() } else { names.join(", ") }))
            .with_help(
                did_you_mean(profile, names.iter().map(String::as_str))
                    .unwrap_or_else(|| "set `profile:` in dbt_project.yml to one of these, or add the profile".into()),
            ));
    };
    let ppath = root.key(profile);
    let outputs = match p.get("outputs") {
        Some(Yaml::Mapping(m)) => m,
        _ => {
            return Err(Diagnostic::error("E0303", format!("profile '{profile}' has no `outputs`"))
                .with_span(doc.span(&ppath))
                .with_help("add `outputs: {dev: {type: duckdb, path: dev.duckdb}}`"))
        }
    };
    let target_name = match target.map(str::to_string).or_else(|| p.get("target").and_then(as_string)) {
        Some(t) => t,
        None => "default".to_string(),
    };
    let out_names: Vec<String> = outputs.keys().map(key_string).collect();
    let Some(out) = outputs.get(Yaml::String(target_name.clone())) else {
        return Err(Diagnostic::error("E0304", format!("target '{target_name}' not found in profile '{profile}'"))
            .with_span(doc.span(&ppath.key("outputs")))
            .with_note(format!("targets defined: {}", out_names.join(", ")))
            .with_help(
                did_you_mean(&target_name, out_names.iter().map(String::as_str))
                    .unwrap_or_else(|| "pass --target with one of these, or set `target:` in the profile".into()),
            ));
    };
    let opath = ppath.key("outputs").key(&target_name);
    let Json::Object(raw) = to_json(out) else {
        return Err(
            Diagnostic::error("E0305", format!("target '{target_name}' must be a mapping")).with_span(doc.span(&opath))
        );
    };
    let ty = raw.get("type").and_then(Json::as_str).unwrap_or("").to_string();
    if ty != "duckdb" {
        return Err(Diagnostic::error(
            "E0306",
            format!("target '{target_name}' has type '{ty}'; strata runs on DuckDB only"),
        )
        .with_span(doc.span(&opath.key("type")))
        .with_help("set `type: duckdb`"));
    }
    let path = raw.get("path").and_then(json_str).unwrap_or_else(|| ":memory:".into());
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
        raw,
        profiles_file: file.to_path_buf(),
        project_root: PathBuf::new(),
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
        let e = resolve(&d, "shop", Some("prod"), Path::new("profiles.yml")).unwrap_err();
        assert_eq!(e.code, "E0304");
        assert!(e.notes[0].contains("dev"));
        let e = resolve(&d, "shopp", None, Path::new("profiles.yml")).unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean 'shop'?"));
    }
}
