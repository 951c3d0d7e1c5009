//! What a command needs to know, resolved once from the command line and the environment by
//! `cli` (the only user of clap): the command, the global flags by dbt's names, and the
//! cancellation state. Commands read these values; nothing below `commands` does.

use crate::output::LogFormat;
use serde_json::{Map, Value as Json};
use std::path::PathBuf;

/// Which command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `init`.
    Init {
        /// Name, if given.
        name: Option<String>,
        /// --skip-profile-setup.
        skip_profile: bool,
    },
    /// `debug`.
    Debug,
    /// `parse`.
    Parse,
    /// `compile`.
    Compile,
    /// `run`.
    Run,
    /// `seed`.
    Seed,
    /// `snapshot`.
    Snapshot,
    /// `build`.
    Build,
    /// `test`.
    Test,
    /// `retry`.
    Retry,
    /// `ls`.
    Ls,
    /// `show`.
    Show,
    /// `clean`.
    Clean,
    /// `deps`.
    Deps {
        /// --upgrade.
        upgrade: bool,
        /// --lock.
        lock: bool,
    },
    /// `diff`.
    Diff {
        /// --exit-code.
        exit_code: bool,
    },
    /// `run-operation`.
    RunOperation {
        /// The macro.
        name: String,
        /// --args, parsed.
        args: Map<String, Json>,
    },
    /// `source freshness`.
    SourceFreshness {
        /// --output: where sources.json goes (else the target folder).
        output: Option<PathBuf>,
    },
    /// `docs generate`.
    DocsGenerate {
        /// --no-compile.
        no_compile: bool,
    },
    /// `docs serve`.
    DocsServe {
        /// --port.
        port: u16,
    },
    /// `lineage`.
    Lineage {
        /// `model` or `model.column`.
        target: Option<String>,
        /// --upstream.
        upstream: bool,
        /// --downstream.
        downstream: bool,
        /// --depth.
        depth: Option<usize>,
        /// --check.
        check: bool,
    },
}

impl Cmd {
    /// The dbt name of the command (`flags.WHICH`).
    pub fn name(&self) -> &'static str {
        match self {
            Cmd::Init { .. } => "init",
            Cmd::Debug => "debug",
            Cmd::Parse => "parse",
            Cmd::Compile => "compile",
            Cmd::Run => "run",
            Cmd::Seed => "seed",
            Cmd::Snapshot => "snapshot",
            Cmd::Build => "build",
            Cmd::Test => "test",
            Cmd::Retry => "retry",
            Cmd::Ls => "list",
            Cmd::Show => "show",
            Cmd::Clean => "clean",
            Cmd::Deps { .. } => "deps",
            Cmd::RunOperation { .. } => "run-operation",
            Cmd::SourceFreshness { .. } => "freshness",
            Cmd::DocsGenerate { .. } => "generate",
            Cmd::DocsServe { .. } => "serve",
            Cmd::Lineage { .. } => "lineage",
            Cmd::Diff { .. } => "diff",
        }
    }
}

/// Everything a command needs to know from the command line and environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The command.
    pub command: Cmd,
    /// --project-dir or the current folder.
    pub project_dir: PathBuf,
    /// --profiles-dir.
    pub profiles_dir: Option<PathBuf>,
    /// DBT_PROFILES_DIR.
    pub profiles_env_dir: Option<PathBuf>,
    /// $HOME.
    pub home: Option<PathBuf>,
    /// --target.
    pub target: Option<String>,
    /// --target-path.
    pub target_path: Option<PathBuf>,
    /// --log-path.
    pub log_path: Option<PathBuf>,
    /// --vars, parsed.
    pub vars: Map<String, Json>,
    /// --threads.
    pub threads: Option<usize>,
    /// --select.
    pub select: Vec<String>,
    /// --exclude.
    pub exclude: Vec<String>,
    /// --full-refresh.
    pub full_refresh: bool,
    /// --fail-fast.
    pub fail_fast: bool,
    /// --log-format.
    pub log_format: LogFormat,
    /// --debug (or `--log-format debug`): debug lines on stderr as well as in dbt.log.
    pub debug: bool,
    /// Colour on stderr.
    pub color: bool,
    /// --resource-type.
    pub resource_types: Vec<String>,
    /// --output.
    pub output: Output,
    /// --inline.
    pub inline: Option<String>,
    /// --limit.
    pub limit: i64,
    /// --no-audit.
    pub no_audit: bool,
    /// --store-failures.
    pub store_failures: bool,
    /// --rebuild-all.
    pub rebuild_all: bool,
    /// Not --no-static-parser.
    pub static_parser: bool,
    /// --static-analysis.
    pub static_analysis: crate::lineage::Mode,
    /// --state.
    pub state: Option<PathBuf>,
    /// --defer.
    pub defer: bool,
    /// --favor-state.
    pub favor_state: bool,
    /// --selector.
    pub selector: Option<String>,
    /// --event-time-start.
    pub event_time_start: Option<String>,
    /// --event-time-end.
    pub event_time_end: Option<String>,
    /// Ctrl-C: what the binary's signal handler signals.
    pub cancel: std::sync::Arc<crate::cancel::Cancel>,
}

/// `ls --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Node names as selectors.
    Name,
    /// File paths.
    Path,
    /// One JSON object per node.
    Json,
    /// fqn-style selectors.
    Selector,
    /// Plain text (`lineage`).
    Text,
    /// Graphviz dot (`lineage`).
    Dot,
}
