//! Files and YAML: find the project, read dbt_project.yml and profiles.yml, walk the resource
//! folders and parse property YAML. No Jinja is rendered here except the `env_var()`/`var()`
//! strings of the two config files (through `jinja::render_config_strings`).
//! In: [`LoadOptions`]. Out: [`Project`] or the diagnostics that stop the command.

pub mod config;
pub mod dbt_project;
pub mod microbatch;
pub mod packages;
pub mod profiles;
pub mod properties;
pub mod yaml;

use crate::diagnostics::{rel_path, Diagnostic, Diagnostics, Span};
use dbt_project::ProjectConfig;
use profiles::Target;
use properties::Properties;
use rayon::prelude::*;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use yaml::YamlDoc;

/// What `load` needs to know from the command line and the environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The project folder (holding dbt_project.yml).
    pub project_dir: PathBuf,
    /// --profiles-dir.
    pub profiles_dir: Option<PathBuf>,
    /// DBT_PROFILES_DIR.
    pub profiles_env_dir: Option<PathBuf>,
    /// The home folder, for ~/.dbt.
    pub home: Option<PathBuf>,
    /// --target.
    pub target: Option<String>,
    /// --vars, parsed.
    pub cli_vars: Map<String, Json>,
    /// Whether a profile is needed (false for `parse`, `ls`, `clean` when none is found).
    pub require_profile: bool,
    /// Whether the packages in packages.yml must be installed (false for `clean`).
    pub packages_required: bool,
}

/// A text file of the project.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the project root, with `/` separators.
    pub path: String,
    /// Path relative to the resource folder it was found in (e.g. `staging/stg_orders.sql`).
    pub resource_path: String,
    /// Absolute path.
    pub abs_path: PathBuf,
    /// The file's text (shared with the node parsed from it: the two are the same text).
    pub source: std::sync::Arc<str>,
}

impl SourceFile {
    /// The file name without extension.
    pub fn stem(&self) -> String {
        Path::new(&self.resource_path).file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default()
    }
    /// The folders between the resource folder and the file.
    pub fn folders(&self) -> Vec<String> {
        let p = Path::new(&self.resource_path);
        p.parent()
            .map(|d| d.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect())
            .unwrap_or_default()
    }
}

/// One package's files: the root project's, or an installed package's.
#[derive(Debug, Clone)]
pub struct Package {
    /// The package name (its dbt_project.yml `name`).
    pub name: String,
    /// Its folder, absolute.
    pub dir: PathBuf,
    /// Its dbt_project.yml.
    pub config: ProjectConfig,
    /// Model files (.sql, and .py python models).
    pub models: Vec<SourceFile>,
    /// Analysis files.
    pub analyses: Vec<SourceFile>,
    /// Seed files (.csv); `source` is left empty, seeds are read when loaded.
    pub seeds: Vec<SourceFile>,
    /// Macro files.
    pub macros: Vec<SourceFile>,
    /// Singular test files under test-paths (excluding tests/generic and fixtures).
    pub tests: Vec<SourceFile>,
    /// Generic test definitions under tests/generic.
    pub generic_tests: Vec<SourceFile>,
    /// Snapshot files.
    pub snapshots: Vec<SourceFile>,
    /// Markdown files that may hold docs blocks.
    pub docs: Vec<SourceFile>,
    /// Property YAML, merged.
    pub properties: Properties,
}

/// Everything read from disk for one invocation.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project folder, absolute.
    pub root: PathBuf,
    /// dbt_project.yml.
    pub config: ProjectConfig,
    /// The connection target, when a profile was found.
    pub target: Option<Target>,
    /// --vars.
    pub cli_vars: Map<String, Json>,
    /// The root project's files first, then each installed package's (sorted by name).
    pub packages: Vec<Package>,
}

impl Project {
    /// The root project's files.
    pub fn root_package(&self) -> &Package {
        &self.packages[0]
    }

    /// A macro's `macros:` properties, from its own package's property files.
    pub fn macro_patch(&self, package: &str, name: &str) -> Option<&properties::MacroPatch> {
        self.packages.iter().find(|p| p.name == package)?.properties.macros.get(name)
    }

