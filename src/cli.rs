//! The command line: the only user of clap. Flags, environment variables and defaults are
//! resolved once into [`Settings`]; flags are accepted before or after the command, as dbt does.
//! In: argv. Out: [`Settings`] or a usage error.

use crate::output::LogFormat;
use crate::settings::{Cmd, Output, Settings};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value as Json};
use std::path::PathBuf;

/// strata: build dbt projects on DuckDB.
#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about = "A dbt-compatible SQL transformation compiler for DuckDB and Apache Spark",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Folder with dbt_project.yml [default: current folder]
    #[arg(long, global = true, env = "DBT_PROJECT_DIR")]
    project_dir: Option<PathBuf>,
    /// Folder with profiles.yml [default: $DBT_PROFILES_DIR, the project folder, then ~/.dbt]
    #[arg(long, global = true)]
    profiles_dir: Option<PathBuf>,
    /// Target (output) of the profile to use
    #[arg(short = 't', long, global = true, env = "DBT_TARGET")]
    target: Option<String>,
    /// Where artifacts go [default: target-path of dbt_project.yml, else target]
    #[arg(long, global = true, env = "DBT_TARGET_PATH")]
    target_path: Option<PathBuf>,
    /// Where dbt.log goes [default: log-path of dbt_project.yml, else logs]
    #[arg(long, global = true, env = "DBT_LOG_PATH")]
    log_path: Option<PathBuf>,
    /// Variables as YAML or JSON, e.g. '{start_date: 2024-01-01}'
    #[arg(long, global = true)]
    vars: Option<String>,
    /// Worker threads [default: the profile's threads]
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Nodes to include (dbt selection syntax)
    #[arg(short = 's', long = "select", global = true, num_args = 1.., action = clap::ArgAction::Append, alias = "models")]
    select: Vec<String>,
    /// Nodes to leave out
    #[arg(long, global = true, num_args = 1.., action = clap::ArgAction::Append)]
    exclude: Vec<String>,
    /// Rebuild incremental models and reload seeds from scratch
    #[arg(long, global = true)]
    full_refresh: bool,
    /// Stop at the first failure
    #[arg(short = 'x', long, global = true)]
    fail_fast: bool,
    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value = "text", env = "DBT_LOG_FORMAT")]
    log_format: LogFormatArg,
    /// No ANSI colours (also: NO_COLOR)
    #[arg(long, global = true)]
    no_color: bool,
    /// Debug lines (phases and their times) on stderr too; dbt.log always has them
    #[arg(short = 'd', long, global = true, env = "DBT_DEBUG")]
    debug: bool,
    /// Resource types for `ls`
    #[arg(long = "resource-type", global = true, num_args = 1.., action = clap::ArgAction::Append, alias = "resource-types")]
    resource_type: Vec<String>,
    /// Output of `ls` (name, path, json, selector) and `lineage` (text, json, dot); the file
    /// `source freshness` writes (target/sources.json by default)
    #[arg(long, short = 'o', global = true)]
    output: Option<String>,
    /// SQL to compile or show instead of a selected node
    #[arg(long, global = true)]
    inline: Option<String>,
    /// Rows for `show`
    #[arg(long, global = true, default_value_t = 5)]
    limit: i64,
    /// `build`: publish tables without auditing them first (dbt's behaviour)
    #[arg(long, global = true)]
    no_audit: bool,
    /// Store every test's failing rows in the audit schema
    #[arg(long, global = true)]
    store_failures: bool,
    /// Build every selected node, even those unchanged since their last build
    #[arg(long, global = true)]
    rebuild_all: bool,
    /// Render every model at parse time instead of reading its ref/source/config calls from
    /// its syntax where that is certain (dbt's flag of the same name)
    #[arg(long, global = true)]
    no_static_parser: bool,
    /// Check compiled SQL for unknown columns and relations before running: off, warn (report),
    /// strict (nothing runs unless everything checks out)
    #[arg(long, global = true, value_enum, default_value = "warn")]
    static_analysis: StaticAnalysisArg,
    /// The target folder of another build (manifest.json, run_results.json) for `state:` and
    /// `result:` selectors, `--defer` and `diff`
    #[arg(long, global = true, env = "DBT_STATE")]
    state: Option<PathBuf>,
    /// Refs to nodes that are not selected resolve to the --state build's relations
    #[arg(long, global = true, env = "DBT_DEFER")]
    defer: bool,
    /// With --defer: use the state's relation even when the node exists in this target
    #[arg(long, global = true, env = "DBT_FAVOR_STATE")]
    favor_state: bool,
    /// A named selector from selectors.yml
    #[arg(long, global = true)]
    selector: Option<String>,
    /// Microbatch models: first event time to build (inclusive)
    #[arg(long, global = true)]
    event_time_start: Option<String>,
    /// Microbatch models: event time to build up to (exclusive)
    #[arg(long, global = true)]
    event_time_end: Option<String>,
}

#[derive(Debug, Subcommand)]
enum SourceAction {
    /// Check each source's latest load against its freshness thresholds; write sources.json
    Freshness,
}

