//! The steps commands share: load (project, parse, graph, invocation), the selection context
//! (--select/--exclude/--selector, --state, --defer), connecting to the target, compiling and
//! analysing; and [`project_command`], which runs them in order around a command's own step and
//! writes manifest.json.

use crate::adapter::{Adapter, Connection};
use crate::compile::{write_target_file, Compiler};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::graph::Dag;
use crate::output::Printer;
use crate::parse::{Manifest, ResourceType};
use crate::project::{LoadOptions, Project};
use crate::settings::{Cmd, Settings};
use crate::templating::{Engine, Globals, Phase};
use crate::Invocation;
use rayon::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) fn printer_for(settings: &Settings, log_dir: Option<&Path>) -> Printer {
    Printer::new(settings.color, settings.log_format, log_dir).with_debug(settings.debug)
}

pub(super) fn load_options(settings: &Settings, require_profile: bool) -> LoadOptions {
    LoadOptions {
        project_dir: settings.project_dir.clone(),
        profiles_dir: settings.profiles_dir.clone(),
        profiles_env_dir: settings.profiles_env_dir.clone(),
        home: settings.home.clone(),
        target: settings.target.clone(),
        cli_vars: settings.vars.clone(),
        require_profile,
        packages_required: require_profile,
    }
}

/// The target's database, opened (or why not).
type Opened = Result<Arc<dyn Adapter>, crate::adapter::DbError>;

/// An open database and a connection to it.
pub(super) type Connected = (Arc<dyn Adapter>, Arc<dyn Connection>);

/// A project loaded, parsed and planned.
pub(super) struct Loaded {
    pub(super) project: Project,
    pub(super) engine: Engine,
    pub(super) manifest: Arc<Manifest>,
    pub(super) dag: Dag,
    pub(super) invocation: Invocation,
    pub(super) target_dir: PathBuf,
    /// The --state build to compare with (empty without --state), read before manifest.json
    /// is written (the state folder may be this target folder).
    pub(super) state: crate::select::Context,
    /// Databases to attach on connecting: (path, catalog name), for --defer to another file.
    pub(super) attach: Vec<(String, String)>,
    /// The database, being opened while the project parses (see [`open_early`]).
    pub(super) early_db: std::sync::Mutex<EarlyDb>,
    /// What this invocation compiles and runs, for manifest.json.
    pub(super) compiled: crate::compile::CompiledLog,
    /// The unique ids the command selects (`selected_resources`).
    pub(super) selected: Vec<String>,
}

impl Loaded {
    /// Static analysis in `mode`, in the SQL dialect of the project's engine.
    pub(super) fn analysis(&self, mode: crate::lineage::Mode) -> crate::lineage::Options {
        crate::lineage::Options { mode, flavor: self.engine.dialect.analysis }
    }
}

/// For commands that run SQL on a database file, or read its catalog (compile, show, docs
/// generate) from a file that exists, open it on another thread while the project is parsed
/// (opening loads DuckDB's catalog, or creates the file). A command that ends before it connects
/// (a project with errors, a selection that cannot run) leaves no file it created behind: see
/// [`EarlyDb`].
pub(super) fn open_early(settings: &Settings, project: &Project) -> EarlyDb {
    let executes =
        matches!(settings.command, Cmd::Run | Cmd::Seed | Cmd::Snapshot | Cmd::Build | Cmd::Test | Cmd::Retry);
    let reads = matches!(settings.command, Cmd::Compile | Cmd::Show | Cmd::DocsGenerate { .. });
    let Some(target) = project.target.clone() else { return EarlyDb::default() };
    let engine = project.engine();
    let Some(file) = (engine.database_file)(&target) else { return EarlyDb::default() };
    let exists = file.is_file();
    let opens = if exists {
        executes || reads
    } else {
        // A new file only where its folder exists: opening would create the folder too.
        executes && file.parent().is_some_and(|d| d.as_os_str().is_empty() || d.is_dir())
    };
    if !opens {
        return EarlyDb::default();
    }
    let handle = std::thread::spawn(move || (engine.open)(&target));
    EarlyDb { handle: Some(handle), created: (!exists).then_some(file) }
}

