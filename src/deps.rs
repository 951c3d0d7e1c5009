//! Packages: `strata deps` reads packages.yml (or dependencies.yml), resolves local, git, hub and
//! tarball packages with their own dependencies, installs them into packages-install-path and
//! writes package-lock.yml; a later `deps` installs the locked versions again, offline when the
//! download cache has them. Reading packages.yml and package-lock.yml, and the load-time check
//! that the declared packages are installed, are in [`crate::project::packages`].
//! In: the project folder. Out: installed package folders, package-lock.yml, or diagnostics.

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use crate::project::dbt_project::ProjectConfig;
use crate::project::packages::{read_lock, read_specs, span, spec_hash, Declared, Lock, Locked, Spec};
use crate::project::yaml::YPath;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

fn write_lock(root: &Path, lock: &Lock) -> std::io::Result<()> {
    let mut out = String::from("packages:\n");
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    for p in &lock.packages {
        match &p.spec {
            Spec::Local { path } => out.push_str(&format!("  - local: {}\n", q(path))),
            Spec::Git { url, revision, subdirectory } => {
                out.push_str(&format!("  - git: {}\n", q(url)));
                if let Some(r) = revision {
                    out.push_str(&format!("    revision: {}\n", q(r)));
                }
                if let Some(s) = subdirectory {
                    out.push_str(&format!("    subdirectory: {}\n", q(s)));
                }
            }
            Spec::Hub { package, versions, .. } => {
                out.push_str(&format!("  - package: {}\n", q(package)));
                out.push_str(&format!("    version: {}\n", q(versions.first().map(String::as_str).unwrap_or(""))));
            }
            Spec::Tarball { url, .. } => out.push_str(&format!("  - tarball: {}\n", q(url))),
        }
        out.push_str(&format!("    name: {}\n", q(&p.name)));
    }
    out.push_str(&format!("sha1_hash: {}\n", lock.sha1_hash));
    std::fs::write(root.join("package-lock.yml"), out)
}

/// Where deps finds the network and its download cache.
#[derive(Debug, Clone)]
pub struct DepsOptions {
    /// The package hub's base URL (DBT_PACKAGE_HUB_URL; default <https://hub.getdbt.com/>).
    pub hub_url: String,
    /// Download cache (git mirrors and archives): $STRATA_PACKAGE_CACHE, else ~/.cache/strata/packages.
    pub cache: PathBuf,
    /// --upgrade: resolve again even when package-lock.yml matches packages.yml.
    pub upgrade: bool,
    /// --lock: write package-lock.yml without installing.
    pub lock_only: bool,
    /// --vars: packages.yml renders `var()` with these (and `env_var()`), as in dbt.
    pub cli_vars: serde_json::Map<String, serde_json::Value>,
}

/// What `deps` did, for the command's output.
#[derive(Debug, Default)]
pub struct DepsReport {
    /// (package name, where from) per installed package.
    pub installed: Vec<(String, String)>,
    /// Whether the lock file was used as is.
    pub from_lock: bool,
}

/// A package fetched into a staging folder.
#[derive(Debug)]
struct Fetched {
    name: String,
    dir: PathBuf,
    locked: Spec,
    shown: String,
    /// A local package is linked rather than copied.
    link: Option<PathBuf>,
}

struct Resolver<'a> {
    root: &'a Path,
    /// packages-install-path, as written.
    install_rel: String,
    opts: &'a DepsOptions,
    staging: PathBuf,
    hub_cache: BTreeMap<String, serde_json::Value>,
    diags: Diagnostics,
}

