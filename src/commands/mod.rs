//! The commands, one file each (as `strata <command>` names them). A command that works on a
//! project reads as load -> select -> act -> report: `context::project_command` loads and
//! parses the project, resolves the selection (and --defer) and writes manifest.json; the
//! command's own file acts (compile, run, diff, ...) and reports. The steps several commands
//! share (loading, the selection context, connecting, compiling and analysing) are in
//! `context`. Exit codes: 0 ok, 1 a node failed, 2 diagnostics (user mistakes), usage or
//! internal errors.

mod clean;
mod compile;
mod context;
mod debug;
mod deps;
mod diff;
mod docs;
mod freshness;
mod init;
mod lineage;
mod ls;
mod retry;
mod run;
mod run_operation;
mod show;

use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::{Cmd, Settings};
use context::Loaded;

/// Run the command in `settings`; returns the exit code.
pub fn execute(settings: &Settings) -> i32 {
    match &settings.command {
        Cmd::Init { name, skip_profile } => init::init(settings, name.as_deref(), *skip_profile),
        Cmd::Clean => clean::clean(settings),
        Cmd::Debug => debug::debug(settings),
        Cmd::Deps { upgrade, lock } => deps::deps(settings, *upgrade, *lock),
        _ => context::project_command(settings, act),
    }
}

/// The part of a project command after loading and selecting.
fn act(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    match settings.command {
        Cmd::Parse => {
            let _ = std::fs::create_dir_all(&l.target_dir);
            printer.info("Parsed the project.");
            0
        }
        Cmd::Ls => ls::ls(settings, l),
        Cmd::Compile => compile::compile(settings, l, printer),
        Cmd::Show => show::show(settings, l, printer),
        Cmd::Run => run::run(settings, l, printer, &[ResourceType::Model], None, Default::default()),
        Cmd::Seed => run::run(settings, l, printer, &[ResourceType::Seed], None, Default::default()),
        Cmd::Snapshot => run::run(settings, l, printer, &[ResourceType::Snapshot], None, Default::default()),
        Cmd::Build => run::run(settings, l, printer, run::BUILD_TYPES, None, Default::default()),
        Cmd::Test => {
            run::run(settings, l, printer, &[ResourceType::Test, ResourceType::UnitTest], None, Default::default())
        }
        Cmd::Retry => retry::retry(settings, l, printer),
        Cmd::RunOperation { ref name, ref args } => run_operation::run_operation(l, printer, name, args),
        Cmd::Diff { exit_code } => diff::diff(settings, l, printer, exit_code),
        Cmd::SourceFreshness { ref output } => freshness::source_freshness(settings, l, printer, output.as_deref()),
        Cmd::DocsGenerate { no_compile } => docs::docs_generate(settings, l, printer, no_compile),
        Cmd::DocsServe { port } => crate::docs::serve(&l.target_dir, port, printer),
        Cmd::Lineage { ref target, upstream, downstream, depth, check } => {
            lineage::lineage(settings, l, printer, target, (upstream, downstream), depth, check)
        }
        Cmd::Init { .. } | Cmd::Clean | Cmd::Debug | Cmd::Deps { .. } => 2,
    }
}