/// A database being opened on another thread. If nothing takes it ([`connect`]), dropping it
/// waits for the open, closes the database and removes the file the open created (and its WAL),
/// so that a command which stopped before connecting leaves the folder as it found it.
#[derive(Default)]
pub(super) struct EarlyDb {
    handle: Option<std::thread::JoinHandle<Opened>>,
    created: Option<PathBuf>,
}

impl EarlyDb {
    /// The opened database, for a command that connects: the file is kept.
    fn take(&mut self) -> Option<Opened> {
        self.created = None;
        self.handle.take().and_then(|h| h.join().ok())
    }
}

impl Drop for EarlyDb {
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else { return };
        drop(handle.join());
        if let Some(file) = self.created.take() {
            let mut wal = file.clone().into_os_string();
            wal.push(".wal");
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_file(wal);
        }
    }
}

/// `invocation_args_dict`: the arguments as dbt names them (lowercase, flags' defaults filled).
pub(super) fn invocation_args(settings: &Settings) -> serde_json::Value {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().to_string());
    json!({
        "which": settings.command.name(),
        "select": settings.select,
        "exclude": settings.exclude,
        "selector": settings.selector,
        "full_refresh": settings.full_refresh,
        "fail_fast": settings.fail_fast,
        "vars": settings.vars,
        "threads": settings.threads,
        "target": settings.target,
        "target_path": path(&settings.target_path),
        "log_path": path(&settings.log_path),
        "profiles_dir": path(&settings.profiles_dir),
        "project_dir": settings.project_dir.to_string_lossy(),
        "state": path(&settings.state),
        "defer": settings.defer,
        "favor_state": settings.favor_state,
        "store_failures": settings.store_failures,
        "static_parser": settings.static_parser,
        "log_format": match settings.log_format {
            crate::output::LogFormat::Text => "default",
            crate::output::LogFormat::Json => "json",
        },
        "invocation_command": std::env::args().collect::<Vec<_>>().join(" "),
    })
}

pub(super) fn target_dir(settings: &Settings, project: &Project) -> PathBuf {
    // Relative paths are relative to the project folder, where dbt runs.
    project.root.join(settings.target_path.clone().unwrap_or_else(|| PathBuf::from(&project.config.target_path)))
}

pub(super) fn load(settings: &Settings, printer: &mut Printer) -> Result<Loaded, i32> {
    let mut invocation = Invocation::new(settings.command.name(), settings.full_refresh);
    invocation.args = invocation_args(settings);
    invocation.flags["STATIC_PARSER"] = json!(settings.static_parser);
    let (project, warnings) = match crate::project::load(&load_options(settings, true)) {
        Ok(x) => x,
        Err(d) => {
            let mut d = d;
            d.sort();
            printer.diagnostics(&d.items);
            return Err(2);
        }
    };
    let log_dir =
        project.root.join(settings.log_path.clone().unwrap_or_else(|| PathBuf::from(&project.config.log_path)));
    *printer = printer_for(settings, Some(&log_dir));
    printer.info(&format!("Running with strata={}", env!("CARGO_PKG_VERSION")));
    let early_db = std::sync::Mutex::new(open_early(settings, &project));
    let mut diags = warnings;
    let (engine, macro_diags) = crate::parse::build_engine(&project);
    diags.extend(macro_diags);
    let globals = Arc::new(crate::parse::parse_globals(&project, &invocation));
    let manifest = match crate::parse::parse(&project, &engine, &globals) {
        Ok((mut m, w)) => {
            diags.extend(w.items);
            let (read, rendered) = m.parse_counts;
            printer.debug(&format!("static parser: {read} of {} SQL files read without rendering", read + rendered));
            if settings.store_failures {
                for n in m.nodes.values_mut().filter(|n| n.resource_type == ResourceType::Test) {
                    n.config.set("store_failures", json!(true));
                }
            }
            m
        }
        Err(d) => {
            diags.extend(d.items);
            diags.sort();
            printer.diagnostics(&diags.items);
            return Err(2);
        }
    };
    let dag = match Dag::build(&manifest) {
        (d, None) => d,
        // dbt's parse does not look for cycles and writes the manifest; its compile and every
        // command after it stop at one. strata's parse says where the cycle is, and goes on.
        (d, Some(cycle)) if matches!(settings.command, Cmd::Parse) => {
            let cycle = cycle.with_note("compile, run, build and the other commands stop at this cycle");
            diags.push(Diagnostic { code: "W0203", severity: crate::diagnostics::Severity::Warning, ..cycle });
            d
        }
        (_, Some(cycle)) => {
            diags.push(cycle);
            diags.sort();
            printer.diagnostics(&diags.items);
            return Err(2);
        }
    };
    diags.sort();
    if diags.has_errors() {
        printer.diagnostics(&diags.items);
        return Err(2);
    }
    printer.diagnostics(&diags.items);
    let target_dir = target_dir(settings, &project);
    Ok(Loaded {
        project,
        engine,
        manifest: Arc::new(manifest),
        dag,
        invocation,
        target_dir,
        state: Default::default(),
        attach: vec![],
        early_db,
        compiled: Default::default(),
        selected: vec![],
    })
}