#[derive(Debug, Subcommand)]
enum DocsAction {
    /// Write the static documentation site to target/ (index.html opens from file://)
    Generate {
        /// Use target/manifest.json and catalog as they are: do not compile
        #[arg(long)]
        no_compile: bool,
    },
    /// Serve target/ on localhost
    Serve {
        /// Port
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StaticAnalysisArg {
    Off,
    Warn,
    Strict,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
    Default,
    Debug,
}

/// `ls --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputArg {
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new project with a working DuckDB profile
    Init {
        /// Project name (and folder)
        project_name: Option<String>,
        /// Do not write profiles.yml
        #[arg(long)]
        skip_profile_setup: bool,
    },
    /// Check the project, the profile and the DuckDB connection
    Debug,
    /// Parse the project and report every problem
    Parse,
    /// Render models to target/compiled (prints the SQL of one selected node or --inline)
    Compile,
    /// Build models
    Run,
    /// Load seeds
    Seed,
    /// Take snapshots (type 2 history of changing rows)
    Snapshot,
    /// Build seeds and models in dependency order, with their tests; tables are published only
    /// when their tests pass
    Build,
    /// Run data tests and unit tests
    Test,
    /// Re-run what errored, failed or was skipped in the last run_results.json
    Retry,
    /// List nodes
    #[command(alias = "list")]
    Ls,
    /// Run a model's or an inline query's SQL and print the rows
    Show,
    /// Delete the clean-targets (target/ by default)
    Clean,
    /// Install the packages in packages.yml into dbt_packages/ and write package-lock.yml
    Deps {
        /// Resolve versions again even when package-lock.yml matches packages.yml
        #[arg(long)]
        upgrade: bool,
        /// Write package-lock.yml without installing
        #[arg(long)]
        lock: bool,
    },
    /// Sources: `source freshness`
    Source {
        #[command(subcommand)]
        action: SourceAction,
    },
    /// The documentation site: `docs generate` writes it under target/, `docs serve` serves it
    Docs {
        #[command(subcommand)]
        action: DocsAction,
    },
    /// Column-level lineage of a model or `model.column` (upstream and downstream)
    Lineage {
        /// `model` or `model.column`
        #[arg(value_name = "MODEL[.COLUMN]")]
        node: Option<String>,
        /// Only what it reads
        #[arg(long)]
        upstream: bool,
        /// Only what reads it
        #[arg(long)]
        downstream: bool,
        /// How many steps at most
        #[arg(long)]
        depth: Option<usize>,
        /// Exit 1 when something reads a column its upstream does not have (for CI)
        #[arg(long)]
        check: bool,
    },
    /// Compare with the --state build: the compiled SQL of new, modified and removed nodes,
    /// their output columns and what they affect downstream
    Diff {
        /// Exit 1 when anything differs (for CI)
        #[arg(long)]
        exit_code: bool,
    },
    /// Run a macro
    RunOperation {
        /// The macro (`name` or `package.name`)
        macro_name: String,
        /// Keyword arguments as YAML or JSON, e.g. '{table: orders}'
        #[arg(long)]
        args: Option<String>,
    },
}

/// Parse argv. Usage errors come back as clap's error (printed by main, exit 2).
pub fn parse<I, T>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
    stderr_is_tty: bool,
) -> Result<Settings, Result<clap::Error, String>>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(Ok)?;
    let Cli { command, global } = cli;
    let GlobalArgs {
        project_dir,
        profiles_dir,
        target,
        target_path,
        log_path,
        vars,
        threads,
        select,
        exclude,
        full_refresh,
        fail_fast,
        log_format,
        no_color,
        debug,
        resource_type,
        output,
        inline,
        limit,
        no_audit,
        store_failures,
        rebuild_all,
        no_static_parser,
        static_analysis,
        state,
        defer,
        favor_state,
        selector,
        event_time_start,
        event_time_end,
    } = global;
    let command = match command {
        Command::Init { project_name, skip_profile_setup } => {
            Cmd::Init { name: project_name, skip_profile: skip_profile_setup }
        }
        Command::Debug => Cmd::Debug,
        Command::Parse => Cmd::Parse,
        Command::Compile => Cmd::Compile,
        Command::Run => Cmd::Run,
        Command::Seed => Cmd::Seed,
        Command::Snapshot => Cmd::Snapshot,
        Command::Build => Cmd::Build,
        Command::Test => Cmd::Test,
        Command::Retry => Cmd::Retry,
        Command::Ls => Cmd::Ls,
        Command::Show => Cmd::Show,
        Command::Clean => Cmd::Clean,
        Command::Deps { upgrade, lock } => Cmd::Deps { upgrade, lock },
        Command::Source { action: SourceAction::Freshness } => {
            Cmd::SourceFreshness { output: output.as_ref().map(PathBuf::from) }
        }
        Command::Docs { action: DocsAction::Generate { no_compile } } => Cmd::DocsGenerate { no_compile },
        Command::Docs { action: DocsAction::Serve { port } } => Cmd::DocsServe { port },
        Command::Lineage { node, upstream, downstream, depth, check } => {
            Cmd::Lineage { target: node, upstream, downstream, depth, check }
        }
        Command::Diff { exit_code } => Cmd::Diff { exit_code },
        Command::RunOperation { macro_name, args } => Cmd::RunOperation {
            name: macro_name,
            args: match args {
                None => Map::new(),
                Some(text) => parse_vars(&text).map_err(|e| Err(e.replace("--vars", "--args")))?,
            },
        },
    };
    let vars = match vars {
        None => Map::new(),
        Some(text) => parse_vars(&text).map_err(Err)?,
    };
    let when = |flag: &str, v: &Option<String>| match v {
        Some(text) => crate::project::microbatch::parse_time(text).map(Some).ok_or_else(|| {
            Err(format!("{flag} '{text}' is not a date or timestamp (2024-01-31 or 2024-01-31 10:00:00)"))
        }),
        None => Ok(None),
    };
    if let (Some(s), Some(e)) =
        (when("--event-time-start", &event_time_start)?, when("--event-time-end", &event_time_end)?)
    {
        if s >= e {
            return Err(Err("--event-time-start must be before --event-time-end".into()));
        }
    }
    let no_color_env = env("NO_COLOR").is_some_and(|v| !v.is_empty());
    let output_arg = match (&command, output.as_deref()) {
        (Cmd::SourceFreshness { .. }, _) | (_, None) => OutputArg::Selector,
        (_, Some(o)) => OutputArg::from_str(o, true).map_err(|_| {
            Err(format!(
                "invalid value '{o}' for '--output <OUTPUT>' [possible values: name, path, json, selector, text, dot]"
            ))
        })?,
    };
    let output_arg = match output_arg {
        OutputArg::Name => Output::Name,
        OutputArg::Path => Output::Path,
        OutputArg::Json => Output::Json,
        OutputArg::Selector => Output::Selector,
        OutputArg::Text => Output::Text,
        OutputArg::Dot => Output::Dot,
    };
    Ok(Settings {
        command,
        project_dir: project_dir.unwrap_or_else(|| PathBuf::from(".")),
        profiles_dir,
        profiles_env_dir: env("DBT_PROFILES_DIR").map(PathBuf::from),
        home: env("HOME").map(PathBuf::from),
        target,
        target_path,
        log_path,
        vars,
        threads,
        select: select.iter().flat_map(|s| split_selectors(s)).collect(),
        exclude: exclude.iter().flat_map(|s| split_selectors(s)).collect(),
        full_refresh,
        fail_fast,
        debug: debug || matches!(log_format, LogFormatArg::Debug),
        log_format: match log_format {
            LogFormatArg::Json => LogFormat::Json,
            _ => LogFormat::Text,
        },
        color: !no_color && !no_color_env && stderr_is_tty,
        resource_types: resource_type,
        output: output_arg,
        inline,
        limit,
        no_audit,
        store_failures,
        rebuild_all,
        static_parser: !no_static_parser,
        static_analysis: match static_analysis {
            StaticAnalysisArg::Off => crate::lineage::Mode::Off,
            StaticAnalysisArg::Warn => crate::lineage::Mode::Warn,
            StaticAnalysisArg::Strict => crate::lineage::Mode::Strict,
        },
        state,
        defer,
        favor_state,
        selector,
        event_time_start,
        event_time_end,
        cancel: Default::default(),
    })
}

