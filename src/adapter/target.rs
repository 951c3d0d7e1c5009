//! A profile output resolved for an engine: what every engine has (name, schema, database,
//! threads, every key as written) and the engine's own settings ([`EngineTarget`]), read by the
//! engine from the output's keys ([`super::Engine::read_target`]).

use crate::diagnostics::Span;
use serde_json::{Map, Value as Json};
use std::path::PathBuf;

/// The resolved connection target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Profile name.
    pub profile_name: String,
    /// Target name (e.g. `dev`).
    pub name: String,
    /// The engine's name (`type:`).
    pub adapter_type: String,
    /// Default schema.
    pub schema: String,
    /// Database (catalog) name: the profile's `database` or the engine's default.
    pub database: String,
    /// Worker threads.
    pub threads: usize,
    /// Every key of the output, for `target.<key>` in Jinja.
    pub raw: Map<String, Json>,
    /// Where profiles.yml was found.
    pub profiles_file: PathBuf,
    /// The project folder: relative file paths in SQL resolve against it, as dbt runs from it.
    pub project_root: PathBuf,
    /// The engine's own settings.
    pub engine: EngineTarget,
}

/// An engine's settings of a target, one variant per engine.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineTarget {
    /// DuckDB's keys.
    DuckDb(super::duckdb::Settings),
    /// Spark's keys (Spark Connect).
    Spark(super::spark::Settings),
}

impl Target {
    /// The DuckDB settings, when the target is a DuckDB one.
    pub fn duckdb(&self) -> Option<&super::duckdb::Settings> {
        match &self.engine {
            EngineTarget::DuckDb(s) => Some(s),
            EngineTarget::Spark(_) => None,
        }
    }
}

impl Target {
    /// Keys `target` shows in Jinja besides the output's own (DuckDB: `path`, resolved).
    pub fn jinja_keys(&self) -> Vec<(&'static str, Json)> {
        match &self.engine {
            EngineTarget::DuckDb(s) => vec![("path", Json::from(s.path.clone()))],
            EngineTarget::Spark(s) => vec![("host", Json::from(s.host.clone())), ("port", Json::from(s.port))],
        }
    }
}

/// Where a key of the profile output is written, for located diagnostics.
pub trait Locate {
    /// The span of `key` of the output.
    fn key(&self, key: &str) -> Span;
    /// The span of item `index` of the list at `key`.
    fn item(&self, key: &str, index: usize) -> Span;
}

/// The engine's settings read from a profile output, and the default database name.
pub type ReadTarget = (EngineTarget, String);