pub(super) fn compile_globals(l: &Loaded) -> Arc<Globals> {
    let mut g = crate::parse::parse_globals(&l.project, &l.invocation);
    g.resolver = l.manifest.resolver();
    g.set_selected_resources(&l.selected);
    let manifest = l.manifest.clone();
    g.graph = crate::templating::lazy_map(move || manifest.graph_json());
    Arc::new(g)
}

pub(super) fn counts(m: &Manifest, macros: usize) -> String {
    let mut by_type: BTreeMap<ResourceType, usize> = BTreeMap::new();
    for x in m.nodes.values() {
        *by_type.entry(x.resource_type).or_default() += 1;
    }
    let n = |t: ResourceType| by_type.get(&t).copied().unwrap_or(0);
    let plural = |n: usize, s: &str, p: &str| format!("{n} {}", if n == 1 { s } else { p });
    let mut parts = vec![plural(n(ResourceType::Model), "model", "models")];
    if n(ResourceType::Snapshot) > 0 {
        parts.push(plural(n(ResourceType::Snapshot), "snapshot", "snapshots"));
    }
    if n(ResourceType::Test) > 0 {
        parts.push(plural(n(ResourceType::Test), "data test", "data tests"));
    }
    if n(ResourceType::UnitTest) > 0 {
        parts.push(plural(n(ResourceType::UnitTest), "unit test", "unit tests"));
    }
    parts.push(plural(n(ResourceType::Seed), "seed", "seeds"));
    if n(ResourceType::Analysis) > 0 {
        parts.push(plural(n(ResourceType::Analysis), "analysis", "analyses"));
    }
    parts.push(plural(m.sources.len(), "source", "sources"));
    parts.push(plural(macros, "macro", "macros"));
    format!("Found {}", parts.join(", "))
}

pub(super) fn plan_for(
    settings: &Settings,
    l: &Loaded,
    types: &[ResourceType],
    printer: &Printer,
) -> Result<Vec<String>, i32> {
    Ok(selected(settings, l, &l.state, printer)?
        .into_iter()
        .filter(|id| l.manifest.nodes.get(id).is_some_and(|n| types.contains(&n.resource_type)))
        .collect())
}

/// The nodes --select / --exclude / --selector choose (selectors.yml's default selector when
/// none is given), in dependency order.
pub(super) fn selected(
    settings: &Settings,
    l: &Loaded,
    ctx: &crate::select::Context,
    printer: &Printer,
) -> Result<Vec<String>, i32> {
    let named = crate::select::read_selectors(&l.project.root, &l.project.cli_vars).map_err(|d| {
        printer.diagnostics(&d);
        2
    })?;
    let name = settings.selector.clone().or_else(|| {
        (settings.select.is_empty() && !matches!(settings.command, Cmd::Diff { .. })).then(|| named.default.clone())?
    });
    let result = match name {
        Some(name) => {
            if !settings.select.is_empty() {
                printer.warn("--select is ignored when --selector is given");
            }
            crate::select::select_named(&l.manifest, &l.dag, &named, &name, &settings.exclude, ctx)
        }
        None => crate::select::select_in(&l.manifest, &l.dag, &settings.select, &settings.exclude, ctx),
    };
    result.map_err(|d| {
        printer.diagnostics(&d);
        2
    })
}