    /// The engine the project runs on: its target's `type` (DuckDB without a profile).
    pub fn engine(&self) -> &'static crate::adapter::Engine {
        crate::adapter::engine_for(self.target.as_ref())
    }
}

/// Load the project: config files, then every resource file of it and of its installed
/// packages, in parallel.
pub fn load(opts: &LoadOptions) -> Result<(Project, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let root = std::fs::canonicalize(&opts.project_dir).unwrap_or_else(|_| opts.project_dir.clone());
    if !root.join("dbt_project.yml").is_file() {
        diags.push(
            Diagnostic::error("E0006", format!("no dbt_project.yml in {}", opts.project_dir.display()))
                .with_help("run strata inside a dbt project, pass --project-dir, or create one with `strata init`"),
        );
        return Err(diags);
    }
    // The target first: dbt_project.yml renders with it (`{{ target.type }}` in configs and vars).
    let profile = raw_profile_name(&root);
    // Problems in the config files do not stop the walk: every file's problems are reported.
    // A dbt_project.yml that cannot be read names no profile: its own error says why, and a
    // "profile '' not found" would only add noise.
    let target = match load_target(opts, &root, &profile) {
        Ok(t) => Some(t),
        Err(ds) => {
            if opts.require_profile && !profile.is_empty() {
                diags.extend(ds);
            }
            None
        }
    };
    let target_value = profiles::target_value(target.as_ref());
    let Some(mut config) = read_project_file(&root, &root, &opts.cli_vars, &target_value, &mut diags) else {
        return Err(diags);
    };
    let mut packages = vec![load_package(&root, &root, config.clone(), &mut diags)];
    for dir in installed_package_dirs(&root, &config) {
        let Some(pc) = read_project_file(&root, &dir, &opts.cli_vars, &target_value, &mut diags) else { continue };
        if pc.name == config.name || packages.iter().any(|p| p.name == pc.name) {
            diags.push(
                Diagnostic::error("E0902", format!("two installed packages are named '{}'", pc.name))
                    .with_span(Span::file_only(rel_path(&root, &dir.join("dbt_project.yml"))))
                    .with_help("remove one of them from the packages folder and run `strata deps`"),
            );
            continue;
        }
        packages.push(load_package(&root, &dir, pc, &mut diags));
    }
    packages[1..].sort_by(|a, b| a.name.cmp(&b.name));
    // vars: {pkg: {...}} in the root project scopes vars to that package; a package's own vars
    // are defaults for its nodes.
    let names: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let globals = std::mem::take(&mut config.vars.global);
    for (k, v) in globals {
        match v {
            Json::Object(m) if names.contains(&k) => {
                config.vars.scoped.entry(k).or_default().extend(m);
            }
            v => {
                config.vars.global.insert(k, v);
            }
        }
    }
    for p in &packages[1..] {
        let mut defaults = p.config.vars.global.clone();
        if let Some(own) = p.config.vars.scoped.get(&p.name) {
            defaults.extend(own.clone());
        }
        config.vars.package_defaults.insert(p.name.clone(), defaults);
    }
    packages[0].config = config.clone();
    if opts.packages_required {
        packages::check_installed(&root, &config, &packages, &opts.cli_vars, &mut diags);
    }
    let project = Project { root, config, target, cli_vars: opts.cli_vars.clone(), packages };
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok((project, diags))
    }
}

