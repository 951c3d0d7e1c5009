//! strata: a dbt-compatible SQL transformation compiler for DuckDB and Apache Spark.
//!
//! The pipeline, each arrow a plain data type so each stage can be tested alone:
//! `cli` (argv → `Settings`) → `project::load` (files → `Project`) → `parse` (`Project` →
//! `Manifest`, rendering each model once to record refs and configs) → `graph` (`Dag`) →
//! `select` (plan) → `compile` / `run` (materializations through the engine, `adapter`) →
//! `artifacts`.
//!
//! The modules are layered: each uses only the layers above it in this file (checked by
//! `../shared/tools/module_cycles.py src`, which finds no cycle). The README's architecture
//! section describes each.

#![recursion_limit = "256"]

// Foundations: diagnostics and plain helpers that know nothing of projects or databases.
pub mod cancel;
pub mod diagnostics;
pub mod diff;
pub mod jinja;
pub mod jsonout;
pub mod pymodel;
pub mod sql;

// The engine boundary: connections, quoting, catalog queries, each engine's SQL and profile keys.
pub mod adapter;

// Project files: dbt_project.yml, profiles.yml, property YAML, packages.
pub mod project;

pub mod deps;

// Templating: dbt's Jinja context and macros; seeds' type inference.
pub mod seeds;
pub mod templating;

// Parse, graph and selection.
pub mod parse;

pub mod graph;

pub mod select;

// Compile and static analysis; what execution produces.
pub mod compile;
pub mod lineage;
pub mod results;

// Execution: tests, change-aware state, the runner.
pub mod state;
pub mod testing;

pub mod run;

// Reporting: progress output, artifacts, the docs site.
pub mod artifacts;
pub mod output;

pub mod docs;

// Commands, and the command line on top.
pub mod settings;

pub mod commands;

pub mod cli;

use serde_json::{json, Value as Json};

/// The dbt-core version whose semantics strata follows: Jinja's `dbt_version`.
pub const DBT_VERSION: &str = "1.10.0";

/// Facts about this invocation that every render and artifact shares.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// A fresh UUID.
    pub id: String,
    /// When the command started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `flags` in Jinja (`WHICH`, `FULL_REFRESH`, ...).
    pub flags: Json,
    /// Whether `log(..., info=True)` prints.
    pub print_logs: bool,
    /// `invocation_args_dict` in Jinja: the command line's arguments by dbt's names.
    pub args: Json,
}

impl Invocation {
    /// A new invocation of `which`.
    pub fn new(which: &str, full_refresh: bool) -> Invocation {
        Invocation {
            id: uuid::Uuid::new_v4().to_string(),
            started_at: chrono::Utc::now(),
            flags: json!({"WHICH": which, "FULL_REFRESH": full_refresh, "STORE_FAILURES": false, "WARN_ERROR": false}),
            print_logs: true,
            args: json!({"which": which, "full_refresh": full_refresh}),
        }
    }
}

/// `target` as Jinja sees it: the profile output plus name, schema, database, type, threads.
pub fn target_json(project: &project::Project) -> Json {
    project::profiles::target_value(project.target.as_ref())
}

/// Run strata with these arguments; returns the exit code (0 ok, 1 a node failed, 2 error).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    main_with_cancel(args, Default::default())
}

/// [`main_with_args`], with the cancellation state the binary's Ctrl-C handler signals (130
/// when a run was interrupted).
pub fn main_with_cancel<I, T>(args: I, cancel: std::sync::Arc<cancel::Cancel>) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use std::io::IsTerminal;
    let env = |k: &str| std::env::var(k).ok();
    match cli::parse(args, &env, std::io::stderr().is_terminal()) {
        Ok(mut settings) => {
            settings.cancel = cancel;
            commands::execute(&settings)
        }
        Err(Ok(e)) => {
            let code =
                if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) {
                    0
                } else {
                    2
                };
            let _ = e.print();
            code
        }
        Err(Err(msg)) => {
            eprintln!("error: {msg}");
            2
        }
    }
}