/// `--defer`: each model, seed or snapshot that is not selected, and (unless --favor-state)
/// does not exist in this target, resolves to its relation in the --state build. A state built
/// into another DuckDB file is attached read-only (its path is in the state's manifest).
pub(super) fn defer(settings: &Settings, l: &mut Loaded, printer: &Printer) -> Result<(), i32> {
    if !l.state.has_state() {
        return Err(state_error(
            printer,
            ("<command line>", "--defer", 1, 7),
            "--defer resolves refs to another build, but no --state was given".into(),
            "pass --state with the target folder of the build to defer to",
        ));
    }
    let chosen: std::collections::BTreeSet<String> = selected(settings, l, &l.state, printer)?.into_iter().collect();
    let Some(target) = l.project.target.clone() else { return Ok(()) };
    // The relations this target has (as the run sees them); a database file that does not exist
    // has none.
    let mut existing = HashMap::new();
    if !settings.favor_state && l.project.engine().database_exists(&target) {
        let (_db, conn) = connect(l, printer)?;
        existing = conn.relations_in(&l.manifest.schemas()).unwrap_or_default();
    }
    let mut deferred = 0;
    let mut databases = std::collections::BTreeSet::new();
    let manifest = Arc::make_mut(&mut l.manifest);
    for n in manifest.nodes.values_mut() {
        let kind = matches!(n.resource_type, ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot);
        if !kind
            || n.materialized() == "ephemeral"
            || chosen.contains(&n.unique_id)
            || existing.contains_key(&n.relation.catalog_key())
        {
            continue;
        }
        let Some(theirs) = l.state.state_nodes.get(&n.unique_id) else { continue };
        let field = |k: &str| theirs.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let (Some(db), Some(schema), Some(alias)) = (field("database"), field("schema"), field("alias")) else {
            continue;
        };
        if !db.eq_ignore_ascii_case(&target.database) {
            databases.insert(db.clone());
        }
        n.relation = crate::templating::relation::Relation::new(l.engine.dialect, &db, &schema, &alias);
        deferred += 1;
    }
    if !databases.is_empty() {
        let text = std::fs::read_to_string(l.state.state_dir.clone().unwrap_or_default().join("manifest.json"))
            .unwrap_or_default();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let path = state.pointer("/metadata/env/STRATA_DUCKDB_PATH").and_then(|v| v.as_str()).unwrap_or_default();
        for db in databases {
            if !path.is_empty() && (l.project.engine().database_of_file)(path).eq_ignore_ascii_case(&db) {
                l.attach.push((path.to_string(), db));
            } else {
                printer.warn(&format!(
                    "--defer: the state's relations are in database '{db}', whose file its manifest does not name; \
                     they resolve only if that database is attached"
                ));
            }
        }
    }
    printer.info(&format!("Deferred {deferred} unselected nodes to the --state build"));
    Ok(())
}

/// E0605, a problem with `--state`, shown under `(text, column, width)` of the command line (or
/// of the `--state` argument).
pub(super) fn state_error(
    printer: &Printer,
    (file, text, col, len): (&str, &str, usize, usize),
    msg: String,
    help: &str,
) -> i32 {
    let at = crate::diagnostics::Span { file: file.into(), line: 1, col, len, source_line: Some(text.to_string()) };
    printer.diagnostics(&[Diagnostic::error("E0605", msg).with_span(at).with_help(help)]);
    2
}