/// Read and render one dbt_project.yml (the root's or a package's).
pub fn read_project_file(
    root: &Path,
    dir: &Path,
    cli_vars: &Map<String, Json>,
    target: &Json,
    diags: &mut Diagnostics,
) -> Option<ProjectConfig> {
    let shown = rel_path(root, &dir.join("dbt_project.yml"));
    let text = match std::fs::read_to_string(dir.join("dbt_project.yml")) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::error("E0007", format!("cannot read {}: {e}", shown.display())));
            return None;
        }
    };
    let doc = match YamlDoc::parse(&shown, text) {
        Ok(mut d) => {
            crate::jinja::render_config_strings(&mut d.value, cli_vars, Some(target), true)
                .map_err(|e| diags.push(e.with_span(Span::file_only(&shown))))
                .ok();
            d
        }
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    if root == dir {
        return dbt_project::parse(doc, diags);
    }
    // An installed package's unknown top-level keys are not the user's to fix: warnings.
    let mut own = Diagnostics::default();
    let parsed = dbt_project::parse(doc, &mut own);
    for mut d in own.items {
        if d.code == "E0003" {
            d.code = "W0108";
            d.severity = crate::diagnostics::Severity::Warning;
        }
        diags.push(d);
    }
    parsed
}

/// Folders under packages-install-path that hold a dbt project, sorted.
pub fn installed_package_dirs(root: &Path, config: &ProjectConfig) -> Vec<PathBuf> {
    let base = root.join(&config.packages_install_path);
    let Ok(entries) = std::fs::read_dir(&base) else { return vec![] };
    let mut dirs: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("dbt_project.yml").is_file()).collect();
    dirs.sort();
    dirs
}

/// Walk one package's resource folders. Paths stay relative to the root project, so every
/// diagnostic names a file the user can open.
fn load_package(root: &Path, dir: &Path, config: ProjectConfig, diags: &mut Diagnostics) -> Package {
    let prefix = rel_path(root, dir).to_string_lossy().replace('\\', "/");
    let fix = |mut files: Vec<SourceFile>| -> Vec<SourceFile> {
        if !prefix.is_empty() && prefix != "." {
            for f in &mut files {
                f.path = format!("{prefix}/{}", f.path);
            }
        }
        files
    };
    let mut walker = Walker { root: dir, walked: HashMap::new() };
    let mut walk = |paths: &[String], exts: &[&str]| -> Vec<SourceFile> {
        let (files, problems) = walker.files(paths, exts);
        diags.extend(problems);
        fix(files)
    };
    let mut models = walk(&config.model_paths, &["sql", "py"]);
    let analyses = walk(&config.analysis_paths, &["sql"]);
    let macros = walk(&config.macro_paths, &["sql"]);
    let all_tests = walk(&config.test_paths, &["sql"]);
    let (generic_tests, tests): (Vec<_>, Vec<_>) = all_tests
        .into_iter()
        .filter(|f| !f.resource_path.starts_with("fixtures/"))
        .partition(|f| f.resource_path.starts_with("generic/"));
    let snapshots = walk(&config.snapshot_paths, &["sql"]);
    let docs_paths = config.docs_paths.clone().unwrap_or_else(|| config.resource_paths());
    let docs = walk(&docs_paths, &["md"]);
    let yaml_paths = config.resource_paths();
    let yaml_files = walk(&yaml_paths, &["yml", "yaml"]);
    let seeds = fix(walker.files_no_read(&config.seed_paths, &["csv"]));
    models.sort_by(|a, b| a.path.cmp(&b.path));

    // Each property file is parsed and read on its own, on every core; they are merged in walk
    // order, so a node described in two files is reported at the second.
    let parsed: Vec<Result<(YamlDoc, Properties, Diagnostics), Diagnostic>> = yaml_files
        .into_par_iter()
        .map(|f| {
            let mut doc = YamlDoc::parse(Path::new(&f.path), f.source)?;
            let (mut props, mut problems) = (Properties::default(), Diagnostics::default());
            props.add_file(&doc, &mut problems);
            // The merge locates a duplicate in the text: the parsed tree is freed here, on a
            // worker of its own (10 ms for a 1.6 MB file).
            let tree = std::mem::take(&mut doc.value);
            rayon::spawn(move || drop(tree));
            Ok((doc, props, problems))
        })
        .collect();
    let mut properties = Properties::default();
    for p in parsed {
        match p {
            Ok((doc, props, problems)) => {
                diags.extend(problems.items);
                properties.merge(props, &doc, diags);
            }
            Err(d) => diags.push(d),
        }
    }
    Package {
        name: config.name.clone(),
        dir: dir.to_path_buf(),
        config,
        models,
        analyses,
        seeds,
        macros,
        tests,
        generic_tests,
        snapshots,
        docs,
        properties,
    }
}

