//! packages.yml (or dependencies.yml) and package-lock.yml as a project declares them, and the
//! load-time check that the declared packages are installed ([`check_installed`]). Resolving and
//! installing them is `strata deps`, in the `deps` module above this layer.

use crate::diagnostics::{rel_path, Diagnostic, Diagnostics, Span};
use crate::project::dbt_project::ProjectConfig;
use crate::project::yaml::{YPath, YamlDoc};
use crate::project::Package;
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where a package comes from, as written in packages.yml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// `local: path` (relative to the declaring project).
    Local {
        /// The path as written.
        path: String,
    },
    /// `git: url` with an optional revision (tag, branch or commit) and subdirectory.
    Git {
        /// Repository URL.
        url: String,
        /// Tag, branch or commit.
        revision: Option<String>,
        /// Folder inside the repository holding dbt_project.yml.
        subdirectory: Option<String>,
    },
    /// `package: org/name` with version ranges, from the package hub.
    Hub {
        /// `org/name`.
        package: String,
        /// Version constraints (all must hold).
        versions: Vec<String>,
        /// install-prerelease.
        prerelease: bool,
    },
    /// `tarball: url`.
    Tarball {
        /// Archive URL (.tar.gz).
        url: String,
        /// The package name, if given.
        name: Option<String>,
    },
}

impl Spec {
    /// What identifies the package across the dependency tree.
    pub fn key(&self) -> String {
        match self {
            Spec::Local { path } => format!("local:{path}"),
            Spec::Git { url, subdirectory, .. } => format!("git:{url}#{}", subdirectory.as_deref().unwrap_or("")),
            Spec::Hub { package, .. } => format!("hub:{}", package.to_lowercase()),
            Spec::Tarball { url, .. } => format!("tarball:{url}"),
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Spec::Local { path } => path.clone(),
            Spec::Git { url, .. } => url.clone(),
            Spec::Hub { package, .. } => package.clone(),
            Spec::Tarball { url, .. } => url.clone(),
        }
    }
}

/// One packages.yml entry and where it is written.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The entry.
    pub spec: Spec,
    /// The file (project-relative) and the entry's YAML path, for diagnostics.
    pub file: PathBuf,
    /// How the file is named in messages (where a fetched package's file will be installed).
    pub shown: PathBuf,
    /// YAML path of the entry.
    pub ypath: YPath,
    /// Folder the entry's relative paths start from.
    pub base: PathBuf,
    /// Who declared it: the root project or a package name.
    pub required_by: String,
}

/// The packages file of a project folder, if any: packages.yml, else dependencies.yml.
pub fn packages_file(dir: &Path) -> Option<PathBuf> {
    ["packages.yml", "dependencies.yml"].into_iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

pub fn span(root: &Path, file: &Path, yp: &YPath) -> Span {
    crate::project::yaml::span_at(root, file, yp)
}

/// Read the package entries of a project folder (`dir`), reporting malformed ones.
pub fn read_specs(
    root: &Path,
    dir: &Path,
    required_by: &str,
    vars: &serde_json::Map<String, serde_json::Value>,
    diags: &mut Diagnostics,
) -> Vec<Declared> {
    let Some(path) = packages_file(dir) else { return vec![] };
    let shown = rel_path(root, &path);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::error("E0007", format!("cannot read {}: {e}", shown.display())));
            return vec![];
        }
    };
    let mut doc = match YamlDoc::parse(&shown, text) {
        Ok(d) => d,
        Err(d) => {
            diags.push(d);
            return vec![];
        }
    };
    // dbt's packages.yml context: env_var(), var() (--vars only), dbt_version.
    if let Err(e) = crate::jinja::render_config_strings(&mut doc.value, vars, None, false) {
        diags.push(e.with_span(Span::file_only(&shown)));
        return vec![];
    }
    let mut out = vec![];
    let Some(Yaml::Sequence(items)) = doc.value.get("packages") else {
        if !doc.value.is_null() && doc.value.get("projects").is_none() {
            diags.push(
                Diagnostic::error("E0903", format!("{} has no `packages:` list", shown.display()))
                    .with_span(doc.span(&YPath::default()))
                    .with_help("write `packages:` followed by entries like `- package: dbt-labs/dbt_utils`"),
            );
        }
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let yp = YPath::default().key("packages").index(i);
        let s = |k: &str| item.get(k).and_then(crate::project::yaml::as_string);
        let spec = if let Some(path) = s("local") {
            Some(Spec::Local { path })
        } else if let Some(url) = s("git") {
            Some(Spec::Git { url, revision: s("revision"), subdirectory: s("subdirectory") })
        } else if let Some(package) = s("package") {
            let versions = match item.get("version") {
                Some(Yaml::Sequence(v)) => v.iter().filter_map(crate::project::yaml::as_string).collect(),
                Some(v) => crate::project::yaml::as_string(v).into_iter().collect(),
                None => vec![],
            };
            let prerelease = item.get("install-prerelease").and_then(Yaml::as_bool).unwrap_or(false);
            Some(Spec::Hub { package, versions, prerelease })
        } else {
            s("tarball").map(|url| Spec::Tarball { url, name: s("name") })
        };
        match spec {
            Some(spec) => out.push(Declared {
                spec,
                file: shown.clone(),
                shown: shown.clone(),
                ypath: yp,
                base: dir.to_path_buf(),
                required_by: required_by.to_string(),
            }),
            None => diags.push(
                Diagnostic::error("E0903", "package entry has none of `local`, `git`, `package` or `tarball`")
                    .with_span(doc.span(&yp))
                    .with_help("e.g. `- package: dbt-labs/dbt_utils` with `version: [\">=1.0.0\", \"<2.0.0\"]`"),
            ),
        }
    }
    out
}

