//! `profiles.yml`: found via --profiles-dir, DBT_PROFILES_DIR, the project dir, then ~/.dbt;
//! the profile named by dbt_project.yml and the target chosen by --target or the profile's
//! default. The output's `type` names the engine (`crate::adapter::ENGINES`), which lists its
//! keys (the ones strata implements, the ones it does not: an error naming the key, never
//! silence) and reads its own settings; anything else is an unknown key with a did-you-mean.

use super::yaml::{as_string, key_string, to_json, YPath, YamlDoc};
use crate::diagnostics::{did_you_mean, Diagnostic, Span};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::path::{Path, PathBuf};

pub use crate::adapter::Target;

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
            for (k, v) in t.jinja_keys() {
                m.insert(k.into(), v);
            }
            Json::Object(m)
        }
        None => {
            let ty = crate::adapter::ENGINES[0].dialect.name;
            serde_json::json!({"name": "none", "schema": "main", "database": "memory", "type": ty, "threads": 1})
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
/// Relative paths in the output are relative to the project folder `root`.
pub fn resolve(
    doc: &YamlDoc,
    profile: &str,
    target: Option<&str>,
    file: &Path,
    root: &Path,
) -> Result<Target, Vec<Diagnostic>> {
    resolve_one(doc, profile, target, file, root).map_err(|mut v| {
        v.sort_by_key(|d| d.span.as_ref().map(|s| (s.line, s.col)));
        v
    })
}

fn resolve_one(
    doc: &YamlDoc,
    profile: &str,
    target: Option<&str>,
    file: &Path,
    project_root: &Path,
) -> Result<Target, Vec<Diagnostic>> {
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
    let Some(engine) = crate::adapter::engine(&ty) else {
        let names: Vec<&str> = crate::adapter::ENGINES.iter().map(|e| e.dialect.name).collect();
        let shown: Vec<&str> = crate::adapter::ENGINES.iter().map(|e| e.display_name).collect();
        return Err(vec![Diagnostic::error(
            "E0306",
            format!("target '{target_name}' has type '{ty}'; strata runs on {} only", shown.join(" or ")),
        )
        .with_span(doc.span(&opath.key("type")))
        .with_help(format!("set `type: {}`", names.join("` or `type: ")))]);
    };
    let mut problems = vec![];
    for key in raw.keys() {
        let span = doc.span(&opath.key(key));
        if let Some((_, why)) = engine.unsupported_keys.iter().find(|(k, _)| k == key) {
            problems.push(
                Diagnostic::error("E0309", format!("profile key `{key}` is not supported by strata"))
                    .with_span(span)
                    .with_note(why.to_string())
                    .with_help(format!("remove `{key}` from target '{target_name}'")),
            );
        } else if !engine.keys.contains(&key.as_str()) {
            let known = engine.keys.iter().chain(engine.unsupported_keys.iter().map(|(k, _)| k)).copied();
            problems.push(
                Diagnostic::error("E0310", format!("unknown key `{key}` in target '{target_name}'"))
                    .with_span(span)
                    .with_help(did_you_mean(key, known).unwrap_or_else(|| {
                        format!("the keys of a {} target are {}", engine.dialect.name, engine.keys.join(", "))
                    })),
            );
        }
    }
    let at = OutputSpans { doc, output: &opath };
    let read = (engine.read_target)(&raw, project_root, &at);
    let (settings, default_database) = match read {
        Ok(r) if problems.is_empty() => r,
        Ok(_) => return Err(problems),
        Err(more) => {
            problems.extend(more);
            return Err(problems);
        }
    };
    let database = raw.get("database").and_then(json_str).unwrap_or(default_database);
    let threads = match raw.get("threads") {
        Some(Json::Number(n)) => n.as_u64().unwrap_or(1).max(1) as usize,
        Some(Json::String(s)) => s.parse().unwrap_or(1),
        _ => 1,
    };
    Ok(Target {
        profile_name: profile.to_string(),
        name: target_name,
        adapter_type: ty,
        schema: raw.get("schema").and_then(json_str).unwrap_or_else(|| "main".into()),
        database,
        threads,
        raw,
        profiles_file: file.to_path_buf(),
        project_root: project_root.to_path_buf(),
        engine: settings,
    })
}

/// Where the keys of one profile output are written.
struct OutputSpans<'a> {
    doc: &'a YamlDoc,
    output: &'a YPath,
}

impl crate::adapter::Locate for OutputSpans<'_> {
    fn key(&self, key: &str) -> Span {
        self.doc.span(&self.output.key(key))
    }
    fn item(&self, key: &str, index: usize) -> Span {
        self.doc.span(&self.output.key(key).index(index))
    }
}

fn json_str(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> YamlDoc {
        YamlDoc::parse(Path::new("profiles.yml"), s).unwrap()
    }

    #[test]
    fn resolves_default_target_and_names_missing_ones() {
        let d = doc("shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: data/shop.duckdb\n      threads: 4\n");
        let t = resolve(&d, "shop", None, Path::new("profiles.yml"), Path::new(".")).unwrap();
        assert_eq!((t.database.as_str(), t.schema.as_str(), t.threads), ("shop", "main", 4));
        let e = resolve(&d, "shop", Some("prod"), Path::new("profiles.yml"), Path::new(".")).unwrap_err().remove(0);
        assert_eq!(e.code, "E0304");
        assert!(e.notes[0].contains("dev"));
        let e = resolve(&d, "shopp", None, Path::new("profiles.yml"), Path::new(".")).unwrap_err().remove(0);
        assert_eq!(e.help.as_deref(), Some("did you mean 'shop'?"));
    }
}
