//! `dbt_project.yml`: the project's name, paths, vars, hooks and the folder config trees
//! (`models:`, `seeds:` ...). Strings are rendered with `env_var()`/`var()` as dbt does, except
//! hooks and `vars`, which are rendered when used.

use super::config::{canonical_key, Config, KNOWN_CONFIG_KEYS};
use super::yaml::{as_string, key_string, string_list, to_json, YPath, YamlDoc};
use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

/// Top-level keys dbt accepts in dbt_project.yml.
pub const PROJECT_KEYS: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "source-paths",
    "seed-paths",
    "data-paths",
    "test-paths",
    "analysis-paths",
    "macro-paths",
    "snapshot-paths",
    "docs-paths",
    "asset-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "modules-path",
    "clean-targets",
    "on-run-start",
    "on-run-end",
    "require-dbt-version",
    "quoting",
    "models",
    "seeds",
    "snapshots",
    "sources",
    "tests",
    "data_tests",
    "unit_tests",
    "metrics",
    "semantic-models",
    "saved-queries",
    "exposures",
    "vars",
    "dispatch",
    "query-comment",
    "restrict-access",
    "dbt-cloud",
    "flags",
    "analyses",
];

/// A folder-config tree: configs at this level, and children by folder or node name.
#[derive(Debug, Clone, Default)]
pub struct FolderTree {
    /// Configs set at this level (`+key: value`).
    pub configs: Config,
    /// Sub-folders, packages or node names.
    pub children: BTreeMap<String, FolderTree>,
    /// Where this level sits in dbt_project.yml.
    pub path: Vec<String>,
}

impl FolderTree {
    /// The merged folder configs for a node with this fqn (package first).
    pub fn resolve(&self, fqn: &[String]) -> Config {
        let mut out = self.configs.clone();
        let mut cur = self;
        for part in fqn {
            match cur.children.get(part) {
                Some(child) => {
                    out.merge(&child.configs);
                    cur = child;
                }
                None => break,
            }
        }
        out
    }

    /// Every path in the tree (without the root), for the unused-path check.
    pub fn paths(&self) -> Vec<Vec<String>> {
        let mut out = vec![];
        for child in self.children.values() {
            out.push(child.path.clone());
            out.extend(child.paths());
        }
        out
    }
}

/// Per-project vars: global ones and those scoped to a package.
#[derive(Debug, Clone, Default)]
pub struct VarsConfig {
    /// Vars for every package.
    pub global: Map<String, Json>,
    /// Vars for one package (`vars: {pkg: {...}}`).
    pub scoped: BTreeMap<String, Map<String, Json>>,
    /// Each installed package's own vars: defaults for its nodes, below the root project's.
    pub package_defaults: BTreeMap<String, Map<String, Json>>,
}

/// The parsed dbt_project.yml.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// Project name (also the root package name).
    pub name: String,
    /// Version string, if any.
    pub version: Option<String>,
    /// Profile to use from profiles.yml (defaults to the project name).
    pub profile: Option<String>,
    /// Folders with models.
    pub model_paths: Vec<String>,
    /// Folders with seeds.
    pub seed_paths: Vec<String>,
    /// Folders with macros.
    pub macro_paths: Vec<String>,
    /// Folders with tests.
    pub test_paths: Vec<String>,
    /// Folders with snapshots.
    pub snapshot_paths: Vec<String>,
    /// Folders with analyses.
    pub analysis_paths: Vec<String>,
    /// Folders with docs blocks (defaults to all resource paths).
    pub docs_paths: Option<Vec<String>>,
    /// Where artifacts go.
    pub target_path: String,
    /// Where logs go.
    pub log_path: String,
    /// Where packages are installed.
    pub packages_install_path: String,
    /// What `clean` removes.
    pub clean_targets: Vec<String>,
    /// Vars.
    pub vars: VarsConfig,
    /// Hooks run at the start of run/build/seed.
    pub on_run_start: Vec<String>,
    /// Hooks run at the end of run/build/seed.
    pub on_run_end: Vec<String>,
    /// `models:` config tree.
    pub models: FolderTree,
    /// `seeds:` config tree.
    pub seeds: FolderTree,
    /// `snapshots:` config tree.
    pub snapshots: FolderTree,
    /// `data_tests:`/`tests:` config tree.
    pub tests: FolderTree,
    /// `sources:` config tree.
    pub sources: FolderTree,
    /// `analyses:` config tree.
    pub analyses: FolderTree,
    /// `dispatch:` as written.
    pub dispatch: Json,
    /// `quoting:` as written.
    pub quoting: Json,
    /// The file, for locating diagnostics later (unused config paths).
    pub doc: YamlDoc,
}