/// The profile dbt_project.yml asks for (`profile:`, else its `name`), read before the file is
/// rendered (it needs the profile's target).
fn raw_profile_name(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("dbt_project.yml")).unwrap_or_default();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or(serde_yaml::Value::Null);
    let get = |k: &str| doc.get(k).and_then(serde_yaml::Value::as_str).map(str::to_string);
    get("profile").or_else(|| get("name")).unwrap_or_default()
}

fn load_target(opts: &LoadOptions, root: &Path, profile: &str) -> Result<Target, Vec<Diagnostic>> {
    let dirs = profiles::candidate_dirs(
        opts.profiles_dir.as_deref(),
        opts.profiles_env_dir.as_deref(),
        root,
        opts.home.as_deref(),
    );
    let Some(file) = dirs.iter().map(|d| d.join("profiles.yml")).find(|f| f.is_file()) else {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(vec![Diagnostic::error("E0307", format!("no profiles.yml found for profile '{profile}'"))
            .with_note(format!("searched: {}", searched.join(", ")))
            .with_help("pass --profiles-dir, set DBT_PROFILES_DIR, or put profiles.yml next to dbt_project.yml")]);
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| vec![Diagnostic::error("E0308", format!("cannot read {}: {e}", file.display()))])?;
    let shown = rel_path(root, &file);
    let mut doc = YamlDoc::parse(&shown, text).map_err(|d| vec![d])?;
    crate::jinja::render_config_strings(&mut doc.value, &opts.cli_vars, None, false)
        .map_err(|e| vec![e.with_span(Span::file_only(&shown))])?;
    let target = profiles::resolve(&doc, profile, opts.target.as_deref(), &file, root)?;
    Ok(target)
}

/// A package's files under its folders, each folder walked once however many kinds of file are
/// read from it (models, docs and property files share `models/`), in walkdir's order (by file
/// name within each folder). Each file is (absolute path, path from the package, path from the
/// folder walked).
struct Walker<'a> {
    root: &'a Path,
    walked: HashMap<String, Vec<(PathBuf, String, String)>>,
}

impl Walker<'_> {
    fn paths(&mut self, paths: &[String], exts: &[&str]) -> Vec<(PathBuf, String, String)> {
        let root = self.root;
        // The extension from the path's text (Path::extension's rule: not a leading dot).
        let wanted = |rel: &str| {
            let name = rel.rsplit_once('/').map_or(rel, |(_, n)| n);
            name.rsplit_once('.').is_some_and(|(stem, ext)| !stem.is_empty() && exts.contains(&ext))
        };
        let mut out = vec![];
        for base in paths {
            let files = self.walked.entry(base.clone()).or_insert_with(|| walk_dir(root, base));
            out.extend(files.iter().filter(|(_, rel, _)| wanted(rel)).cloned());
        }
        out
    }

    fn files_no_read(&mut self, paths: &[String], exts: &[&str]) -> Vec<SourceFile> {
        self.paths(paths, exts)
            .into_iter()
            .map(|(abs_path, path, resource_path)| SourceFile {
                path,
                resource_path,
                abs_path,
                source: std::sync::Arc::from(""),
            })
            .collect()
    }

    /// Every file with one of `exts` under `paths`, read in parallel, in walk order. A file that
    /// cannot be read (or is not UTF-8) is a diagnostic.
    fn files(&mut self, paths: &[String], exts: &[&str]) -> (Vec<SourceFile>, Vec<Diagnostic>) {
        let read: Vec<Result<SourceFile, Diagnostic>> = self
            .paths(paths, exts)
            .into_par_iter()
            .map(|(abs_path, path, resource_path)| match std::fs::read_to_string(&abs_path) {
                Ok(source) => Ok(SourceFile { path, resource_path, abs_path, source: source.into() }),
                Err(e) => Err(Diagnostic::error("E0007", format!("cannot read {path}: {e}"))
                    .with_span(Span::file_only(&path))
                    .with_help("project files must be UTF-8 text")),
            })
            .collect();
        let mut files = vec![];
        let mut diags = vec![];
        for r in read {
            match r {
                Ok(f) => files.push(f),
                Err(d) => diags.push(d),
            }
        }
        (files, diags)
    }
}