/// What `state:`, `result:`, `--defer` and `diff` compare with: the build in `--state DIR`.
/// A folder without a manifest.json, or one from another project, is a diagnostic (exit 2).
pub(super) fn selection_context(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
) -> Result<crate::select::Context, i32> {
    let Some(dir) = &settings.state else { return Ok(Default::default()) };
    let dir = if dir.is_absolute() { dir.clone() } else { std::env::current_dir().unwrap_or_default().join(dir) };
    let given = settings.state.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let fail = |msg: String, help: &str| -> Result<crate::select::Context, i32> {
        let len = given.chars().count().max(1);
        Err(state_error(printer, ("--state", given.as_str(), 1, len), msg, help))
    };
    let path = dir.join("manifest.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return fail(
            format!("--state {}: there is no manifest.json in that folder", dir.display()),
            "pass the target folder of the build to compare with (e.g. a copy of production's target/)",
        );
    };
    let Ok(state): Result<serde_json::Value, _> = serde_json::from_str(&text) else {
        return fail(format!("--state {}: manifest.json is not valid JSON", path.display()), "build it again");
    };
    let theirs = state.pointer("/metadata/project_name").and_then(|v| v.as_str()).unwrap_or_default();
    if theirs != l.project.config.name {
        return fail(
            format!(
                "--state {}: that build is of project '{theirs}', this project is '{}'",
                dir.display(),
                l.project.config.name
            ),
            "pass the target folder of a build of this project",
        );
    }
    let mut ctx = crate::select::Context { state_dir: Some(dir.clone()), ..Default::default() };
    for key in ["nodes", "sources", "unit_tests"] {
        if let Some(o) = state.get(key).and_then(|v| v.as_object()) {
            ctx.state_nodes.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    ctx.current_nodes = crate::artifacts::manifest::node_values(&l.manifest, &l.project);
    // Comparing with the state: a breaking change to an enforced contract is dbt's warning for
    // an unversioned model, and an error for a versioned one (create a new version instead).
    // (Only when the selection compares with state:modified, as dbt checks it there.)
    let named_selectors = std::fs::read_to_string(l.project.root.join("selectors.yml")).unwrap_or_default();
    let compares = settings.select.iter().chain(&settings.exclude).any(|s| s.contains("state:modified"))
        || (settings.selector.is_some() && named_selectors.contains("modified"));
    let mut breaking = Diagnostics::default();
    for (id, new) in ctx.current_nodes.iter().filter(|(id, _)| compares && id.starts_with("model.")) {
        let Some(old) = ctx.state_nodes.get(id) else { continue };
        let reasons = crate::select::breaking_contract_changes(old, new);
        if reasons.is_empty() {
            continue;
        }
        let Some(n) = l.manifest.nodes.get(id) else { continue };
        let list = reasons.join("\n  - ");
        let span = crate::diagnostics::Span::file_only(&n.original_file_path);
        breaking.push(if n.version.is_some() {
            Diagnostic::error(
                "E0606",
                format!("Breaking Change to Contract: While comparing to previous project state, dbt detected a breaking change to an enforced contract.\n  - {list}"),
            )
            .with_span(span)
            .with_help("make an additive (non-breaking) change instead, if possible; otherwise create a new model version")
        } else {
            Diagnostic::warning(
                "W0606",
                format!("Breaking change to contracted, unversioned model {} ({})\nWhile comparing to previous project state, dbt detected a breaking change to an unversioned model.\n  - {list}", n.name, n.original_file_path),
            )
            .with_span(span)
        });
    }
    printer.diagnostics(&breaking.items);
    if breaking.has_errors() {
        return Err(2);
    }
    // Macros whose text changed, and (to a fixed point) the macros that call them.
    let old: HashMap<String, String> = state
        .get("macros")
        .and_then(|v| v.as_object())
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| Some((v.get("name")?.as_str()?.to_string(), v.get("macro_sql")?.as_str()?.to_string())))
        .collect();
    let current: Vec<(&String, &String)> =
        l.engine.by_package.values().flat_map(|defs| defs.iter().map(|(name, d)| (name, &d.source))).collect();
    let mut changed: std::collections::BTreeSet<String> =
        current.iter().filter(|(name, src)| old.get(*name) != Some(*src)).map(|(n, _)| (*n).clone()).collect();
    loop {
        let more: Vec<String> = current
            .iter()
            .filter(|(name, src)| !changed.contains(*name) && changed.iter().any(|c| crate::select::calls(src, c)))
            .map(|(n, _)| (*n).clone())
            .collect();
        if more.is_empty() {
            break;
        }
        changed.extend(more);
    }
    ctx.changed_macros = changed;
    // Freshness results, for source_status: the state's and this target's sources.json.
    let freshness = |d: &Path| -> Option<std::collections::BTreeMap<String, String>> {
        let text = std::fs::read_to_string(d.join("sources.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(
            v.get("results")?
                .as_array()?
                .iter()
                .filter_map(|r| {
                    Some((r.get("unique_id")?.as_str()?.to_string(), r.get("max_loaded_at")?.as_str()?.to_string()))
                })
                .collect(),
        )
    };
    ctx.state_freshness = freshness(&dir);
    ctx.current_freshness = freshness(&l.target_dir);
    if let Some(results) = std::fs::read_to_string(dir.join("run_results.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    {
        for r in results.get("results").and_then(|r| r.as_array()).into_iter().flatten() {
            if let (Some(id), Some(st)) =
                (r.get("unique_id").and_then(|v| v.as_str()), r.get("status").and_then(|v| v.as_str()))
            {
                ctx.results.insert(id.to_string(), st.to_string());
            }
        }
    }
    Ok(ctx)
}

/// Load, select and act: the shape of every command on a project. manifest.json is written
/// alongside `act`, once the nodes it compiles are compiled.
pub(super) fn project_command(settings: &Settings, act: fn(&Settings, &Loaded, &Printer) -> i32) -> i32 {
    let mut printer = printer_for(settings, None);
    let mut l = match load(settings, &mut printer) {
        Ok(l) => l,
        Err(code) => return code,
    };
    printer.info(&counts(&l.manifest, l.engine.macro_count()));
    l.state = match selection_context(settings, &l, &printer) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // A bad selector stops the command before anything is written.
    match selected(settings, &l, &l.state, &printer) {
        Ok(ids) => l.selected = ids,
        Err(code) => return code,
    }
    if settings.defer {
        if let Err(code) = defer(settings, &mut l, &printer) {
            return code;
        }
    }
    let l = l;
    let analyses = matches!(settings.command, Cmd::Compile | Cmd::Run | Cmd::Build | Cmd::DocsGenerate { .. });
    let lineage = (analyses && settings.static_analysis != crate::lineage::Mode::Off).then_some("lineage.json");
    // manifest.json is written while the command runs; a command that compiles has it written
    // once its nodes are compiled (or run), with their compiled code, as dbt does.
    let compiles = matches!(
        settings.command,
        Cmd::Compile
            | Cmd::Run
            | Cmd::Build
            | Cmd::Test
            | Cmd::Seed
            | Cmd::Snapshot
            | Cmd::Retry
            | Cmd::Show
            | Cmd::DocsGenerate { no_compile: false }
    );
    let target_path = settings
        .target_path
        .as_ref()
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_else(|| l.project.config.target_path.clone());
    let code = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let compiled = compiles.then(|| l.compiled.wait());
            // Ephemeral models are compiled where they are inlined; their own file is written
            // here, as dbt writes it.
            for (id, c) in compiled.iter().flat_map(|(nodes, _)| nodes) {
                if let Some(n) = l.manifest.nodes.get(id).filter(|n| n.materialized() == "ephemeral") {
                    let _ = write_target_file(&l.target_dir, "compiled", &l.manifest.target_rel_path(n), &c.sql);
                }
            }
            let compiled = compiled.as_ref().map(|(nodes, built)| crate::artifacts::manifest::Compiled {
                nodes,
                built,
                target_path: &target_path,
            });
            printer.timed("manifest.json written", || {
                crate::artifacts::manifest::write(
                    &l.target_dir,
                    &l.manifest,
                    &l.engine,
                    &l.project,
                    &l.invocation,
                    lineage,
                    compiled.as_ref(),
                )
            })
        });
        let code = {
            let _finish = crate::compile::FinishOnDrop(&l.compiled);
            act(settings, &l, &printer)
        };
        if let Ok(Err(e)) = writer.join() {
            printer.warn(&format!("cannot write manifest.json: {e}"));
        }
        code
    });
    // The database handles are dropped here, as before; the rest is freed later.
    let Loaded { project, engine, manifest, dag, state, compiled, selected, .. } = l;
    free_later((project, engine, manifest, dag, state, compiled, selected));
    code
}

