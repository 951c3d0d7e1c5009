//! One function per command: load, parse, select, then compile or run, and print. Exit codes:
//! 0 ok, 1 a node failed, 2 diagnostics (user mistakes), usage or internal errors.

use crate::adapter::duckdb::DuckDb;
use crate::adapter::{Adapter, Connection};
use crate::cli::{Cmd, OutputArg, Settings};
use crate::compile::{write_target_file, Compiler};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::graph::Dag;
use crate::output::Printer;
use crate::parse::{Manifest, ResourceType};
use crate::project::{LoadOptions, Project};
use crate::run::RunOptions;
use crate::templating::{Engine, Globals, Phase};
use crate::Invocation;
use rayon::prelude::*;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Run the command in `settings`; returns the exit code.
pub fn execute(settings: &Settings) -> i32 {
    match &settings.command {
        Cmd::Init { name, skip_profile } => init(settings, name.as_deref(), *skip_profile),
        Cmd::Clean => clean(settings),
        Cmd::Debug => debug(settings),
        Cmd::Deps { upgrade, lock } => deps(settings, *upgrade, *lock),
        _ => project_command(settings),
    }
}

fn printer_for(settings: &Settings, log_dir: Option<&Path>) -> Printer {
    Printer::new(settings.color, settings.log_format, log_dir)
}

fn load_options(settings: &Settings, require_profile: bool) -> LoadOptions {
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

/// A project loaded, parsed and planned.
struct Loaded {
    project: Project,
    engine: Engine,
    manifest: Arc<Manifest>,
    dag: Dag,
    invocation: Invocation,
    target_dir: PathBuf,
    /// The --state build to compare with (empty without --state), read before manifest.json
    /// is written (the state folder may be this target folder).
    state: crate::select::Context,
    /// Databases to attach on connecting: (path, catalog name), for --defer to another file.
    attach: Vec<(String, String)>,
    /// The database, being opened while the project parses (see [`open_early`]).
    early_db: std::sync::Mutex<Option<std::thread::JoinHandle<Result<DuckDb, crate::adapter::DbError>>>>,
    /// What this invocation compiles and runs, for manifest.json.
    compiled: crate::compile::CompiledLog,
    /// The unique ids the command selects (`selected_resources`).
    selected: Vec<String>,
}

/// For commands that run SQL on a database file that already exists, open it on another thread
/// while the project is parsed (opening loads DuckDB's catalog). A file that does not exist is
/// left alone, so a project with errors never creates its database.
fn open_early(
    settings: &Settings,
    project: &Project,
) -> Option<std::thread::JoinHandle<Result<DuckDb, crate::adapter::DbError>>> {
    let runs = matches!(settings.command, Cmd::Run | Cmd::Seed | Cmd::Snapshot | Cmd::Build | Cmd::Test | Cmd::Retry);
    let target = project.target.clone()?;
    let exists = target.path != ":memory:" && !target.path.is_empty() && Path::new(&target.path).is_file();
    (runs && exists).then(|| std::thread::spawn(move || DuckDb::open(&target)))
}

/// `invocation_args_dict`: the arguments as dbt names them (lowercase, flags' defaults filled).
fn invocation_args(settings: &Settings) -> serde_json::Value {
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
        "log_format": match settings.log_format {
            crate::output::LogFormat::Text => "default",
            crate::output::LogFormat::Json => "json",
        },
        "invocation_command": std::env::args().collect::<Vec<_>>().join(" "),
    })
}

fn target_dir(settings: &Settings, project: &Project) -> PathBuf {
    // Relative paths are relative to the project folder, where dbt runs.
    project.root.join(settings.target_path.clone().unwrap_or_else(|| PathBuf::from(&project.config.target_path)))
}