/// Every file under `root/base`.
fn walk_dir(root: &Path, base: &str) -> Vec<(PathBuf, String, String)> {
    let dir = root.join(base);
    if !dir.is_dir() {
        return vec![];
    }
    // Each path walked is `dir` and a relative path, and `dir` is `root/base`: when `base` is a
    // plain relative path, both relative paths are slices of the path's text (no component
    // parsing for each of 10,000 files).
    let plain = !base.is_empty() && base.split('/').all(|s| !s.is_empty() && s != "." && s != "..");
    let prefixes = match (plain, root.to_str(), dir.to_str()) {
        (true, Some(r), Some(d)) if !r.ends_with('/') => Some((r.len() + 1, d.len() + 1)),
        _ => None,
    };
    let slash = |s: &str| if s.contains('\\') { s.replace('\\', "/") } else { s.to_string() };
    files_under(&dir)
        .into_iter()
        .map(|p| {
            let (rel, res) = match (prefixes, p.to_str()) {
                (Some((r, d)), Some(text)) if text.len() > d => (slash(&text[r..]), slash(&text[d..])),
                _ => (
                    rel_path(root, &p).to_string_lossy().replace('\\', "/"),
                    p.strip_prefix(&dir).unwrap_or(&p).to_string_lossy().replace('\\', "/"),
                ),
            };
            (p, rel, res)
        })
        .collect()
}

/// The files under `dir`, depth first, each folder's entries in file-name order (a folder's
/// files where its name sorts among them), as walkdir's `sort_by_file_name` walks; symlinks are
/// neither followed nor listed, and what cannot be read is skipped. Sub-folders are read on
/// every core.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else { return vec![] };
    let mut entries: Vec<(std::ffi::OsString, PathBuf, bool)> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let t = e.file_type().ok()?;
            (t.is_file() || t.is_dir()).then(|| (e.file_name(), e.path(), t.is_dir()))
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let parts: Vec<Vec<PathBuf>> =
        entries.into_par_iter().map(|(_, path, is_dir)| if is_dir { files_under(&path) } else { vec![path] }).collect();
    parts.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_gives_paths_from_the_package_and_the_folder_in_name_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for f in ["models/b.sql", "models/a/z.sql", "models/a/y.yml", "models/.sql", "models/c.py", "other/x.sql"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "select 1").unwrap();
        }
        // Symlinks are neither followed nor listed (walkdir's default).
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("models/b.sql"), root.join("models/link.sql")).unwrap();
            std::os::unix::fs::symlink(root.join("other"), root.join("models/linked_dir")).unwrap();
        }
        let mut walker = Walker { root, walked: HashMap::new() };
        let rels = |w: &mut Walker, base: &str, exts: &[&str]| -> Vec<(String, String)> {
            w.paths(&[base.to_string()], exts).into_iter().map(|(_, rel, res)| (rel, res)).collect()
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
        };
        assert_eq!(
            rels(&mut walker, "models", &["sql", "py"]),
            pairs(&[("models/a/z.sql", "a/z.sql"), ("models/b.sql", "b.sql"), ("models/c.py", "c.py")])
        );
        assert_eq!(rels(&mut walker, "models", &["yml"]), pairs(&[("models/a/y.yml", "a/y.yml")]));
        // A folder written with `./` or a trailing slash walks the same files.
        for base in ["./models", "models/"] {
            assert_eq!(rels(&mut walker, base, &["yml"]), pairs(&[("models/a/y.yml", "a/y.yml")]), "{base}");
        }
        assert!(rels(&mut walker, "missing", &["sql"]).is_empty());
    }
}