/// Free `value` on a thread nobody waits for, so that the process can end first: freeing a
/// large project's nodes, macros and files was 4 % of `parse` at 10,000 models, and its column
/// lineage 20-40 ms of `compile` and `docs generate`, on the main thread at the end.
pub(super) fn free_later<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}

/// Open the target's database (or take the one opened while the project parsed) and connect,
/// with --defer's other databases attached.
pub(super) fn connect(l: &Loaded, printer: &Printer) -> Result<Connected, i32> {
    let Some(target) = &l.project.target else { return Err(2) };
    let engine = l.project.engine();
    let early = l.early_db.lock().unwrap_or_else(|e| e.into_inner()).take();
    let opened = match early {
        Some(r) => r,
        None => (engine.open)(target),
    };
    let attached = |c: Arc<dyn Connection>| -> Result<Arc<dyn Connection>, crate::adapter::DbError> {
        for (path, name) in &l.attach {
            c.attach_read_only(path, name)?;
        }
        Ok(c)
    };
    match opened.and_then(|db| db.connect().and_then(attached).map(|c| (db, c))) {
        Ok(x) => Ok(x),
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E0801", format!("cannot open {}: {e}", engine.describe(target)))
                .with_help(engine.open_help)]);
            Err(2)
        }
    }
}