/// `-s "a b"` and `-s a -s b` both mean the union of a and b; each stays one selector string.
fn split_selectors(s: &str) -> Vec<String> {
    vec![s.trim().to_string()]
}

/// Parse `--vars` (YAML, so JSON too) into a mapping.
pub fn parse_vars(text: &str) -> Result<Map<String, Json>, String> {
    let y: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("--vars is not valid YAML or JSON: {e}"))?;
    match crate::project::yaml::to_json(&y) {
        Json::Object(m) => Ok(m),
        Json::Null => Ok(Map::new()),
        _ => Err("--vars must be a mapping, e.g. '{key: value}'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_before_or_after_the_command() {
        let env = |_: &str| None;
        let a =
            parse(["strata", "--project-dir", "p", "run", "-s", "a+", "--exclude", "b", "--threads", "3"], &env, false)
                .unwrap();
        let b = parse(
            ["strata", "run", "--project-dir", "p", "--select", "a+", "--exclude", "b", "--threads", "3"],
            &env,
            false,
        )
        .unwrap();
        assert_eq!(
            (a.project_dir.clone(), a.select.clone(), a.exclude.clone(), a.threads),
            (b.project_dir, b.select, b.exclude, b.threads)
        );
        assert_eq!(a.command, Cmd::Run);
    }

    #[test]
    fn vars_accept_yaml_and_json_and_reject_scalars() {
        assert_eq!(parse_vars("{a: 1}").unwrap()["a"], serde_json::json!(1));
        assert_eq!(parse_vars("{\"a\": \"x\"}").unwrap()["a"], serde_json::json!("x"));
        assert!(parse_vars("3").is_err());
    }

    #[test]
    fn no_color_env_turns_colour_off() {
        let env = |k: &str| (k == "NO_COLOR").then(|| "1".to_string());
        assert!(!parse(["strata", "parse"], &env, true).unwrap().color);
    }
}