/// `strata deps`.
pub fn install(root: &Path, config: &ProjectConfig, opts: &DepsOptions) -> Result<DepsReport, Diagnostics> {
    let mut diags = Diagnostics::default();
    let declared = read_specs(root, root, &config.name, &opts.cli_vars, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let install_dir = root.join(&config.packages_install_path);
    let staging = install_dir.join(".strata-staging");
    let _ = std::fs::remove_dir_all(&staging);
    if let Err(e) = std::fs::create_dir_all(&staging) {
        diags.push(Diagnostic::error("E0909", format!("cannot create {}: {e}", staging.display())));
        return Err(diags);
    }
    let hash = spec_hash(&declared);
    let lock = read_lock(root).filter(|l| !opts.upgrade && l.sha1_hash == hash);
    let mut r = Resolver {
        root,
        install_rel: config.packages_install_path.clone(),
        opts,
        staging: staging.clone(),
        hub_cache: BTreeMap::new(),
        diags,
    };
    let from_lock = lock.is_some();
    let fetched = match lock {
        Some(l) => r.fetch_locked(&l),
        None => r.resolve(declared),
    };
    let mut diags = r.diags;
    if diags.has_errors() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(diags);
    }
    let mut report = DepsReport { from_lock, ..Default::default() };
    let lock = Lock {
        packages: fetched.iter().map(|f| Locked { name: f.name.clone(), spec: f.locked.clone() }).collect(),
        sha1_hash: hash,
    };
    if !opts.lock_only {
        for f in &fetched {
            let dest = install_dir.join(&f.name);
            remove_path(&dest);
            let res = match &f.link {
                Some(target) => link_dir(target, &dest),
                None => std::fs::rename(&f.dir, &dest),
            };
            if let Err(e) = res {
                diags.push(Diagnostic::error(
                    "E0909",
                    format!("cannot install {} into {}: {e}", f.name, dest.display()),
                ));
            }
            report.installed.push((f.name.clone(), f.shown.clone()));
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    if !from_lock {
        if let Err(e) = write_lock(root, &lock) {
            diags.push(Diagnostic::error("E0909", format!("cannot write package-lock.yml: {e}")));
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(report)
    }
}

fn remove_path(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() || m.is_file() => {
            let _ = std::fs::remove_file(p);
        }
        Ok(_) => {
            let _ = std::fs::remove_dir_all(p);
        }
        Err(_) => {}
    }
}

#[cfg(unix)]
fn link_dir(target: &Path, dest: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, dest)
}

#[cfg(not(unix))]
fn link_dir(target: &Path, dest: &Path) -> std::io::Result<()> {
    copy_dir(target, dest)
}

#[cfg(not(unix))]
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for e in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let rel = e.path().strip_prefix(from).unwrap_or(e.path());
        let t = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&t)?;
        } else {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}

/// The `name` in a package folder's dbt_project.yml.
fn project_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("dbt_project.yml")).ok()?;
    let v: Yaml = serde_yaml::from_str(&text).ok()?;
    v.get("name").and_then(crate::project::yaml::as_string)
}