impl ProjectConfig {
    /// Resource folders where docs blocks and property YAML may live.
    pub fn resource_paths(&self) -> Vec<String> {
        let mut out = vec![];
        for p in self
            .model_paths
            .iter()
            .chain(&self.seed_paths)
            .chain(&self.snapshot_paths)
            .chain(&self.analysis_paths)
            .chain(&self.macro_paths)
            .chain(&self.test_paths)
        {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }
}

/// Parse dbt_project.yml from an already-rendered document.
pub fn parse(doc: YamlDoc, diags: &mut Diagnostics) -> Option<ProjectConfig> {
    let root = YPath::default();
    let Yaml::Mapping(map) = &doc.value else {
        diags.push(
            Diagnostic::error("E0002", "dbt_project.yml must be a mapping")
                .with_span(doc.span(&root))
                .with_help("start the file with `name: my_project`"),
        );
        return None;
    };
    for (k, _) in map {
        let k = key_string(k);
        if !PROJECT_KEYS.contains(&k.as_str()) {
            diags.push(
                Diagnostic::error("E0003", format!("unknown key '{k}' in dbt_project.yml"))
                    .with_span(doc.span(&root.key(&k)))
                    .with_opt_help(did_you_mean(&k, PROJECT_KEYS.iter().copied())),
            );
        }
    }
    let get = |k: &str| map.get(Yaml::String(k.into()));
    let paths = |k: &str, alt: Option<&str>, default: &str| -> Vec<String> {
        get(k).or_else(|| alt.and_then(get)).map(string_list).unwrap_or_else(|| vec![default.to_string()])
    };
    let name = match get("name").and_then(as_string) {
        Some(n) => n,
        None => {
            diags.push(
                Diagnostic::error("E0004", "dbt_project.yml has no `name`")
                    .with_span(doc.span(&root))
                    .with_help("add `name: my_project` at the top of dbt_project.yml"),
            );
            return None;
        }
    };
    let mut vars = VarsConfig::default();
    if let Some(Yaml::Mapping(v)) = get("vars") {
        for (k, val) in v {
            let k = key_string(k);
            match (k == name, val) {
                (true, Yaml::Mapping(_)) => {
                    if let Json::Object(m) = to_json(val) {
                        vars.scoped.insert(k, m);
                    }
                }
                _ => {
                    vars.global.insert(k, to_json(val));
                }
            }
        }
    }
    let mut tree = |k: &str, alt: Option<&str>| -> FolderTree {
        let key = if get(k).is_some() { k } else { alt.unwrap_or(k) };
        match get(key) {
            Some(v) => build_tree(&doc, v, &root.key(key), vec![key.to_string()], diags),
            None => FolderTree::default(),
        }
    };
    let models = tree("models", None);
    let seeds = tree("seeds", None);
    let snapshots = tree("snapshots", None);
    let tests = tree("data_tests", Some("tests"));
    let sources = tree("sources", None);
    let analyses = tree("analyses", None);
    let target_path = get("target-path").and_then(as_string).unwrap_or_else(|| "target".into());
    Some(ProjectConfig {
        version: get("version").and_then(as_string),
        profile: get("profile").and_then(as_string),
        model_paths: paths("model-paths", Some("source-paths"), "models"),
        seed_paths: paths("seed-paths", Some("data-paths"), "seeds"),
        macro_paths: paths("macro-paths", None, "macros"),
        test_paths: paths("test-paths", None, "tests"),
        snapshot_paths: paths("snapshot-paths", None, "snapshots"),
        analysis_paths: paths("analysis-paths", None, "analyses"),
        docs_paths: get("docs-paths").map(string_list),
        clean_targets: get("clean-targets").map(string_list).unwrap_or_else(|| vec![target_path.clone()]),
        target_path,
        log_path: get("log-path").and_then(as_string).unwrap_or_else(|| "logs".into()),
        packages_install_path: get("packages-install-path")
            .or_else(|| get("modules-path"))
            .and_then(as_string)
            .unwrap_or_else(|| "dbt_packages".into()),
        vars,
        on_run_start: get("on-run-start").map(string_list).unwrap_or_default(),
        on_run_end: get("on-run-end").map(string_list).unwrap_or_default(),
        models,
        seeds,
        snapshots,
        tests,
        sources,
        analyses,
        dispatch: get("dispatch").map(to_json).unwrap_or(Json::Null),
        quoting: get("quoting").map(to_json).unwrap_or(Json::Null),
        name,
        doc,
    })
}

/// Keys that are configs even without a `+` when their value is not a mapping of folders.
fn is_config_key(key: &str, value: &Yaml) -> bool {
    if key.starts_with('+') {
        return true;
    }
    let canon = canonical_key(key);
    KNOWN_CONFIG_KEYS.contains(&canon.as_str())
        && (!matches!(value, Yaml::Mapping(_))
            || matches!(
                canon.as_str(),
                "meta" | "docs" | "persist_docs" | "column_types" | "quoting" | "grants" | "contract"
            ))
}

fn build_tree(doc: &YamlDoc, v: &Yaml, ypath: &YPath, path: Vec<String>, diags: &mut Diagnostics) -> FolderTree {
    let mut tree = FolderTree { path: path.clone(), ..Default::default() };
    let Yaml::Mapping(m) = v else {
        if !v.is_null() {
            diags.push(
                Diagnostic::error("E0005", format!("`{}` must be a mapping of folders and +configs", path.join(".")))
                    .with_span(doc.span(ypath)),
            );
        }
        return tree;
    };
    for (k, val) in m {
        let key = key_string(k);
        if is_config_key(&key, val) {
            let canon = canonical_key(&key);
            if canon == "grants" {
                diags.push(
                    Diagnostic::warning("W0104", "`grants` is ignored: DuckDB has no privileges to grant")
                        .with_span(doc.span(&ypath.key(&key))),
                );
                continue;
            }
            if !KNOWN_CONFIG_KEYS.contains(&canon.as_str()) {
                diags.push(
                    Diagnostic::warning("W0102", format!("unknown config key '{key}' in dbt_project.yml"))
                        .with_span(doc.span(&ypath.key(&key)))
                        .with_help(did_you_mean(&canon, KNOWN_CONFIG_KEYS.iter().copied()).unwrap_or_else(|| {
                            "custom configs belong under `+meta:`; this key is kept but nothing reads it".into()
                        })),
                );
            }
            tree.configs.set(&canon, to_json(val));
        } else {
            let mut child_path = path.clone();
            child_path.push(key.clone());
            let child = build_tree(doc, val, &ypath.key(&key), child_path, diags);
            tree.children.insert(key, child);
        }
    }
    tree
}