pub(super) fn inline_node(l: &Loaded, sql: &str) -> crate::parse::Node {
    let g = &l.project.target;
    let db = g.as_ref().map(|t| t.database.clone()).unwrap_or_default();
    let schema = g.as_ref().map(|t| t.schema.clone()).unwrap_or_default();
    crate::parse::Node {
        unique_id: format!("sql_operation.{}.inline_query", l.project.config.name),
        name: "inline_query".into(),
        resource_type: ResourceType::Analysis,
        package_name: l.project.config.name.clone(),
        path: "inline_query.sql".into(),
        original_file_path: "<inline>".into(),
        raw_code: sql.into(),
        fqn: vec![l.project.config.name.clone(), "inline_query".into()],
        config: Default::default(),
        description: String::new(),
        columns: vec![],
        patch_path: None,
        refs: vec![],
        sources: vec![],
        depends_on: vec![],
        relation: crate::templating::relation::Relation::new(l.engine.dialect, &db, &schema, "inline_query"),
        file_path: PathBuf::new(),
        test: None,
        language: crate::parse::Language::Sql,
        constraints: vec![],
        version: None,
    }
}

/// Static analysis of compiled models: diagnostics printed (errors in strict mode stop the
/// command with exit 2), `target/lineage.json` written.
pub(super) fn check_compiled(
    settings: &Settings,
    l: &Loaded,
    compiled: &HashMap<String, String>,
    conn: &dyn crate::adapter::Connection,
    printer: &Printer,
) -> Result<crate::lineage::Lineage, i32> {
    let mode = settings.static_analysis;
    if mode == crate::lineage::Mode::Off {
        return Ok(Default::default());
    }
    let db = crate::lineage::DbColumns::lazy(conn);
    let lineage = crate::lineage::analyze(
        &l.manifest,
        &l.dag,
        compiled,
        Some(&db),
        &l.project.root,
        &l.target_dir,
        l.analysis(mode),
    );
    let mut d = Diagnostics::default();
    d.extend(lineage.diagnostics.clone());
    d.sort();
    printer.diagnostics(&d.items);
    if let Err(e) = lineage.write(&l.target_dir, &l.invocation) {
        printer.warn(&format!("cannot write lineage.json: {e}"));
    }
    if let Some((read, took)) = db.into_read() {
        printer.debug(&format!("database columns read: {:.3}s", took.as_secs_f64()));
        free_later(read);
    }
    if d.has_errors() {
        printer.info("Static analysis found problems (--static-analysis strict): nothing was run.");
        return Err(2);
    }
    Ok(lineage)
}