impl Resolver<'_> {
    /// An error located at `key` of the entry (or the entry itself when it has no such key).
    fn error(&mut self, d: &Declared, key: &str, code: &'static str, msg: String, help: Option<String>) {
        let yp = if key.is_empty() { d.ypath.clone() } else { d.ypath.key(key) };
        let mut at = span(self.root, &d.file, &yp);
        at.file = d.shown.clone();
        self.diags.push(Diagnostic::error(code, msg).with_span(at).with_opt_help(help));
    }

    /// Resolve the declared packages and everything they depend on. Hub versions are chosen
    /// from every range in the tree; when a later range changes a choice, the tree is walked
    /// again with the new choices.
    fn resolve(&mut self, declared: Vec<Declared>) -> Vec<Fetched> {
        let mut pins: BTreeMap<String, semver::Version> = BTreeMap::new();
        for _round in 0..5 {
            let _ = std::fs::remove_dir_all(&self.staging);
            let _ = std::fs::create_dir_all(&self.staging);
            let mut fetched: BTreeMap<String, Fetched> = BTreeMap::new();
            let mut edges: Vec<(String, String, Declared)> = vec![];
            let mut ranges: BTreeMap<String, Vec<Declared>> = BTreeMap::new();
            let mut queue: std::collections::VecDeque<Declared> = declared.iter().cloned().collect();
            let mut names_by_key: BTreeMap<String, String> = BTreeMap::new();
            let mut changed = false;
            while let Some(d) = queue.pop_front() {
                if let Spec::Hub { package, .. } = &d.spec {
                    ranges.entry(package.to_lowercase()).or_default().push(d.clone());
                }
                let key = match &d.spec {
                    // The same folder reached by different relative paths is one package.
                    Spec::Local { path } => std::fs::canonicalize(d.base.join(path))
                        .map(|p| format!("local:{}", p.display()))
                        .unwrap_or_else(|_| d.spec.key()),
                    _ => d.spec.key(),
                };
                if let Some(name) = names_by_key.get(&key) {
                    edges.push((d.required_by.clone(), name.clone(), d));
                    continue;
                }
                let f = match &d.spec {
                    Spec::Hub { package, .. } => {
                        let all = ranges.get(&package.to_lowercase()).cloned().unwrap_or_default();
                        let Some(v) = self.choose_hub_version(&d, &all, pins.get(&package.to_lowercase())) else {
                            continue;
                        };
                        self.fetch_hub(&d, package, &v)
                    }
                    _ => self.fetch(&d),
                };
                let Some(f) = f else { continue };
                if fetched.contains_key(&f.name) {
                    let prev = &fetched[&f.name];
                    self.error(
                        &d,
                        "",
                        "E0907",
                        format!(
                            "package '{}' is required from two different sources: {} and {}",
                            f.name, prev.shown, f.shown
                        ),
                        Some("require it from one source (the same git URL, hub package or local path)".into()),
                    );
                    continue;
                }
                names_by_key.insert(key, f.name.clone());
                edges.push((d.required_by.clone(), f.name.clone(), d.clone()));
                let install_at = PathBuf::from(&self.install_rel).join(&f.name);
                for mut spec in read_specs(self.root, &f.dir_for_specs(), &f.name, &self.opts.cli_vars, &mut self.diags)
                {
                    if f.link.is_none() {
                        if let Some(name) = spec.file.file_name() {
                            spec.shown = install_at.join(name);
                        }
                    }
                    queue.push_back(spec);
                }
                fetched.insert(f.name.clone(), f);
            }
            // Every hub package's final choice must satisfy every range seen in the tree.
            for (pkg, reqs) in &ranges {
                if let Some(v) = self.choose_hub_version(&reqs[0], reqs, None) {
                    if pins.get(pkg) != Some(&v)
                        && fetched.values().any(|f| matches!(&f.locked, Spec::Hub { package, versions, .. } if package.to_lowercase() == *pkg && versions.first() != Some(&v.to_string())))
                    {
                        pins.insert(pkg.clone(), v);
                        changed = true;
                    }
                }
            }
            if self.diags.has_errors() {
                return vec![];
            }
            self.check_cycles(&edges);
            if !changed || self.diags.has_errors() {
                return fetched.into_values().collect();
            }
        }
        // Each round only lowers choices to satisfy ranges found later, so this takes a tree
        // whose choices keep changing the ranges they bring in.
        if let Some(d) = declared.first() {
            let pinned: Vec<String> = pins.iter().map(|(p, v)| format!("{p} {v}")).collect();
            self.error(
                d,
                "",
                "E0907",
                format!("package versions did not settle after 5 rounds (last choices: {})", pinned.join(", ")),
                Some("pin exact versions of the packages named here in packages.yml".into()),
            );
        }
        vec![]
    }

    fn check_cycles(&mut self, edges: &[(String, String, Declared)]) {
        let mut graph: BTreeMap<&str, Vec<(&str, &Declared)>> = BTreeMap::new();
        for (from, to, d) in edges {
            graph.entry(from.as_str()).or_default().push((to.as_str(), d));
        }
        // Depth-first search from every package; a back edge is a cycle.
        fn visit<'a>(
            n: &'a str,
            graph: &BTreeMap<&'a str, Vec<(&'a str, &'a Declared)>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<(Vec<String>, &'a Declared)> {
            if done.contains(n) {
                return None;
            }
            path.push(n);
            for (to, d) in graph.get(n).into_iter().flatten() {
                if let Some(i) = path.iter().position(|p| p == to) {
                    let mut cycle: Vec<String> = path[i..].iter().map(|s| s.to_string()).collect();
                    cycle.push(to.to_string());
                    return Some((cycle, d));
                }
                if let Some(found) = visit(to, graph, path, done) {
                    return Some(found);
                }
            }
            path.pop();
            done.insert(n);
            None
        }
        let starts: Vec<&str> = graph.keys().copied().collect();
        let mut done = BTreeSet::new();
        for s in starts {
            if let Some((cycle, d)) = visit(s, &graph, &mut vec![], &mut done) {
                let d = d.clone();
                self.error(
                    &d,
                    "",
                    "E0908",
                    format!("packages depend on each other in a cycle: {}", cycle.join(" -> ")),
                    Some(format!("remove this entry from {}", d.shown.display())),
                );
                return;
            }
        }
    }

    fn fetch_locked(&mut self, lock: &Lock) -> Vec<Fetched> {
        let mut out = vec![];
        for l in &lock.packages {
            let d = Declared {
                spec: l.spec.clone(),
                file: PathBuf::from("package-lock.yml"),
                shown: PathBuf::from("package-lock.yml"),
                ypath: YPath::default().key("packages"),
                base: self.root.to_path_buf(),
                required_by: String::new(),
            };
            let f = match &l.spec {
                Spec::Hub { package, versions, .. } => {
                    match versions.first().and_then(|v| semver::Version::parse(v).ok()) {
                        Some(v) => self.fetch_hub(&d, package, &v),
                        None => None,
                    }
                }
                // Local paths in the lock are relative to the root project.
                _ => self.fetch(&d),
            };
            out.extend(f);
        }
        out
    }

    fn fetch(&mut self, d: &Declared) -> Option<Fetched> {
        match &d.spec {
            Spec::Local { path } => {
                let dir = d.base.join(path);
                let Ok(abs) = std::fs::canonicalize(&dir) else {
                    let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
                    let siblings: Vec<String> = std::fs::read_dir(&parent)
                        .map(|rd| {
                            rd.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().to_string()).collect()
                        })
                        .unwrap_or_default();
                    let last = Path::new(path).file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                    let help = did_you_mean(&last, siblings.iter().map(String::as_str))
                        .unwrap_or_else(|| format!("{} has: {}", parent.display(), siblings.join(", ")));
                    self.error(d, "local", "E0904", format!("local package '{path}' does not exist"), Some(help));
                    return None;
                };
                let Some(name) = project_name(&abs) else {
                    self.error(
                        d,
                        "local",
                        "E0909",
                        format!("'{path}' is not a dbt package: it has no dbt_project.yml with a name"),
                        None,
                    );
                    return None;
                };
                // The lock records the path relative to the root project.
                let from_root = pathdiff(&abs, self.root);
                Some(Fetched {
                    name,
                    dir: abs.clone(),
                    locked: Spec::Local { path: from_root.clone() },
                    shown: format!("local @ {path}"),
                    link: Some(abs),
                })
            }
            Spec::Git { url, revision, subdirectory } => {
                self.fetch_git(d, url, revision.as_deref(), subdirectory.as_deref())
            }
            Spec::Tarball { url, .. } => {
                let bytes = self.download(d, url)?;
                let dir = self.unpack(d, &bytes, url)?;
                let name = self.named(d, &dir)?;
                Some(Fetched { name, dir, locked: d.spec.clone(), shown: format!("tarball {url}"), link: None })
            }
            Spec::Hub { .. } => None,
        }
    }

    fn named(&mut self, d: &Declared, dir: &Path) -> Option<String> {
        match project_name(dir) {
            Some(n) => Some(n),
            None => {
                self.error(
                    d,
                    "",
                    "E0909",
                    format!("{} is not a dbt package: no dbt_project.yml with a name", d.spec.describe()),
                    None,
                );
                None
            }
        }
    }

    fn git(&mut self, d: &Declared, args: &[&str]) -> Option<String> {
        match Command::new("git").args(args).output() {
            Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).to_string()),
            Ok(o) => {
                self.error(
                    d,
                    "git",
                    "E0905",
                    format!(
                        "git {} failed: {}",
                        args.first().unwrap_or(&""),
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                    None,
                );
                None
            }
            Err(e) => {
                self.error(d, "git", "E0905", format!("cannot run git: {e}"), Some("install git".into()));
                None
            }
        }
    }

    fn fetch_git(&mut self, d: &Declared, url: &str, revision: Option<&str>, sub: Option<&str>) -> Option<Fetched> {
        use md5::Digest;
        let mirror = self.opts.cache.join("git").join(format!("{:x}", md5::Md5::digest(url.as_bytes())));
        let mirror_s = mirror.to_string_lossy().to_string();
        let rev = revision.unwrap_or("HEAD");
        let has_rev = |m: &str| {
            Command::new("git")
                .args(["--git-dir", m, "rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let is_commit = rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit());
        if !mirror.join("HEAD").is_file() {
            let _ = std::fs::create_dir_all(mirror.parent().unwrap_or(&mirror));
            self.git(d, &["clone", "--quiet", "--mirror", url, &mirror_s])?;
        } else if !(is_commit && has_rev(&mirror_s)) {
            // Branches and tags move: refresh, unless offline and the revision is already known.
            let ok = Command::new("git")
                .args(["--git-dir", &mirror_s, "fetch", "--quiet", "--prune", "--tags", "--force", "origin"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok && !has_rev(&mirror_s) {
                self.git(d, &["--git-dir", &mirror_s, "fetch", "--quiet", "origin"])?;
            }
        }
        let sha = match Command::new("git")
            .args(["--git-dir", &mirror_s, "rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
            .output()
        {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            _ => {
                let refs = Command::new("git")
                    .args([
                        "--git-dir",
                        &mirror_s,
                        "for-each-ref",
                        "--format=%(refname:short)",
                        "refs/tags",
                        "refs/heads",
                    ])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect::<Vec<_>>())
                    .unwrap_or_default();
                let help = did_you_mean(rev, refs.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("the repository has: {}", refs.join(", ")));
                self.error(d, "revision", "E0905", format!("revision '{rev}' does not exist in {url}"), Some(help));
                return None;
            }
        };
        let tree = match sub {
            Some(s) => format!("{sha}:{s}"),
            None => sha.clone(),
        };
        let out = match Command::new("git").args(["--git-dir", &mirror_s, "archive", "--format=tar", &tree]).output() {
            Ok(o) if o.status.success() => o.stdout,
            Ok(o) => {
                self.error(
                    d,
                    "subdirectory",
                    "E0905",
                    format!("cannot export {url} at {rev}: {}", String::from_utf8_lossy(&o.stderr).trim()),
                    sub.map(|s| format!("check that subdirectory '{s}' exists at that revision")),
                );
                return None;
            }
            Err(e) => {
                self.error(d, "git", "E0905", format!("cannot run git: {e}"), Some("install git".into()));
                return None;
            }
        };
        let dir = self.staging.join(format!("git-{}", &sha[..12.min(sha.len())]));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = tar::Archive::new(out.as_slice()).unpack(&dir) {
            self.error(d, "git", "E0905", format!("cannot unpack {url}: {e}"), None);
            return None;
        }
        let name = self.named(d, &dir)?;
        let dest = self.staging.join(&name);
        let dir = if std::fs::rename(&dir, &dest).is_ok() { dest } else { dir };
        Some(Fetched {
            name,
            dir,
            locked: Spec::Git { url: url.to_string(), revision: Some(sha), subdirectory: sub.map(str::to_string) },
            shown: format!("revision {rev}"),
            link: None,
        })
    }

    /// A package's hub entry (its versions and their tarballs). Answers are kept in the download
    /// cache, which is read when the hub cannot be reached, so a locked install works offline.
    fn hub_info(&mut self, d: &Declared, package: &str) -> Option<serde_json::Value> {
        let key = package.to_lowercase();
        if let Some(v) = self.hub_cache.get(&key) {
            return (!v.is_null()).then(|| v.clone());
        }
        let cached = self.opts.cache.join("hub").join(format!("{}.json", key.replace('/', "__")));
        let base = self.opts.hub_url.trim_end_matches('/');
        let url = format!("{base}/api/v1/{package}.json");
        let fetched = http_get(&url);
        let bytes = match (&fetched, std::fs::read(&cached)) {
            (Ok(b), _) => {
                let _ = std::fs::create_dir_all(cached.parent().unwrap_or(&cached));
                let _ = std::fs::write(&cached, b);
                b.clone()
            }
            (Err(e), _) if e.starts_with("HTTP 404") => {
                let index: Vec<String> = http_get(&format!("{base}/api/v1/index.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                let help = did_you_mean(package, index.iter().map(String::as_str))
                    .unwrap_or_else(|| "check the org/name on the package hub".into());
                self.error(
                    d,
                    "package",
                    "E0906",
                    format!("package '{package}' was not found on the package hub ({base})"),
                    Some(help),
                );
                self.hub_cache.insert(key, serde_json::Value::Null);
                return None;
            }
            (Err(_), Ok(b)) => b,
            (Err(e), Err(_)) => {
                let e = e.clone();
                self.error(
                    d,
                    "package",
                    "E0906",
                    format!("cannot reach the package hub for '{package}': {e}"),
                    Some("check the network, or set DBT_PACKAGE_HUB_URL to a mirror".into()),
                );
                self.hub_cache.insert(key, serde_json::Value::Null);
                return None;
            }
        };
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => {
                self.hub_cache.insert(key, v.clone());
                Some(v)
            }
            Err(e) => {
                self.error(
                    d,
                    "package",
                    "E0906",
                    format!("the package hub's answer for '{package}' is not JSON: {e}"),
                    None,
                );
                self.hub_cache.insert(key, serde_json::Value::Null);
                None
            }
        }
    }

    /// The highest version allowed by every range in `reqs` (or `pin` when it still is).
    fn choose_hub_version(
        &mut self,
        d: &Declared,
        reqs: &[Declared],
        pin: Option<&semver::Version>,
    ) -> Option<semver::Version> {
        let Spec::Hub { package, .. } = &d.spec else { return None };
        let info = self.hub_info(d, package)?;
        let mut versions: Vec<semver::Version> = info
            .get("versions")
            .and_then(|v| v.as_object())
            .map(|m| m.keys().filter_map(|k| semver::Version::parse(k).ok()).collect())
            .unwrap_or_default();
        versions.sort();
        let mut parsed: Vec<(semver::VersionReq, String, &Declared)> = vec![];
        for r in reqs {
            let Spec::Hub { versions: rs, .. } = &r.spec else { continue };
            for raw in rs {
                match parse_range(raw) {
                    Some(req) => parsed.push((req, raw.clone(), r)),
                    None => {
                        let r = r.clone();
                        self.error(
                            &r,
                            "version",
                            "E0903",
                            format!("'{raw}' is not a version range"),
                            Some("write e.g. \">=1.0.0\", \"<2.0.0\" or an exact \"1.1.1\"".into()),
                        );
                        return None;
                    }
                }
            }
        }
        let prerelease = reqs.iter().any(|r| matches!(&r.spec, Spec::Hub { prerelease: true, .. }));
        let ok =
            |v: &semver::Version| (prerelease || v.pre.is_empty()) && parsed.iter().all(|(req, _, _)| req.matches(v));
        if let Some(p) = pin.filter(|p| ok(p)) {
            return Some(p.clone());
        }
        match versions.iter().rev().find(|v| ok(v)) {
            Some(v) => Some(v.clone()),
            None => {
                let wanted: Vec<String> = parsed
                    .iter()
                    .map(|(_, raw, r)| format!("{raw} (from {}, {})", r.required_by, r.shown.display()))
                    .collect();
                let available: Vec<String> = versions.iter().rev().take(8).map(|v| v.to_string()).collect();
                let msg = if parsed.len() > 1 {
                    format!("version ranges for '{package}' conflict: {}", wanted.join(" and "))
                } else {
                    format!("no version of '{package}' matches {}", wanted.join(", "))
                };
                let last = reqs.last().cloned().unwrap_or_else(|| d.clone());
                self.error(
                    &last,
                    "version",
                    "E0907",
                    msg,
                    Some(format!("available versions: {}", available.join(", "))),
                );
                None
            }
        }
    }

    fn fetch_hub(&mut self, d: &Declared, package: &str, v: &semver::Version) -> Option<Fetched> {
        let info = self.hub_info(d, package)?;
        let entry = info.get("versions").and_then(|m| m.get(v.to_string()))?.clone();
        let Some(url) = entry.pointer("/downloads/tarball").and_then(|u| u.as_str()).map(str::to_string) else {
            self.error(d, "package", "E0906", format!("the package hub lists no tarball for {package} {v}"), None);
            return None;
        };
        let bytes = self.download(d, &url)?;
        let dir = self.unpack(d, &bytes, &url)?;
        let name = self.named(d, &dir)?;
        Some(Fetched {
            name,
            dir,
            locked: Spec::Hub { package: package.to_string(), versions: vec![v.to_string()], prerelease: true },
            shown: format!("version {v}"),
            link: None,
        })
    }

    /// Download (or read from the cache) an archive.
    fn download(&mut self, d: &Declared, url: &str) -> Option<Vec<u8>> {
        use md5::Digest;
        let cached = self.opts.cache.join("archives").join(format!("{:x}.tar.gz", md5::Md5::digest(url.as_bytes())));
        if let Ok(b) = std::fs::read(&cached) {
            return Some(b);
        }
        match http_get(url) {
            Ok(b) => {
                let _ = std::fs::create_dir_all(cached.parent().unwrap_or(&cached));
                let _ = std::fs::write(&cached, &b);
                Some(b)
            }
            Err(e) => {
                self.error(d, "", "E0909", format!("cannot download {url}: {e}"), None);
                None
            }
        }
    }

    /// Unpack a .tar.gz into staging; the package is the folder holding dbt_project.yml (the
    /// archive's root or its single top folder).
    fn unpack(&mut self, d: &Declared, bytes: &[u8], url: &str) -> Option<PathBuf> {
        use md5::Digest;
        let dir = self.staging.join(format!("archive-{:x}", md5::Md5::digest(url.as_bytes())));
        let _ = std::fs::remove_dir_all(&dir);
        let gz = flate2::read::GzDecoder::new(bytes);
        if let Err(e) = tar::Archive::new(gz).unpack(&dir) {
            self.error(d, "", "E0909", format!("cannot unpack {url}: {e}"), None);
            return None;
        }
        if dir.join("dbt_project.yml").is_file() {
            return Some(dir);
        }
        let subs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect())
            .unwrap_or_default();
        match subs.as_slice() {
            [one] => Some(one.clone()),
            _ => Some(dir),
        }
    }
}

impl Fetched {
    fn dir_for_specs(&self) -> PathBuf {
        self.link.clone().unwrap_or_else(|| self.dir.clone())
    }
}

/// A dbt version range: `>=1.0.0`, `<2.0.0`, `1.1.1` (exact), `>1.0`, `<=1.2`.
fn parse_range(raw: &str) -> Option<semver::VersionReq> {
    let t = raw.trim();
    let (op, rest) = match t.find(|c: char| c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => return None,
    };
    let op = match op.trim() {
        "" | "=" | "==" => "=",
        o @ (">=" | "<=" | ">" | "<") => o,
        _ => return None,
    };
    semver::VersionReq::parse(&format!("{op}{}", rest.trim())).ok()
}

/// A relative path from `base` to `target` (both absolute).
fn pathdiff(target: &Path, base: &Path) -> String {
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out.to_string_lossy().replace('\\', "/")
}

/// GET a URL. `http://` is spoken directly (the hub of a test or a local mirror); `https://` goes
/// through the system `curl`, so strata carries no TLS stack.
pub fn http_get(url: &str) -> Result<Vec<u8>, String> {
    if let Some(rest) = url.strip_prefix("http://") {
        return plain_http_get(rest, 5);
    }
    if url.starts_with("file://") {
        return std::fs::read(url.trim_start_matches("file://")).map_err(|e| e.to_string());
    }
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--location", "--fail", "--max-time", "120", url])
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if err.contains("404") {
            Err(format!("HTTP 404: {err}"))
        } else {
            Err(err)
        }
    }
}

fn plain_http_get(rest: &str, redirects: u32) -> Result<Vec<u8>, String> {
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:80") };
    let mut stream = std::net::TcpStream::connect(&addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(60)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: strata\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = vec![];
    stream.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let body = buf[head_end + 4..].to_vec();
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("malformed HTTP status line")?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if (300..400).contains(&status) && redirects > 0 {
        let loc = header("location").ok_or("redirect without a location")?;
        return match loc.strip_prefix("http://") {
            Some(r) => plain_http_get(r, redirects - 1),
            None if loc.starts_with('/') => plain_http_get(&format!("{hostport}{loc}"), redirects - 1),
            None => http_get(&loc),
        };
    }
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(&body);
    }
    Ok(body)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = vec![];
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or("bad chunked body")?;
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..line_end]).split(';').next().unwrap_or("").trim(),
            16,
        )
        .map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("truncated chunk")?);
        body = body.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges_follow_dbt() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert!(parse_range("1.1.1").unwrap().matches(&v("1.1.1")));
        assert!(!parse_range("1.1.1").unwrap().matches(&v("1.2.0")));
        assert!(parse_range(">=1.0.0").unwrap().matches(&v("1.3.0")));
        assert!(!parse_range("<2.0.0").unwrap().matches(&v("2.0.0")));
        assert!(parse_range(">0.9").unwrap().matches(&v("1.0.0")));
        assert!(parse_range("~1").is_none());
    }

    #[test]
    fn relative_paths_and_chunked_bodies() {
        assert_eq!(pathdiff(Path::new("/a/b/pkg"), Path::new("/a/c")), "../b/pkg");
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
    }
}