fn load(settings: &Settings, printer: &mut Printer) -> Result<Loaded, i32> {
    let mut invocation = Invocation::new(settings.command.name(), settings.full_refresh);
    invocation.args = invocation_args(settings);
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
        Ok(d) => d,
        Err(d) => {
            diags.push(d);
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

fn compile_globals(l: &Loaded) -> Arc<Globals> {
    let mut g = crate::parse::parse_globals(&l.project, &l.invocation);
    g.resolver = l.manifest.resolver();
    g.set_selected_resources(&l.selected);
    let manifest = l.manifest.clone();
    g.graph = crate::templating::lazy_map(move || manifest.graph_json());
    Arc::new(g)
}

fn counts(m: &Manifest, macros: usize) -> String {
    let n = |t: ResourceType| m.nodes.values().filter(|x| x.resource_type == t).count();
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

fn plan_for(settings: &Settings, l: &Loaded, types: &[ResourceType], printer: &Printer) -> Result<Vec<String>, i32> {
    Ok(selected(settings, l, &l.state, printer)?
        .into_iter()
        .filter(|id| l.manifest.nodes.get(id).is_some_and(|n| types.contains(&n.resource_type)))
        .collect())
}

/// The nodes --select / --exclude / --selector choose (selectors.yml's default selector when
/// none is given), in dependency order.
fn selected(
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
fn defer(settings: &Settings, l: &mut Loaded, printer: &Printer) -> Result<(), i32> {
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
    let has_file = target.path != ":memory:" && Path::new(&target.path).is_file();
    if !settings.favor_state && has_file {
        let (_db, conn) = connect(l, printer)?;
        existing = conn.relations().unwrap_or_default();
    }
    let key = |r: &crate::templating::relation::Relation| {
        let s = |x: &Option<String>| x.clone().unwrap_or_default();
        (s(&r.database), s(&r.schema), s(&r.identifier))
    };
    let mut deferred = 0;
    let mut databases = std::collections::BTreeSet::new();
    let manifest = Arc::make_mut(&mut l.manifest);
    for n in manifest.nodes.values_mut() {
        let kind = matches!(n.resource_type, ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot);
        if !kind
            || n.materialized() == "ephemeral"
            || chosen.contains(&n.unique_id)
            || existing.contains_key(&key(&n.relation))
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
        n.relation = crate::templating::relation::Relation::new(&db, &schema, &alias);
        deferred += 1;
    }
    if !databases.is_empty() {
        let text = std::fs::read_to_string(l.state.state_dir.clone().unwrap_or_default().join("manifest.json"))
            .unwrap_or_default();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let path = state.pointer("/metadata/env/STRATA_DUCKDB_PATH").and_then(|v| v.as_str()).unwrap_or_default();
        for db in databases {
            if !path.is_empty() && crate::project::profiles::database_from_path(path).eq_ignore_ascii_case(&db) {
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
fn state_error(printer: &Printer, (file, text, col, len): (&str, &str, usize, usize), msg: String, help: &str) -> i32 {
    let at = crate::diagnostics::Span { file: file.into(), line: 1, col, len, source_line: Some(text.to_string()) };
    printer.diagnostics(&[Diagnostic::error("E0605", msg).with_span(at).with_help(help)]);
    2
}

/// What `state:`, `result:`, `--defer` and `diff` compare with: the build in `--state DIR`.
/// A folder without a manifest.json, or one from another project, is a diagnostic (exit 2).
fn selection_context(settings: &Settings, l: &Loaded, printer: &Printer) -> Result<crate::select::Context, i32> {
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

const BUILD_TYPES: &[ResourceType] =
    &[ResourceType::Model, ResourceType::Seed, ResourceType::Snapshot, ResourceType::Test, ResourceType::UnitTest];

fn project_command(settings: &Settings) -> i32 {
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
    std::thread::scope(|s| {
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
            crate::artifacts::manifest::write(
                &l.target_dir,
                &l.manifest,
                &l.engine,
                &l.project,
                &l.invocation,
                lineage,
                compiled.as_ref(),
            )
        });
        let code = {
            let _finish = crate::compile::FinishOnDrop(&l.compiled);
            command_on(settings, &l, &printer)
        };
        if let Ok(Err(e)) = writer.join() {
            printer.warn(&format!("cannot write manifest.json: {e}"));
        }
        code
    })
}

fn command_on(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    match settings.command {
        Cmd::Parse => {
            let _ = std::fs::create_dir_all(&l.target_dir);
            printer.info("Parsed the project.");
            0
        }
        Cmd::Ls => ls(settings, l),
        Cmd::Compile => compile_cmd(settings, l, printer),
        Cmd::Show => show(settings, l, printer),
        Cmd::Run => run_cmd(settings, l, printer, &[ResourceType::Model], None, Default::default()),
        Cmd::Seed => run_cmd(settings, l, printer, &[ResourceType::Seed], None, Default::default()),
        Cmd::Snapshot => run_cmd(settings, l, printer, &[ResourceType::Snapshot], None, Default::default()),
        Cmd::Build => run_cmd(settings, l, printer, BUILD_TYPES, None, Default::default()),
        Cmd::Test => {
            run_cmd(settings, l, printer, &[ResourceType::Test, ResourceType::UnitTest], None, Default::default())
        }
        Cmd::Retry => retry(settings, l, printer),
        Cmd::RunOperation { ref name, ref args } => run_operation(l, printer, name, args),
        Cmd::Diff { exit_code } => diff_cmd(settings, l, printer, exit_code),
        Cmd::SourceFreshness { ref output } => source_freshness(settings, l, printer, output.as_deref()),
        Cmd::DocsGenerate { no_compile } => docs_generate(settings, l, printer, no_compile),
        Cmd::DocsServe { port } => crate::docs::serve(&l.target_dir, port, printer),
        Cmd::Lineage { ref target, upstream, downstream, depth, check } => {
            lineage_cmd(settings, l, printer, target, (upstream, downstream), depth, check)
        }
        _ => 2,
    }
}

/// Run the project's on-run-start hooks; a failing one is reported and the command exits 1.
fn on_run_start(compiler: &Compiler, l: &Loaded, conn: Arc<dyn Connection>, printer: &Printer) -> Result<usize, i32> {
    crate::run::run_hooks(compiler, &l.project.config.on_run_start, "on-run-start", conn, vec![]).map_err(|d| {
        printer.diagnostics(&[d]);
        1
    })
}

/// `source freshness`: each selected source table that has a threshold, checked in unique-id
/// order between the project's on-run-start and on-run-end hooks; sources.json written; exit 1
/// when one is stale past `error_after` or cannot be checked.
fn source_freshness(settings: &Settings, l: &Loaded, printer: &Printer, output: Option<&Path>) -> i32 {
    let ids = match selected(settings, l, &l.state, printer) {
        Ok(ids) => ids,
        Err(code) => return code,
    };
    let ids: std::collections::BTreeSet<String> = ids.into_iter().collect();
    let sources: Vec<&crate::parse::SourceNode> = l
        .manifest
        .sources
        .values()
        .filter(|s| ids.contains(&s.unique_id))
        .filter(|s| s.table.freshness.as_ref().is_some_and(|f| f.has_threshold()))
        .collect();
    let (_db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let started = std::time::Instant::now();
    // Sources are checked one at a time, whatever --threads says.
    let target = l.project.target.as_ref().map(|t| t.name.as_str()).unwrap_or_default();
    printer.info(&format!("Concurrency: 1 threads (target='{target}')"));
    printer.info("");
    let compiler = Compiler::new(&l.engine, compile_globals(l), &l.manifest);
    let mut hooks = match on_run_start(&compiler, l, conn.clone(), printer) {
        Ok(n) => n,
        Err(code) => return code,
    };
    let total = sources.len();
    let mut results = vec![];
    for (i, s) in sources.iter().enumerate() {
        let name = format!("{}.{}", s.table.source_name, s.table.name);
        printer.freshness_started(i + 1, total, &s.unique_id, &name);
        let r = crate::run::freshness::check(conn.as_ref(), s, "Thread-1");
        printer.freshness_finished(i + 1, total, &r, &name);
        results.push(r);
    }
    let mut code = 0;
    match crate::run::run_hooks(&compiler, &l.project.config.on_run_end, "on-run-end", conn.clone(), vec![]) {
        Ok(n) => hooks += n,
        Err(d) => {
            printer.diagnostics(&[d]);
            code = 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let json = crate::artifacts::sources_json(&results, &l.invocation, elapsed);
    let path = output.map(Path::to_path_buf).unwrap_or_else(|| l.target_dir.join("sources.json"));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if let Err(e) = crate::artifacts::write_json(dir, &name, &json) {
        printer.warn(&format!("cannot write {}: {e}", path.display()));
    }
    printer.freshness_summary(&results, hooks, elapsed, &l.manifest.sources);
    if results.iter().any(|r| matches!(r.status(), "error" | "runtime error")) {
        code = 1;
    }
    code
}

fn ls(settings: &Settings, l: &Loaded) -> i32 {
    let printer = printer_for(settings, None);
    let ids = match selected(settings, l, &l.state, &printer) {
        Ok(ids) => ids,
        Err(code) => return code,
    };
    // dbt lists in unique-id order.
    let mut ids = ids;
    ids.sort();
    let wanted =
        |t: &str| settings.resource_types.is_empty() || settings.resource_types.iter().any(|r| r == t || r == "all");
    let mut lines = vec![];
    for id in ids {
        if let Some(n) = l.manifest.nodes.get(&id) {
            if !wanted(n.resource_type.as_str()) {
                continue;
            }
            lines.push(match settings.output {
                OutputArg::Name => n.versioned_name(),
                OutputArg::Path => n.original_file_path.clone(),
                OutputArg::Selector | OutputArg::Text | OutputArg::Dot => n.fqn.join("."),
                OutputArg::Json => json!({
                    "name": n.name, "resource_type": n.resource_type.as_str(), "package_name": n.package_name,
                    "original_file_path": n.original_file_path, "unique_id": n.unique_id, "alias": n.relation.identifier,
                    "config": n.config.to_json(), "tags": n.config.tags(),
                    "depends_on": {"nodes": n.depends_on, "macros": []},
                })
                .to_string(),
            });
        } else if let Some(s) = l.manifest.sources.get(&id) {
            if !wanted("source") {
                continue;
            }
            lines.push(match settings.output {
                OutputArg::Name => format!("{}.{}", s.table.source_name, s.table.name),
                OutputArg::Path => s.table.file.to_string_lossy().replace('\\', "/"),
                OutputArg::Selector | OutputArg::Text | OutputArg::Dot => format!("source:{}", s.fqn.join(".")),
                OutputArg::Json => json!({
                    "name": s.table.name, "source_name": s.table.source_name, "resource_type": "source",
                    "package_name": s.fqn[0], "original_file_path": s.table.file.to_string_lossy().replace('\\', "/"),
                    "unique_id": s.unique_id, "config": s.table.config.to_json(), "tags": s.table.tags,
                })
                .to_string(),
            });
        }
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    print!("{out}");
    0
}

fn connect(l: &Loaded, printer: &Printer) -> Result<(DuckDb, Arc<dyn Connection>), i32> {
    let Some(target) = &l.project.target else { return Err(2) };
    let early = l.early_db.lock().unwrap_or_else(|e| e.into_inner()).take();
    let opened = match early.map(|h| h.join()) {
        Some(Ok(r)) => r,
        _ => DuckDb::open(target),
    };
    let attached = |c: Arc<dyn Connection>| -> Result<Arc<dyn Connection>, crate::adapter::DbError> {
        for (path, name) in &l.attach {
            let sql = format!(
                "attach if not exists '{}' as {} (read_only)",
                path.replace('\'', "''"),
                crate::templating::relation::quote(name)
            );
            c.execute(&sql)?;
        }
        Ok(c)
    };
    match opened.and_then(|db| db.connect().and_then(attached).map(|c| (db, c))) {
        Ok(x) => Ok(x),
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E0801", format!("cannot open DuckDB at '{}': {e}", target.path))
                .with_help("check `path` in profiles.yml and that no other process holds the file")]);
            Err(2)
        }
    }
}

fn inline_node(l: &Loaded, sql: &str) -> crate::parse::Node {
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
        raw_code: sql.to_string(),
        fqn: vec![l.project.config.name.clone(), "inline_query".into()],
        config: Default::default(),
        description: String::new(),
        columns: vec![],
        patch_path: None,
        refs: vec![],
        sources: vec![],
        depends_on: vec![],
        relation: crate::templating::relation::Relation::new(&db, &schema, "inline_query"),
        file_path: PathBuf::new(),
        test: None,
        language: crate::parse::Language::Sql,
        constraints: vec![],
        version: None,
    }
}

/// Static analysis of compiled models: diagnostics printed (errors in strict mode stop the
/// command with exit 2), `target/lineage.json` written.
fn check_compiled(
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
    let db = crate::lineage::db_columns(conn);
    let lineage =
        crate::lineage::analyze(&l.manifest, &l.dag, compiled, Some(&db), &l.project.root, &l.target_dir, mode);
    let mut d = Diagnostics::default();
    d.extend(lineage.diagnostics.clone());
    d.sort();
    printer.diagnostics(&d.items);
    if let Err(e) = lineage.write(&l.target_dir, &l.invocation) {
        printer.warn(&format!("cannot write lineage.json: {e}"));
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
fn compile_and_analyse(
    l: &Loaded,
    db: &DuckDb,
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
    let columns = crate::lineage::db_columns(conn);
    let lineage = crate::lineage::analyze(
        &l.manifest,
        &l.dag,
        &compiled,
        Some(&columns),
        &l.project.root,
        &l.target_dir,
        crate::lineage::Mode::Warn,
    );
    Ok((compiled, lineage))
}

/// Compile models and analyses in parallel (each worker with its own connection), writing
/// target/compiled; returns the SQL by unique id and the compile errors.
fn compile_models(l: &Loaded, db: &DuckDb, ids: &[String], write: bool) -> (HashMap<String, String>, Vec<Diagnostic>) {
    let compiler = Compiler::new(&l.engine, compile_globals(l), &l.manifest).with_log(&l.compiled);
    let results: Vec<(String, Result<String, Diagnostic>)> = ids
        .par_iter()
        .map_init(
            || db.connect().ok(),
            |conn, id| {
                let node = &l.manifest.nodes[id];
                let r = compiler.compile(node, Phase::Compile, conn.clone(), false).map(|c| c.sql);
                if let (Ok(sql), true) = (&r, write) {
                    let _ = write_target_file(&l.target_dir, "compiled", &l.manifest.target_rel_path(node), sql);
                }
                (id.clone(), r)
            },
        )
        .collect();
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

/// `strata diff`: new, modified and removed nodes against the --state build, with their compiled
/// SQL diffs, output-column changes and what is downstream. `--exit-code`: exit 1 on any change.
fn diff_cmd(settings: &Settings, l: &Loaded, printer: &Printer, exit_code: bool) -> i32 {
    use crate::diff::{Change, Kind};
    let state = &l.state;
    let Some(dir) = state.state_dir.as_ref() else {
        return state_error(
            printer,
            ("<command line>", "strata diff", 8, 4),
            "`diff` compares with another build, but no --state was given".into(),
            "pass --state with the target folder of the build to compare with",
        );
    };
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let kinds = [ResourceType::Model, ResourceType::Snapshot, ResourceType::Analysis, ResourceType::Seed];
    let scope: std::collections::BTreeSet<String> = if settings.select.is_empty() && settings.selector.is_none() {
        l.manifest.nodes.keys().chain(l.manifest.sources.keys()).cloned().collect()
    } else {
        match selected(settings, l, state, printer) {
            Ok(ids) => ids.into_iter().collect(),
            Err(c) => return c,
        }
    };
    let sql_ids: Vec<String> = l
        .manifest
        .nodes
        .values()
        .filter(|n| n.resource_type != ResourceType::Seed && kinds.contains(&n.resource_type))
        .filter(|n| scope.contains(&n.unique_id))
        .map(|n| n.unique_id.clone())
        .collect();
    let (compiled, lineage) = match compile_and_analyse(l, &db, conn.as_ref(), &sql_ids, false) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d);
            return 2;
        }
    };
    // The state's columns, from its lineage.json.
    let old_lineage: serde_json::Value = std::fs::read_to_string(dir.join("lineage.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let old_columns = |id: &str| -> Option<Vec<String>> {
        let names = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|c| c.get("name").or(Some(c)).and_then(|n| n.as_str()).map(str::to_string))
                    .collect()
            })
        };
        old_lineage
            .pointer(&format!("/nodes/{}/columns", id.replace('~', "~0").replace('/', "~1")))
            .and_then(names)
            .or_else(|| {
                old_lineage
                    .pointer(&format!("/base_columns/{}", id.replace('~', "~0").replace('/', "~1")))
                    .and_then(names)
            })
    };
    let new_columns = |id: &str| -> Option<Vec<String>> {
        lineage
            .nodes
            .get(id)
            .map(|n| n.columns.iter().map(|c| c.name.clone()).collect())
            .or_else(|| lineage.base_columns.get(id).cloned())
    };
    // Who reads each (node, column), in either build (a column removed now has readers only in
    // the state's lineage), among the nodes that still exist.
    // Upstream node → its column (lowercased) → the `reader.column`s that read it, sorted.
    let mut readers: HashMap<String, std::collections::BTreeMap<String, std::collections::BTreeSet<String>>> =
        HashMap::new();
    let mut edges: Vec<(String, String, String, String)> = vec![];
    for (id, nl) in &lineage.nodes {
        for c in &nl.columns {
            edges.extend(c.upstream.iter().map(|u| (id.clone(), c.name.clone(), u.node.clone(), u.column.clone())));
        }
    }
    for (id, nl) in old_lineage.get("nodes").and_then(|n| n.as_object()).into_iter().flatten() {
        for c in nl.get("columns").and_then(|c| c.as_array()).into_iter().flatten() {
            let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            for u in c.get("upstream").and_then(|u| u.as_array()).into_iter().flatten() {
                let s = |k: &str| u.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                edges.push((id.clone(), name.to_string(), s("node"), s("column")));
            }
        }
    }
    for (id, column, up_node, up_column) in edges {
        let Some(reader) = l.manifest.nodes.get(&id) else { continue };
        let who = format!("{}.{column}", reader.name);
        readers.entry(up_node).or_default().entry(up_column.to_lowercase()).or_default().insert(who);
    }
    // The state's compiled SQL, its relation names replaced by this target's (a production
    // state names production's relations); None when it has none (then sources are compared).
    let mut renames: Vec<(String, String)> = state
        .state_nodes
        .iter()
        .filter_map(|(id, v)| {
            let name = |v: &serde_json::Value| v.get("relation_name")?.as_str().map(str::to_string);
            let (theirs, ours) = (name(v)?, name(state.current_nodes.get(id)?)?);
            (theirs != ours).then_some((theirs, ours))
        })
        .collect();
    renames.sort_by_key(|(theirs, _)| std::cmp::Reverse(theirs.len()));
    let old_compiled = |file: &str| -> Option<String> {
        let text = std::fs::read_to_string(dir.join("compiled").join(file)).ok()?;
        Some(renames.iter().fold(text, |t, (theirs, ours)| t.replace(theirs.as_str(), ours)))
    };
    let old_raw =
        |id: &str| -> Option<String> { state.state_nodes.get(id)?.get("raw_code")?.as_str().map(str::to_string) };
    let mut changes = vec![];
    // (id, file shown, file under target/compiled, raw code)
    let current: Vec<(String, String, String, String)> = l
        .manifest
        .nodes
        .values()
        .filter(|n| kinds.contains(&n.resource_type))
        .map(|n| (n.unique_id.clone(), n.target_file_path(), l.manifest.target_rel_path(n), n.raw_code.clone()))
        .chain(l.manifest.sources.values().map(|s| {
            let file = s.table.file.to_string_lossy().replace('\\', "/");
            (s.unique_id.clone(), file, String::new(), String::new())
        }))
        .filter(|(id, ..)| scope.contains(id))
        .collect();
    for (id, file, compiled_file, raw) in current {
        let is_source = id.starts_with("source.");
        let known = state.state_nodes.contains_key(&id);
        let (kind, old, new_sql) = if !known {
            (Kind::New, None, if is_source { None } else { compiled.get(&id).cloned().or(Some(raw.clone())) })
        } else {
            let mut why: Vec<String> = state.modified_kinds(&id, &raw).into_iter().map(str::to_string).collect();
            // Compiled SQL against compiled SQL when the state has it, else source against source.
            let (old, new) = match (old_compiled(&compiled_file), compiled.get(&id)) {
                _ if is_source => (None, None),
                (Some(o), Some(n)) => {
                    if o.trim_end() != n.trim_end() {
                        why.push("compiled SQL".into());
                    }
                    (Some(o), Some(n.clone()))
                }
                _ => (old_raw(&id), Some(raw.clone())),
            };
            if why.is_empty() {
                continue;
            }
            (Kind::Modified(why), old, new)
        };
        let node_readers: std::collections::BTreeMap<String, Vec<String>> = readers
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(|(c, who)| (c, who.into_iter().collect()))
            .collect();
        let downstream: Vec<String> = l
            .dag
            .walk(&id, false, None)
            .into_iter()
            .filter(|d| l.manifest.nodes.get(d).is_none_or(|n| !n.is_test()))
            .collect();
        changes.push(Change {
            id: id.clone(),
            kind,
            path: file,
            old_sql: old,
            new_sql,
            old_columns: old_columns(&id),
            new_columns: new_columns(&id),
            readers: node_readers,
            downstream,
        });
    }
    if settings.select.is_empty() && settings.selector.is_none() {
        for (id, v) in &state.state_nodes {
            let rt = v.get("resource_type").and_then(|r| r.as_str()).unwrap_or_default();
            if !matches!(rt, "model" | "seed" | "snapshot" | "analysis" | "source")
                || l.manifest.nodes.contains_key(id)
                || l.manifest.sources.contains_key(id)
            {
                continue;
            }
            let file = v.get("original_file_path").and_then(|p| p.as_str()).unwrap_or_default().to_string();
            let package = v.get("package_name").and_then(|p| p.as_str()).unwrap_or_default();
            let compiled_file = format!("{package}/{file}");
            changes.push(Change {
                id: id.clone(),
                kind: Kind::Removed,
                old_sql: if rt == "source" { None } else { old_compiled(&compiled_file).or_else(|| old_raw(id)) },
                path: file,
                new_sql: None,
                old_columns: old_columns(id),
                new_columns: None,
                readers: Default::default(),
                downstream: vec![],
            });
        }
    }
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    print!("{}", crate::diff::render(&changes));
    i32::from(exit_code && !changes.is_empty())
}

/// The unique ids of the nodes of these types.
fn node_ids(l: &Loaded, types: &[ResourceType]) -> Vec<String> {
    l.manifest.nodes.values().filter(|n| types.contains(&n.resource_type)).map(|n| n.unique_id.clone()).collect()
}

/// `docs generate`: compile, analyse, read the catalog, write catalog.json, lineage.json and
/// the site.
fn docs_generate(settings: &Settings, l: &Loaded, printer: &Printer, no_compile: bool) -> i32 {
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let ids = node_ids(l, &[ResourceType::Model, ResourceType::Analysis]);
    let (compiled, errors) = if no_compile { (HashMap::new(), vec![]) } else { compile_models(l, &db, &ids, true) };
    let mut diags = Diagnostics::default();
    for e in errors {
        // A model that does not compile is documented without its compiled SQL.
        let mut w = e;
        w.severity = crate::diagnostics::Severity::Warning;
        diags.push(w);
    }
    let mode = match settings.static_analysis {
        crate::lineage::Mode::Strict => crate::lineage::Mode::Warn,
        m => m,
    };
    let db_cols = crate::lineage::db_columns(conn.as_ref());
    let lineage =
        crate::lineage::analyze(&l.manifest, &l.dag, &compiled, Some(&db_cols), &l.project.root, &l.target_dir, mode);
    diags.extend(lineage.diagnostics.clone());
    let tables = crate::artifacts::catalog::collect(&l.manifest, conn.as_ref());
    let catalog = crate::artifacts::catalog::catalog_json(&l.manifest, &tables, &l.invocation);
    if let Err(e) = crate::artifacts::write_json(&l.target_dir, "catalog.json", &catalog) {
        printer.warn(&format!("cannot write catalog.json: {e}"));
    }
    if let Err(e) = lineage.write(&l.target_dir, &l.invocation) {
        printer.warn(&format!("cannot write lineage.json: {e}"));
    }
    let input = crate::docs::SiteInput {
        manifest: &l.manifest,
        lineage: &lineage,
        compiled: &compiled,
        catalog: &tables,
        project: &l.project.config.name,
        generated_at: l.invocation.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        root: &l.project.root,
    };
    match crate::docs::generate(&input, &l.target_dir) {
        Ok(w) => diags.extend(w),
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E1203", format!("cannot write the docs site: {e}"))]);
            return 2;
        }
    }
    diags.sort();
    printer.diagnostics(&diags.items);
    printer.info(&format!("Catalog written to {}", l.target_dir.join("catalog.json").display()));
    printer.info(&format!("Docs site written to {}", l.target_dir.join("index.html").display()));
    0
}

/// `lineage [model[.column]] [--upstream|--downstream] [--depth n] [--output text|json|dot]
/// [--check]`: table- or column-level lineage from the static analysis of every model.
fn lineage_cmd(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    target: &Option<String>,
    (upstream, downstream): (bool, bool),
    depth: Option<usize>,
    check: bool,
) -> i32 {
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let ids = node_ids(l, &[ResourceType::Model]);
    let (_, lineage) = match compile_and_analyse(l, &db, conn.as_ref(), &ids, true) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d);
            return 2;
        }
    };
    if check {
        let broken: Vec<Diagnostic> =
            lineage.diagnostics.iter().filter(|d| matches!(d.code, "W1001" | "W1002")).cloned().collect();
        if !broken.is_empty() {
            printer.diagnostics(&broken);
            printer.info(&format!(
                "lineage check: {} reference(s) to columns or relations that do not exist",
                broken.len()
            ));
            return 1;
        }
        if target.is_none() {
            printer.info("lineage check: every column reference resolves");
            return 0;
        }
    }
    let Some(target) = target else {
        printer.diagnostics(&[Diagnostic::error("E1204", "lineage needs a model or model.column")
            .with_help("e.g. `strata lineage fct_orders.amount --upstream`")]);
        return 2;
    };
    // `name` of a model, seed or source (`source_name.table`), or that followed by `.column`.
    let find = |name: &str| -> Option<String> {
        l.manifest.nodes.values().find(|n| n.name == name && !n.is_test()).map(|n| n.unique_id.clone()).or_else(|| {
            l.manifest
                .sources
                .values()
                .find(|s| format!("{}.{}", s.table.source_name, s.table.name) == name)
                .map(|s| s.unique_id.clone())
        })
    };
    let (node, column) = match find(target) {
        Some(id) => (id, None),
        None => match target.rsplit_once('.').and_then(|(n, c)| find(n).map(|id| (id, c.to_string()))) {
            Some((id, c)) => (id, Some(c)),
            None => {
                let names: Vec<&str> = l.manifest.nodes.values().map(|n| n.name.as_str()).collect();
                printer.diagnostics(&[Diagnostic::error(
                    "E1205",
                    format!("no model, seed or source named '{target}'"),
                )
                .with_opt_help(crate::diagnostics::did_you_mean(target, names))]);
                return 2;
            }
        },
    };
    let both = !upstream && !downstream;
    let max = depth.unwrap_or(usize::MAX);
    // Edges as (from node, from column, to node, to column, kind); columns empty at table level.
    let mut edges: Vec<(String, String, String, String, String)> = vec![];
    let mut seen = std::collections::BTreeSet::new();
    let mut walk = |start: (String, String), up: bool| {
        let mut frontier = vec![start];
        for _ in 0..max {
            let mut next = vec![];
            for (n, c) in &frontier {
                let steps: Vec<(String, String, String)> = match (&column, up) {
                    (Some(_), true) => lineage
                        .nodes
                        .get(n)
                        .and_then(|nl| nl.columns.iter().find(|x| x.name.eq_ignore_ascii_case(c)))
                        .map(|x| {
                            x.upstream
                                .iter()
                                .map(|u| (u.node.clone(), u.column.clone(), format!("{:?}", u.kind).to_lowercase()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    (Some(_), false) => lineage
                        .downstream_of(n, c)
                        .into_iter()
                        .map(|(a, b, k)| (a, b, format!("{k:?}").to_lowercase()))
                        .collect(),
                    (None, true) => l.dag.parents(n).into_iter().map(|p| (p, String::new(), String::new())).collect(),
                    (None, false) => l
                        .dag
                        .children(n)
                        .into_iter()
                        .filter(|c| !l.manifest.nodes.get(c).is_some_and(|x| x.is_test()))
                        .map(|c| (c, String::new(), String::new()))
                        .collect(),
                };
                for (m2, c2, kind) in steps {
                    let e = if up {
                        (m2.clone(), c2.clone(), n.clone(), c.clone(), kind.clone())
                    } else {
                        (n.clone(), c.clone(), m2.clone(), c2.clone(), kind.clone())
                    };
                    if seen.insert(e.clone()) {
                        edges.push(e);
                        if column.is_none() || (kind != "filter" && kind != "join") {
                            next.push((m2, c2));
                        }
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
    };
    let start = (node.clone(), column.clone().unwrap_or_default());
    if upstream || both {
        walk(start.clone(), true);
    }
    if downstream || both {
        walk(start, false);
    }
    let label = |n: &str, c: &str| if c.is_empty() { n.to_string() } else { format!("{n}.{c}") };
    match settings.output {
        OutputArg::Json => {
            let v = json!({
                "node": node, "column": column,
                "edges": edges.iter().map(|(a, b, c, d, k)| json!({"from": {"node": a, "column": b}, "to": {"node": c, "column": d}, "kind": k})).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        OutputArg::Dot => {
            println!("digraph lineage {{\n  rankdir=LR;");
            for (a, b, c, d, k) in &edges {
                let attr = if k.is_empty() { String::new() } else { format!(" [label=\"{k}\"]") };
                println!("  \"{}\" -> \"{}\"{attr};", label(a, b), label(c, d));
            }
            println!("}}");
        }
        _ => {
            let me = label(&node, column.as_deref().unwrap_or(""));
            println!("{me}");
            for (a, b, c, d, k) in &edges {
                let kind = if k.is_empty() { String::new() } else { format!(" ({k})") };
                if c == &node && (column.is_none() || column.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(d))) {
                    println!("  <- {}{kind}", label(a, b));
                } else if a == &node
                    && (column.is_none() || column.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(b)))
                {
                    println!("  -> {}{kind}", label(c, d));
                } else {
                    println!("     {} -> {}{kind}", label(a, b), label(c, d));
                }
            }
        }
    }
    0
}

fn compile_cmd(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    let (db, _conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let globals = compile_globals(l);
    let compiler = Compiler::new(&l.engine, globals, &l.manifest).with_log(&l.compiled);
    if let Some(sql) = &settings.inline {
        let node = inline_node(l, sql);
        return match compiler.compile(&node, Phase::Compile, db.connect().ok(), false) {
            Ok(c) => {
                println!("{}", c.sql.trim_end());
                0
            }
            Err(d) => {
                printer.diagnostics(&[d]);
                2
            }
        };
    }
    let plan = match plan_for(settings, l, &[ResourceType::Model, ResourceType::Analysis, ResourceType::Test], printer)
    {
        Ok(p) => p,
        Err(c) => return c,
    };
    let results: Vec<(String, Result<String, Diagnostic>)> = plan
        .par_iter()
        .map_init(
            || db.connect().ok(),
            |conn, id| {
                let node = &l.manifest.nodes[id];
                let r = match crate::testing::fast_sql(&compiler, node, None) {
                    Some(sql) => {
                        compiler.record(id, &crate::compile::CompiledNode { sql: sql.clone(), ..Default::default() });
                        Ok(sql)
                    }
                    None => compiler.compile(node, Phase::Compile, conn.clone(), false).map(|c| c.sql),
                };
                if let Ok(sql) = &r {
                    let _ = write_target_file(&l.target_dir, "compiled", &l.manifest.target_rel_path(node), sql);
                }
                (id.clone(), r)
            },
        )
        .collect();
    // Everything is compiled: manifest.json is written while the SQL is checked.
    l.compiled.finish();
    let mut diags = Diagnostics::default();
    for (_, r) in &results {
        if let Err(d) = r {
            diags.push(d.clone());
        }
    }
    diags.sort();
    if diags.has_errors() {
        printer.diagnostics(&diags.items);
        return 2;
    }
    let models: HashMap<String, String> = results
        .iter()
        .filter(|(id, _)| !l.manifest.nodes[id].is_test())
        .filter_map(|(id, r)| r.as_ref().ok().map(|sql| (id.clone(), sql.clone())))
        .collect();
    let conn = match db.connect() {
        Ok(c) => c,
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E0801", format!("cannot connect: {e}"))]);
            return 2;
        }
    };
    if let Err(code) = check_compiled(settings, l, &models, conn.as_ref(), printer) {
        return code;
    }
    if !settings.select.is_empty() && results.len() == 1 {
        let (id, Ok(sql)) = &results[0] else { return 2 };
        printer.info(&format!("Compiled node '{}' is:", l.manifest.nodes[id].name));
        println!("{}", sql.trim_end());
    } else {
        printer.info(&format!("Compiled {} nodes to {}", results.len(), l.target_dir.join("compiled").display()));
    }
    0
}

fn show(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    let (_db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let globals = compile_globals(l);
    let compiler = Compiler::new(&l.engine, globals, &l.manifest).with_log(&l.compiled);
    let node = match &settings.inline {
        Some(sql) => inline_node(l, sql),
        None => {
            let plan = match plan_for(
                settings,
                l,
                &[ResourceType::Model, ResourceType::Seed, ResourceType::Analysis],
                printer,
            ) {
                Ok(p) => p,
                Err(c) => return c,
            };
            match plan.as_slice() {
                [one] => l.manifest.nodes[one].clone(),
                _ => {
                    printer.diagnostics(&[Diagnostic::error(
                        "E0602",
                        format!("`show` needs exactly one node; the selection matched {}", plan.len()),
                    )
                    .with_help("pass --select with one model name, or --inline \"select ...\"")]);
                    return 2;
                }
            }
        }
    };
    let sql = if node.resource_type == ResourceType::Seed {
        format!("select * from {}", node.relation.render())
    } else {
        match compiler.compile(&node, Phase::Compile, Some(conn.clone()), false) {
            Ok(c) => c.sql,
            Err(d) => {
                printer.diagnostics(&[d]);
                return 2;
            }
        }
    };
    let limited = if settings.limit >= 0 {
        format!("select * from (\n{}\n) as strata_show limit {}", sql.trim_end().trim_end_matches(';'), settings.limit)
    } else {
        sql
    };
    match conn.query(&limited, None) {
        Ok(t) => {
            printer.info(&format!(
                "Previewing {}:",
                if settings.inline.is_some() { "inline node".to_string() } else { format!("node '{}'", node.name) }
            ));
            print!("{}", t.format());
            0
        }
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E0501", format!("database error: {e}"))
                .with_note(format!("while running the SQL of '{}'", node.name))]);
            1
        }
    }
}

fn run_cmd(
    settings: &Settings,
    l: &Loaded,
    printer: &Printer,
    types: &[ResourceType],
    only: Option<&std::collections::BTreeSet<String>>,
    batches: crate::run::Batches,
) -> i32 {
    let plan = match plan_for(settings, l, types, printer) {
        Ok(p) => crate::run::runnable(&l.manifest, &p),
        Err(c) => return c,
    };
    let plan: Vec<String> = plan.into_iter().filter(|id| only.is_none_or(|o| o.contains(id))).collect();
    let globals = compile_globals(l);
    let compiler = Compiler::new(&l.engine, globals, &l.manifest).with_log(&l.compiled);
    let mut bad = crate::run::check_materializations(&compiler, &l.manifest, &plan);
    let external_root = l.project.target.as_ref().map(|t| t.external_root.as_str()).unwrap_or(".");
    let planned: Vec<&crate::parse::Node> = plan.iter().filter_map(|id| l.manifest.nodes.get(id)).collect();
    bad.extend(crate::run::external::check(&planned, external_root, &l.project.root));
    if !bad.is_empty() {
        printer.diagnostics(&bad);
        return 2;
    }
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let target = l.project.target.as_ref().map(|t| (t.name.clone(), t.threads)).unwrap_or_default();
    let threads = settings.threads.unwrap_or(target.1).max(1);
    printer.info(&format!("Concurrency: {threads} threads (target='{}')", target.0));
    printer.info("");
    // Schemas first, on one connection, so workers never race to create the same schema.
    let mut schemas: Vec<(String, String)> = plan
        .iter()
        .filter(|id| !l.manifest.nodes[*id].is_test())
        .filter_map(|id| {
            let r = &l.manifest.nodes[id].relation;
            Some((r.database.clone()?, r.schema.clone()?))
        })
        .collect();
    schemas.sort();
    schemas.dedup();
    for (d, s) in &schemas {
        let sql = format!(
            "create schema if not exists {}.{}",
            crate::templating::relation::quote(d),
            crate::templating::relation::quote(s)
        );
        if let Err(e) = conn.execute(&sql) {
            printer.diagnostics(&[Diagnostic::error("E0802", format!("cannot create schema {d}.{s}: {e}"))]);
            return 2;
        }
    }
    // Compile every model and snapshot first: the static analysis checks the whole selection
    // before anything runs, and fingerprints say what changed. A model whose render ran no query
    // is not rendered again to run.
    let analyse = settings.static_analysis != crate::lineage::Mode::Off;
    let skipping = matches!(settings.command, Cmd::Run | Cmd::Build | Cmd::Seed | Cmd::Snapshot)
        && !settings.full_refresh
        && !settings.rebuild_all;
    let to_compile: Vec<&String> = plan
        .iter()
        .filter(|id| match l.manifest.nodes[*id].resource_type {
            ResourceType::Model => analyse || skipping,
            ResourceType::Snapshot => skipping,
            _ => false,
        })
        .collect();
    let compiled: HashMap<String, String> = to_compile
        .par_iter()
        .map_init(
            || db.connect().ok(),
            |c, id| {
                let node = &l.manifest.nodes[*id];
                let r = compiler.compile(node, Phase::Compile, c.clone(), false).ok()?;
                compiler.remember(id, &r);
                Some(((*id).clone(), r.sql))
            },
        )
        .flatten()
        .collect();
    if analyse && plan.iter().any(|id| l.manifest.nodes[id].resource_type == ResourceType::Model) {
        let models: HashMap<String, String> = compiled
            .iter()
            .filter(|(id, _)| l.manifest.nodes[*id].resource_type == ResourceType::Model)
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        let lineage = match check_compiled(settings, l, &models, conn.as_ref(), printer) {
            Ok(x) => x,
            Err(code) => return code,
        };
        let bad = crate::run::check_unique_keys(&l.manifest, &plan, &lineage);
        if !bad.is_empty() {
            printer.diagnostics(&bad);
            return 2;
        }
    }
    // Only materializations look at what exists; a `test` run builds nothing.
    let catalog = |printer: &Printer| {
        let read = if matches!(settings.command, Cmd::Test) { Ok(Default::default()) } else { conn.relations() };
        read.map_err(|e| {
            printer.diagnostics(&[Diagnostic::error("E0803", format!("cannot read the catalog: {e}"))]);
            2
        })
    };
    let existing = match catalog(printer) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let mut recorded = crate::state::BuildState::read(&l.target_dir);
    let event_time = (
        settings.event_time_start.as_deref().and_then(crate::run::microbatch::parse_time),
        settings.event_time_end.as_deref().and_then(crate::run::microbatch::parse_time),
    );
    // Sources' data markers and every node's fingerprint, and what is left unchanged. When
    // on-run-start hooks may (re)create the sources, the contents are fingerprinted after them.
    let start_hooks = !l.project.config.on_run_start.is_empty();
    let fingerprint = |content: bool, existing: &HashMap<(String, String, String), String>| {
        let marks = crate::state::source_marks(&l.manifest, conn.as_ref(), &l.invocation.id, content && skipping);
        let fingerprints = crate::state::fingerprints(
            &l.manifest,
            l.dag.order(),
            &plan,
            &compiled,
            &recorded,
            &marks,
            &l.invocation.id,
        );
        let mut unchanged = if skipping {
            crate::state::unchanged(&l.manifest, &plan, &fingerprints, &recorded, existing)
        } else {
            Default::default()
        };
        // A microbatch model asked for a window, or for batches to retry, builds them.
        if event_time != (None, None) || !batches.is_empty() {
            unchanged.retain(|id| !l.manifest.nodes.get(id).is_some_and(crate::parse::Node::is_microbatch));
        }
        (fingerprints, unchanged)
    };
    let (mut fingerprints, mut unchanged) = fingerprint(!start_hooks, &existing);
    // Column checks of the selected tests. The columns of a relation that is left unchanged (and
    // of every relation in `test`, which builds nothing) are read from the database's catalog
    // rather than inferred from the model's SQL.
    if plan.iter().any(|id| l.manifest.nodes[id].is_test()) {
        let trusted = |id: &str| matches!(settings.command, Cmd::Test) || unchanged.contains(id);
        let problems = crate::testing::preflight(&compiler, &db, &plan, &l.project.root, &trusted);
        if !problems.is_empty() {
            let mut d = Diagnostics::default();
            d.extend(problems);
            d.sort();
            printer.diagnostics(&d.items);
            return 2;
        }
    }
    let mut hooks = match on_run_start(&compiler, l, conn.clone(), printer) {
        Ok(n) => n,
        Err(code) => return code,
    };
    // on-run-start hooks may create or drop relations.
    let existing = if hooks > 0 {
        match catalog(printer) {
            Ok(e) => e,
            Err(code) => return code,
        }
    } else {
        existing
    };
    if start_hooks {
        (fingerprints, unchanged) = fingerprint(true, &existing);
    }
    let opts = RunOptions {
        threads,
        fail_fast: settings.fail_fast,
        full_refresh: settings.full_refresh,
        target_dir: l.target_dir.clone(),
        existing,
        project_root: l.project.root.clone(),
        unchanged,
        event_time,
        batches,
        external_root: l.project.target.as_ref().map(|t| t.external_root.clone()).unwrap_or_else(|| ".".into()),
        python: crate::run::python::interpreter(std::env::var("STRATA_PYTHON").ok()),
        module_paths: l.project.target.as_ref().map(|t| t.module_paths.clone()).unwrap_or_default(),
        selected: plan.iter().cloned().collect(),
        fk_targets: if matches!(settings.command, Cmd::Test) {
            Default::default()
        } else {
            crate::run::foreign_key_targets(conn.as_ref())
        },
        cancel: settings.cancel.clone(),
    };
    // From here Ctrl-C winds the run down: nothing new starts, running queries stop and roll
    // back, and what finished is written (exit 130); a second Ctrl-C exits at once.
    settings.cancel.wind_down_on_interrupt();
    let audit = matches!(settings.command, Cmd::Build) && !settings.no_audit;
    let jobs = crate::run::plan_jobs(&l.manifest, &l.dag, &plan, audit);
    let results = crate::run::execute(&compiler, &l.manifest, &jobs, &db, &opts, printer);
    let cancelled = settings.cancel.is_cancelled();
    let mut code = if cancelled {
        130
    } else if results.failed() {
        1
    } else {
        0
    };
    // An interrupted run does not run on-run-end hooks (as in dbt).
    let end_hooks: &[String] = if cancelled { &[] } else { &l.project.config.on_run_end };
    match crate::run::run_hooks(
        &compiler,
        end_hooks,
        "on-run-end",
        conn.clone(),
        crate::run::on_run_end_context(&l.manifest, &results),
    ) {
        Ok(n) => hooks += n,
        Err(d) => {
            printer.diagnostics(&[d]);
            code = 1;
        }
    }
    let args = json!({
        "which": settings.command.name(), "select": settings.select, "exclude": settings.exclude,
        "full_refresh": settings.full_refresh, "threads": threads, "vars": settings.vars,
    });
    recorded.record(&results, &fingerprints);
    if let Err(e) = recorded.write(&l.target_dir) {
        printer.warn(&format!("cannot write the build state: {e}"));
    }
    let rr = crate::artifacts::run_results_json(&results, &l.invocation, args);
    if let Err(e) = crate::artifacts::write_json(&l.target_dir, "run_results.json", &rr) {
        printer.warn(&format!("cannot write run_results.json: {e}"));
    }
    let ran = results.results.iter().filter_map(|r| l.manifest.nodes.get(&r.unique_id));
    printer.summary(&results, &crate::output::what_ran(ran, hooks), &l.manifest.nodes);
    if cancelled {
        printer.cancelled(&results, &l.manifest.nodes);
    }
    code
}

/// `retry`: the previous command again, on the nodes that errored, failed or were skipped.
fn retry(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    let path = l.target_dir.join("run_results.json");
    let previous: serde_json::Value =
        match std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            Some(v) => v,
            None => {
                printer.diagnostics(&[Diagnostic::error(
                    "E0901",
                    format!("no previous run to retry: cannot read {}", path.display()),
                )
                .with_help("run `strata build` (or run, seed, test) first")]);
                return 2;
            }
        };
    let which = previous.pointer("/args/which").and_then(|v| v.as_str()).unwrap_or("build").to_string();
    let todo: std::collections::BTreeSet<String> = previous
        .get("results")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
        .filter(|r| {
            matches!(
                r.get("status").and_then(|s| s.as_str()),
                Some("error" | "fail" | "skipped" | "runtime error" | "partial success")
            )
        })
        .filter_map(|r| r.get("unique_id").and_then(|u| u.as_str()).map(str::to_string))
        .collect();
    if todo.is_empty() {
        printer.info("Nothing to retry: the last run had no errors, failures or skipped nodes.");
        return 0;
    }
    // A node built again is tested again, with its tests as they are now (a test whose
    // definition changed has a new unique id).
    let mut todo = todo;
    let tests: Vec<String> = l
        .manifest
        .nodes
        .values()
        .filter(|n| n.is_test() && n.depends_on.iter().any(|d| todo.contains(d)))
        .map(|n| n.unique_id.clone())
        .collect();
    todo.extend(tests);
    let mut s = settings.clone();
    s.command = match which.as_str() {
        "run" => Cmd::Run,
        "seed" => Cmd::Seed,
        "test" => Cmd::Test,
        _ => Cmd::Build,
    };
    s.select = vec![];
    s.exclude = vec![];
    s.full_refresh =
        settings.full_refresh || previous.pointer("/args/full_refresh").and_then(|v| v.as_bool()).unwrap_or(false);
    let types: &[ResourceType] = match s.command {
        Cmd::Run => &[ResourceType::Model],
        Cmd::Seed => &[ResourceType::Seed],
        Cmd::Test => &[ResourceType::Test, ResourceType::UnitTest],
        _ => BUILD_TYPES,
    };
    printer.info(&format!(
        "Retrying {} node{} of the last `{which}`",
        todo.len(),
        if todo.len() == 1 { "" } else { "s" }
    ));
    // A microbatch model runs again only the batches that failed.
    let mut batches = crate::run::Batches::new();
    for r in previous.get("results").and_then(|r| r.as_array()).into_iter().flatten() {
        let (Some(id), Some(failed)) = (
            r.get("unique_id").and_then(|u| u.as_str()),
            r.pointer("/batch_results/failed").and_then(|f| f.as_array()).filter(|f| !f.is_empty()),
        ) else {
            continue;
        };
        let when = |v: &serde_json::Value| v.as_str().and_then(crate::run::microbatch::parse_time);
        let list: Vec<_> = failed.iter().filter_map(|b| Some((when(b.get(0)?)?, when(b.get(1)?)?))).collect();
        if list.len() == failed.len() {
            batches.insert(id.to_string(), list);
        }
    }
    run_cmd(&s, l, printer, types, Some(&todo), batches)
}

fn deps(settings: &Settings, upgrade: bool, lock_only: bool) -> i32 {
    let printer = printer_for(settings, None);
    printer.info(&format!("Running with strata={}", env!("CARGO_PKG_VERSION")));
    let root = std::fs::canonicalize(&settings.project_dir).unwrap_or_else(|_| settings.project_dir.clone());
    let mut diags = crate::diagnostics::Diagnostics::default();
    let no_target = crate::project::profiles::target_value(None);
    let Some(config) = crate::project::read_project_file(&root, &root, &settings.vars, &no_target, &mut diags) else {
        printer.diagnostics(&diags.items);
        return 2;
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let cache = env("STRATA_PACKAGE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        settings.home.clone().unwrap_or_else(|| root.clone()).join(".cache").join("strata").join("packages")
    });
    let opts = crate::deps::DepsOptions {
        hub_url: env("DBT_PACKAGE_HUB_URL").unwrap_or_else(|| "https://hub.getdbt.com/".into()),
        cache,
        upgrade,
        lock_only,
        cli_vars: settings.vars.clone(),
    };
    match crate::deps::install(&root, &config, &opts) {
        Ok(report) => {
            if report.installed.is_empty() && !lock_only {
                printer.warn("No packages were found in packages.yml");
            }
            for (name, from) in &report.installed {
                printer.info(&format!("Installing {name}"));
                printer.info(&format!("Installed from {from}"));
            }
            if lock_only {
                printer.info("Wrote package-lock.yml");
            } else if report.from_lock {
                printer.info("Installed the versions in package-lock.yml");
            }
            0
        }
        Err(d) => {
            printer.diagnostics(&d.items);
            2
        }
    }
}

/// `run-operation`: call a macro with `--args` as keyword arguments, with the database open.
fn run_operation(l: &Loaded, printer: &Printer, name: &str, args: &serde_json::Map<String, serde_json::Value>) -> i32 {
    let (package, short) = match name.split_once('.') {
        Some((p, n)) => (Some(p), n),
        None => (None, name),
    };
    let found = match package {
        Some(p) => l.engine.by_package.get(p).and_then(|m| m.get(short)),
        None => l.engine.macros.get(short),
    };
    let Some(def) = found.cloned() else {
        let names: Vec<String> = l
            .engine
            .by_package
            .iter()
            .filter(|(p, _)| package.is_none_or(|want| want == p.as_str()))
            .flat_map(|(_, m)| m.keys().cloned())
            .collect();
        printer.diagnostics(&[Diagnostic::error("E0408", format!("no macro named '{name}' in any package"))
            .with_help(
                crate::diagnostics::did_you_mean(short, names.iter().map(String::as_str))
                    .unwrap_or_else(|| "define it in a file under macros/".into()),
            )]);
        return 2;
    };
    let (_db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let globals = compile_globals(l);
    let node = crate::templating::NodeContext {
        unique_id: format!("macro.{}.{}", def.package, def.name),
        name: def.name.clone(),
        package: def.package.clone(),
        ..Default::default()
    };
    let kwargs =
        minijinja::value::Kwargs::from_iter(args.iter().map(|(k, v)| (k.clone(), minijinja::Value::from_serialize(v))));
    let call_args = if args.is_empty() { vec![] } else { vec![minijinja::Value::from(kwargs)] };
    let qualified = format!("{}.{}", def.package, def.name);
    match l.engine.call_macro(&qualified, call_args, Phase::Run, &globals, node, Some(conn)) {
        Ok(_) => 0,
        Err(d) => {
            printer.diagnostics(&[d]);
            printer.info(&format!("Encountered an error while running operation {name}"));
            1
        }
    }
}

fn clean(settings: &Settings) -> i32 {
    let printer = printer_for(settings, None);
    let (project, _) = match crate::project::load(&load_options(settings, false)) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d.items);
            return 2;
        }
    };
    let mut targets = project.config.clean_targets.clone();
    if let Some(tp) = &settings.target_path {
        targets.push(tp.to_string_lossy().to_string());
    }
    for t in targets {
        let p = project.root.join(&t);
        let inside =
            std::fs::canonicalize(&p).map(|c| c.starts_with(&project.root) && c != project.root).unwrap_or(false);
        if !inside {
            if p.exists() {
                printer.warn(&format!("not removing {t}: it is outside the project folder"));
            }
            continue;
        }
        match std::fs::remove_dir_all(&p) {
            Ok(()) => printer.info(&format!("Cleaned {t}/")),
            Err(e) => printer.warn(&format!("cannot remove {t}: {e}")),
        }
    }
    printer.info("Finished cleaning all paths.");
    0
}

fn debug(settings: &Settings) -> i32 {
    let printer = printer_for(settings, None);
    printer.info(&format!("strata version: {}", env!("CARGO_PKG_VERSION")));
    let (project, _) = match crate::project::load(&load_options(settings, true)) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d.items);
            printer.info("Checks failed: fix the errors above.");
            return 2;
        }
    };
    printer.info(&format!("project: {} ({})", project.config.name, project.root.join("dbt_project.yml").display()));
    let Some(t) = &project.target else { return 2 };
    printer.info(&format!("profiles.yml: {} [OK found and valid]", t.profiles_file.display()));
    printer.info(&format!(
        "profile: {}, target: {}, type: {}, path: {}, schema: {}, threads: {}",
        t.profile_name, t.name, t.adapter_type, t.path, t.schema, t.threads
    ));
    match DuckDb::open(t).and_then(|db| db.connect()).and_then(|c| c.query("select 1 as ok", None)) {
        Ok(_) => {
            printer.info("Connection test: [OK connection ok]");
            printer.info("All checks passed!");
            0
        }
        Err(e) => {
            printer
                .diagnostics(&[Diagnostic::error("E0801", format!("cannot connect to DuckDB at '{}': {e}", t.path))]);
            1
        }
    }
}

fn init(settings: &Settings, name: Option<&str>, skip_profile: bool) -> i32 {
    let printer = printer_for(settings, None);
    let Some(name) = name else {
        printer
            .diagnostics(&[Diagnostic::error("E0010", "`strata init` needs a project name")
                .with_help("run `strata init my_project`")]);
        return 2;
    };
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        printer.diagnostics(&[Diagnostic::error("E0011", format!("'{name}' is not a valid project name"))
            .with_help("use letters, digits and underscores, starting with a letter")]);
        return 2;
    }
    let root = settings.project_dir.join(name);
    if root.exists() {
        printer.diagnostics(&[Diagnostic::error("E0012", format!("{} already exists", root.display()))
            .with_help("choose another name or folder")]);
        return 2;
    }
    let files: Vec<(&str, String)> = vec![
        ("dbt_project.yml", format!(
            "name: {name}\nversion: '1.0.0'\nconfig-version: 2\nprofile: {name}\n\nmodel-paths: [\"models\"]\nseed-paths: [\"seeds\"]\nmacro-paths: [\"macros\"]\ntest-paths: [\"tests\"]\nsnapshot-paths: [\"snapshots\"]\nanalysis-paths: [\"analyses\"]\n\nclean-targets:\n  - target\n\nmodels:\n  {name}:\n    example:\n      +materialized: view\n"
        )),
        ("models/example/my_first_model.sql", "{{ config(materialized='table') }}\n\nselect 1 as id\nunion all\nselect 2 as id\n".into()),
        ("models/example/my_second_model.sql", "select *\nfrom {{ ref('my_first_model') }}\nwhere id = 1\n".into()),
        ("models/example/schema.yml", "version: 2\n\nmodels:\n  - name: my_first_model\n    description: \"A starter table model\"\n    columns:\n      - name: id\n        description: \"The primary key\"\n  - name: my_second_model\n    description: \"A starter view on my_first_model\"\n".into()),
        ("seeds/.gitkeep", String::new()),
        ("macros/.gitkeep", String::new()),
        ("tests/.gitkeep", String::new()),
        ("snapshots/.gitkeep", String::new()),
        ("analyses/.gitkeep", String::new()),
        (".gitignore", "target/\ndbt_packages/\nlogs/\n*.duckdb\n*.duckdb.wal\n".into()),
    ];
    let mut files = files;
    if !skip_profile {
        files.push(("profiles.yml", format!("{name}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {name}.duckdb\n      schema: main\n      threads: 4\n")));
    }
    for (rel, text) in files {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                printer.diagnostics(&[Diagnostic::error("E0013", format!("cannot create {}: {e}", parent.display()))]);
                return 2;
            }
        }
        if let Err(e) = std::fs::write(&p, text) {
            printer.diagnostics(&[Diagnostic::error("E0013", format!("cannot write {}: {e}", p.display()))]);
            return 2;
        }
    }
    printer.info(&format!("Created project '{name}' in {}", root.display()));
    printer.info(&format!("Next: cd {} && strata build", root.display()));
    0
}