/// Compile `ids` (without writing target/compiled when `write` is false) and analyse them,
/// problems as warnings, against the database's catalog: what `lineage` and `diff` read.
/// Compile errors come back sorted.
pub(super) fn compile_and_analyse(
    l: &Loaded,
    db: &dyn Adapter,
    conn: &dyn Connection,
    ids: &[String],
    write: bool,
) -> Result<(HashMap<String, String>, crate::lineage::Lineage), Vec<Diagnostic>> {
    let (compiled, errors) = compile_models(l, db, ids, write);
    if !errors.is_empty() {
        let mut d = Diagnostics::default();
        d.extend(errors);
        d.sort();
        return Err(d.items);
    }
    let columns = crate::lineage::DbColumns::lazy(conn);
    let lineage = crate::lineage::analyze(
        &l.manifest,
        &l.dag,
        &compiled,
        Some(&columns),
        &l.project.root,
        &l.target_dir,
        l.analysis(crate::lineage::Mode::Warn),
    );
    Ok((compiled, lineage))
}

/// Compile `ids` on every core (each worker with its own connection; a generic test through its
/// fast path when it has one), writing target/compiled when `write`: each id's SQL or its
/// error, in the order of `ids`.
pub(super) fn compile_each(
    l: &Loaded,
    compiler: &Compiler,
    db: &dyn Adapter,
    ids: &[String],
    write: bool,
) -> Vec<(String, Result<String, Diagnostic>)> {
    ids.par_iter()
        .map_init(
            // Each worker's connection, and the folders it has made (not made again per file).
            || (db.connect().ok(), std::collections::HashSet::new()),
            |(conn, made), id| {
                let node = &l.manifest.nodes[id];
                let r = match crate::testing::fast_sql(compiler, node, None) {
                    Some(sql) => {
                        compiler.record(id, &crate::compile::CompiledNode { sql: sql.clone(), ..Default::default() });
                        Ok(sql)
                    }
                    None => compiler.compile(node, Phase::Compile, conn.clone(), false).map(|c| c.sql),
                };
                if let (Ok(sql), true) = (&r, write) {
                    let path = l.manifest.target_rel_path(node);
                    let _ = crate::compile::write_target_file_in(made, &l.target_dir, "compiled", &path, sql);
                }
                (id.clone(), r)
            },
        )
        .collect()
}

/// Compile models and analyses in parallel ([`compile_each`]); returns the SQL by unique id and
/// the compile errors.
pub(super) fn compile_models(
    l: &Loaded,
    db: &dyn Adapter,
    ids: &[String],
    write: bool,
) -> (HashMap<String, String>, Vec<Diagnostic>) {
    let compiler = Compiler::new(&l.engine, compile_globals(l), &l.manifest).with_log(&l.compiled);
    let results = compile_each(l, &compiler, db, ids, write);
    let mut sql = HashMap::new();
    let mut errors = vec![];
    for (id, r) in results {
        match r {
            Ok(s) => {
                sql.insert(id, s);
            }
            Err(d) => errors.push(d),
        }
    }
    (sql, errors)
}

/// The unique ids of the nodes of these types.
pub(super) fn node_ids(l: &Loaded, types: &[ResourceType]) -> Vec<String> {
    l.manifest.nodes.values().filter(|n| types.contains(&n.resource_type)).map(|n| n.unique_id.clone()).collect()
}

/// Run the project's on-run-start hooks; a failing one is reported and the command exits 1.
pub(super) fn on_run_start(
    compiler: &Compiler,
    l: &Loaded,
    conn: Arc<dyn Connection>,
    printer: &Printer,
) -> Result<usize, i32> {
    crate::run::run_hooks(compiler, &l.project.config.on_run_start, "on-run-start", conn, vec![]).map_err(|d| {
        printer.diagnostics(&[d]);
        1
    })
}