/// Load-time check: every package the project declares is installed (as dbt checks before it
/// parses). Uses package-lock.yml's names when there is one, otherwise the counts.
pub fn check_installed(
    root: &Path,
    config: &ProjectConfig,
    packages: &[Package],
    vars: &serde_json::Map<String, serde_json::Value>,
    diags: &mut Diagnostics,
) {
    let mut local = Diagnostics::default();
    let declared = read_specs(root, root, &config.name, vars, &mut local);
    if declared.is_empty() {
        return;
    }
    let installed: BTreeSet<&str> = packages[1..].iter().map(|p| p.name.as_str()).collect();
    let lock = read_lock(root);
    let missing: Vec<String> = match &lock {
        Some(l) if l.sha1_hash == spec_hash(&declared) => {
            l.packages.iter().map(|p| p.name.clone()).filter(|n| !installed.contains(n.as_str())).collect()
        }
        _ if installed.len() < declared.len() => declared.iter().map(|d| d.spec.describe()).collect(),
        _ => vec![],
    };
    if missing.is_empty() {
        return;
    }
    let have = if installed.is_empty() {
        "none".to_string()
    } else {
        installed.iter().copied().collect::<Vec<_>>().join(", ")
    };
    diags.push(
        Diagnostic::error(
            "E0901",
            format!(
                "{} package(s) declared in {} are not installed in {}/: {}",
                missing.len(),
                declared[0].file.display(),
                config.packages_install_path,
                missing.join(", ")
            ),
        )
        .with_span(span(root, &declared[0].file, &YPath::default().key("packages")))
        .with_note(format!("installed: {have}"))
        .with_help("run `strata deps` to install them"),
    );
}

/// A resolved package, as package-lock.yml records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// The package name (its dbt_project.yml `name`).
    pub name: String,
    /// The exact source: local path, git commit, hub version or tarball URL.
    pub spec: Spec,
}

/// package-lock.yml.
#[derive(Debug, Clone, Default)]
pub struct Lock {
    /// Every package, direct and transitive, sorted by name.
    pub packages: Vec<Locked>,
    /// The hash of the packages.yml entries the lock was resolved from.
    pub sha1_hash: String,
}

pub fn read_lock(root: &Path) -> Option<Lock> {
    let text = std::fs::read_to_string(root.join("package-lock.yml")).ok()?;
    let v: Yaml = serde_yaml::from_str(&text).ok()?;
    let s = |item: &Yaml, k: &str| item.get(k).and_then(crate::project::yaml::as_string);
    let mut packages = vec![];
    for item in v.get("packages")?.as_sequence()? {
        let spec = if let Some(path) = s(item, "local") {
            Spec::Local { path }
        } else if let Some(url) = s(item, "git") {
            Spec::Git { url, revision: s(item, "revision"), subdirectory: s(item, "subdirectory") }
        } else if let Some(package) = s(item, "package") {
            Spec::Hub { package, versions: s(item, "version").into_iter().collect(), prerelease: true }
        } else {
            Spec::Tarball { url: s(item, "tarball")?, name: s(item, "name") }
        };
        let name =
            s(item, "name").unwrap_or_else(|| spec.describe().rsplit('/').next().unwrap_or_default().to_string());
        packages.push(Locked { name, spec });
    }
    Some(Lock { packages, sha1_hash: s(&v, "sha1_hash").unwrap_or_default() })
}

/// The hash of the root project's package entries, recorded in the lock so that a changed
/// packages.yml is resolved again.
pub fn spec_hash(declared: &[Declared]) -> String {
    use sha1::Digest;
    let mut lines: Vec<String> = declared.iter().map(|d| format!("{:?}", d.spec)).collect();
    lines.sort();
    format!("{:x}", sha1::Sha1::digest(lines.join("\n").as_bytes()))
}
