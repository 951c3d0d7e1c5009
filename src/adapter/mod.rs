//! The engine boundary: everything that depends on which database runs the project. The DuckDB
//! engine (`adapter::duckdb`) is one implementation; the rest of strata sees only this module.
//!
//! # The contract
//!
//! An engine is an [`Engine`] in [`ENGINES`], chosen by a profile output's `type`. It provides:
//!
//! - **Its profile keys** ([`Engine::keys`], [`Engine::unsupported_keys`]) and
//!   [`Engine::read_target`], which reads its settings from an output (relative paths against
//!   the project folder, problems located at the key) into its [`EngineTarget`] variant, and the
//!   default database name. `project::profiles` checks the keys and builds the [`Target`].
//! - **Its database**: [`Engine::open`] gives an [`Adapter`] (shared instance); a [`Connection`]
//!   per worker runs statements (several separated by `;`, in `begin transaction; ... commit`
//!   blocks the runner writes), rolls back, and can be interrupted (Ctrl-C).
//!   [`Engine::database_file`] is the local file a database lives in, if any (opened early when
//!   it exists; `--defer` attaches another one with [`Connection::attach_read_only`]).
//! - **Catalog queries**, as [`Connection`] methods: relations and their kinds, a relation's
//!   columns, columns of many relations in one query, every column (catalog.json, static
//!   analysis), relation types, a query's columns without running it (contracts), a content
//!   fingerprint of a relation's rows (change-aware builds), foreign keys. Type names are the
//!   engine's own, as its catalog reports them.
//! - **Its SQL**, a [`Dialect`] usable without a connection (parse, compile, analysis): its name
//!   (`target.type`, `adapter.type()`, the `<name>__` prefix `adapter.dispatch` tries before
//!   `default__`, and `materialization_<m>_<name>` before `materialization_<m>_default`);
//!   identifier quoting (relations render through it) and string literals; timestamps in
//!   microseconds (source freshness); the catalog queries macros run (`list_schemas`,
//!   `list_relations_without_caching`), how a relation is renamed and how statements run as one
//!   transaction (the runner's publish step); the sqlparser dialect
//!   static analysis parses with; and its built-in macros, `templates/<name>/*.sql`, loaded after
//!   the shared `default__` ones of `templates/`.
//!
//! The Spark engine (`adapter::spark`) talks to a cluster through Spark Connect.
//!
//! Adding an engine is a module here (its `Engine`, `Dialect`, settings and `Connection`), its
//! entries in [`ENGINES`] and [`EngineTarget`], and its templates folder. dbt-duckdb's own
//! features (the external materialization, python models, secrets, attached databases) are
//! DuckDB's and read the DuckDB settings ([`Target::duckdb`]).
//!
//! `adapter::constraints` renders dbt's constraint DDL.

pub mod constraints;
pub mod duckdb;
pub mod spark;
pub mod target;

pub use target::{EngineTarget, Locate, ReadTarget, Target};

use serde_json::Value as Json;
use std::sync::Arc;

/// A database error, with the database's own message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

/// What a statement did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AdapterResponse {
    /// Short status such as `OK`.
    #[serde(rename = "_message")]
    pub message: String,
    /// Rows changed or returned, when the database says.
    pub rows_affected: Option<i64>,
}

/// A query result: column names and types, rows of JSON values.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Column types as the database names them.
    pub types: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Json>>,
}

impl Table {
    /// A query result as a Markdown-like table (numbers right-aligned), as `dbt show` prints it.
    pub fn format(&self) -> String {
        let t = self;
        let cell = |v: &serde_json::Value| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let rows: Vec<Vec<String>> = t.rows.iter().map(|r| r.iter().map(cell).collect()).collect();
        let mut widths: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let numeric: Vec<bool> =
            (0..t.columns.len()).map(|i| t.rows.iter().all(|r| r[i].is_number() || r[i].is_null())).collect();
        let mut out = String::new();
        let fmt_row = |cells: &[String], out: &mut String| {
            out.push('|');
            for (i, c) in cells.iter().enumerate() {
                let pad = widths[i] - c.chars().count();
                if numeric[i] {
                    out.push_str(&format!(" {}{} |", " ".repeat(pad), c));
                } else {
                    out.push_str(&format!(" {}{} |", c, " ".repeat(pad)));
                }
            }
            out.push('\n');
        };
        fmt_row(&t.columns, &mut out);
        out.push('|');
        for w in &widths {
            out.push_str(&format!(" {} |", "-".repeat(*w)));
        }
        out.push('\n');
        for r in &rows {
            fmt_row(r, &mut out);
        }
        out
    }
}

/// A date given as days since 1970-01-01, as `YYYY-MM-DD` (how every engine's rows show dates).
pub fn iso_date(days: i64) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(chrono::Duration::days(days)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| days.to_string())
}

/// A timestamp given as microseconds since the epoch (UTC), as `YYYY-MM-DD HH:MM:SS[.ffffff]`.
pub fn iso_timestamp(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(dt) if dt.timestamp_subsec_micros() == 0 => dt.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string(),
        Some(dt) => dt.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        None => micros.to_string(),
    }
}

/// A profile value as a string: strings as written, numbers as their text.
pub fn json_str(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A column of a relation in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type as the database names it.
    pub data_type: String,
}

/// A relation's `(database, schema, name)` as the catalog spells them.
pub type RelationName = (String, String, String);

/// A foreign key constraint: `table` (in `database`.`schema`) references `referenced_table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// Catalog of both tables.
    pub database: String,
    /// Schema of both tables.
    pub schema: String,
    /// The table that has the constraint.
    pub table: String,
    /// The table it points at.
    pub referenced_table: String,
}

/// One connection, used by one worker at a time.
pub trait Connection: Send + Sync {
    /// Run a statement (or several separated by `;`).
    fn execute(&self, sql: &str) -> Result<AdapterResponse, DbError>;
    /// Run a query and fetch up to `limit` rows.
    fn query(&self, sql: &str, limit: Option<usize>) -> Result<Table, DbError>;
    /// `table`, `view` or None when the relation does not exist.
    fn relation_kind(&self, database: &str, schema: &str, name: &str) -> Result<Option<String>, DbError>;
    /// Every relation in the database as `(database, schema, name) → table|view`, in one query.
    fn relations(&self) -> Result<std::collections::HashMap<(String, String, String), String>, DbError>;
    /// The relations of at least the given schemas (names compared case-insensitively), as
    /// `relations` gives them: an engine that lists every relation in one query lists them all.
    fn relations_in(
        &self,
        schemas: &std::collections::BTreeSet<String>,
    ) -> Result<std::collections::HashMap<(String, String, String), String>, DbError> {
        let _ = schemas;
        self.relations()
    }
    /// Columns of a relation, in order.
    fn columns(&self, database: &str, schema: &str, name: &str) -> Result<Vec<Column>, DbError>;
    /// The columns of every relation named one of `names` (in any database and schema), in one
    /// query, relations sorted by (database, schema, name), columns in order.
    fn columns_by_name(&self, names: &[&str]) -> Result<Vec<(RelationName, Vec<Column>)>, DbError>;
    /// Every relation's columns, in order, in one query (static analysis, catalog.json).
    fn all_columns(&self) -> Result<Vec<(RelationName, Vec<Column>)>, DbError>;
    /// Every relation with its type as the catalog names it (`BASE TABLE`, `VIEW`).
    fn relation_types(&self) -> Result<Vec<(RelationName, String)>, DbError>;
    /// The columns and types a query returns, without running it (contracts).
    fn describe(&self, sql: &str) -> Result<Vec<Column>, DbError>;
    /// A fingerprint of a relation's rows that the same rows in any order keep (change-aware
    /// builds); None when the engine cannot take one.
    fn content_fingerprint(&self, relation: &str) -> Result<Option<String>, DbError> {
        let _ = relation;
        Ok(None)
    }
    /// Every foreign key constraint in the database (none for an engine without them).
    fn foreign_keys(&self) -> Result<Vec<ForeignKey>, DbError> {
        Ok(vec![])
    }
    /// Roll back an open transaction, if any.
    fn rollback(&self);
    /// Make another database of the same engine readable under `alias`, read-only (`--defer`
    /// to a state built into another database file).
    fn attach_read_only(&self, path: &str, alias: &str) -> Result<(), DbError> {
        let _ = (path, alias);
        Err(DbError("this engine cannot attach another database".into()))
    }
    /// A function that stops the query this connection is running (from another thread), for
    /// Ctrl-C; None when the database cannot.
    fn interrupter(&self) -> Option<crate::cancel::Interrupter> {
        None
    }
}

/// An engine's SQL, as far as strata needs to know it without a connection.
#[derive(Debug)]
pub struct Dialect {
    /// `target.type`; `adapter.dispatch` tries `<name>__<macro>` before `default__<macro>`, and
    /// materializations `materialization_<m>_<name>` before `materialization_<m>_default`.
    pub name: &'static str,
    /// Quote an identifier.
    pub quote: fn(&str) -> String,
    /// Write a string literal.
    pub literal: fn(&str) -> String,
    /// An expression's timestamp in microseconds since the epoch (source freshness).
    pub epoch_micros: fn(&str) -> String,
    /// The current time as a timestamp expression.
    pub now: &'static str,
    /// The query listing a database's schemas (one column of names).
    pub schemas_sql: fn(&str) -> String,
    /// The query listing a schema's relations: name, and type (`VIEW` for views).
    pub relations_sql: fn(&str, &str) -> String,
    /// Rename relation `from` (rendered), a `table` or `view` in `schema`, to the name `to`.
    pub rename_sql: fn(&str, &str, &str, &str) -> String,
    /// Statements (separated by `;`) run as one transaction, where the engine has them: a
    /// failed publish leaves the relation as it was.
    pub transaction_sql: fn(&str) -> String,
    /// Whether relations are written with their database (`db.schema.name`); Spark writes
    /// `schema.name`, its schema being a database.
    pub writes_database: bool,
    /// Whether seeds are loaded from their rows inlined in SQL (`rows` in the seed
    /// materialization) rather than read from the CSV file by the database.
    pub inline_seeds: bool,
    /// The engine's name for a seed column type strata infers (`INTEGER`, `DOUBLE`, `DATE`,
    /// `TIMESTAMP`, `BOOLEAN`, `VARCHAR`).
    pub seed_type: fn(&'static str) -> &'static str,
    /// The SQL function that fails a statement with a message (`error`, `raise_error`).
    pub raise_error: &'static str,
    /// A node's config the engine cannot build, found when the project is parsed (before
    /// anything runs): the config key to point at, the message and a help line.
    pub config_problem: fn(&NodeShape) -> Option<ConfigProblem>,
    /// The dialect static analysis parses compiled SQL with.
    pub analysis: crate::sql::Flavor,
    /// The engine's built-in macros, `(path, text)`: `templates/<name>/*.sql`, embedded.
    pub macros: &'static [(&'static str, &'static str)],
}

/// What [`Dialect::config_problem`] looks at: a node's resource type (`model`, `snapshot`...),
/// language, materialization, incremental strategy and `file_format`.
#[derive(Debug, Clone, Copy)]
pub struct NodeShape<'a> {
    /// `model`, `seed`, `snapshot`, ...
    pub resource_type: &'a str,
    /// `sql` or `python`.
    pub language: &'a str,
    /// The materialization.
    pub materialized: &'a str,
    /// `incremental_strategy`, when set.
    pub strategy: Option<&'a str>,
    /// `file_format`, when set.
    pub file_format: Option<&'a str>,
}

/// A config the engine cannot build: the key to point at, the message and a help line.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    /// The config key the diagnostic points at.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

impl Dialect {
    /// `"ident"` on DuckDB.
    pub fn quote(&self, ident: &str) -> String {
        (self.quote)(ident)
    }
    /// `'text'` on DuckDB.
    pub fn literal(&self, s: &str) -> String {
        (self.literal)(s)
    }
    /// `alter <kind> <from> rename to <to>` (`from` in `schema`), in the engine's words.
    pub fn rename(&self, kind: &str, from: &str, schema: &str, to: &str) -> String {
        (self.rename_sql)(kind, from, schema, to)
    }
    /// `body` as one transaction.
    pub fn transaction(&self, body: &str) -> String {
        (self.transaction_sql)(body)
    }
    /// A schema as written in `create schema`: `"db"."schema"`, or `` `schema` `` on an engine
    /// that does not write databases.
    pub fn schema_name(&self, database: &str, schema: &str) -> String {
        if self.writes_database && !database.is_empty() {
            format!("{}.{}", self.quote(database), self.quote(schema))
        } else {
            self.quote(schema)
        }
    }
    /// The prefixes `adapter.dispatch` tries, in order.
    pub fn dispatch_prefixes(&self) -> [&'static str; 2] {
        [self.name, "default"]
    }
    /// `expr` (a timestamp) in microseconds since the epoch, a naive timestamp counting as UTC.
    pub fn epoch_micros(&self, expr: &str) -> String {
        (self.epoch_micros)(expr)
    }
    /// The macro names that implement materialization `mat`, in the order they are tried.
    pub fn materialization_macros(&self, mat: &str) -> [String; 2] {
        [format!("materialization_{mat}_{}", self.name), format!("materialization_{mat}_default")]
    }
}

impl PartialEq for Dialect {
    fn eq(&self, other: &Dialect) -> bool {
        self.name == other.name
    }
}
impl Eq for Dialect {}
impl std::hash::Hash for Dialect {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

/// How an engine reads its settings from a profile output's keys.
pub type TargetReader = fn(
    &serde_json::Map<String, Json>,
    &std::path::Path,
    &dyn Locate,
) -> Result<ReadTarget, Vec<crate::diagnostics::Diagnostic>>;

/// One engine strata can run a project on.
pub struct Engine {
    /// Its SQL.
    pub dialect: &'static Dialect,
    /// Its name in messages (`DuckDB`).
    pub display_name: &'static str,
    /// The keys a profile output of this engine may have (dbt's common ones included).
    pub keys: &'static [&'static str],
    /// Keys the dbt adapter has and strata does not implement, with why (an error each).
    pub unsupported_keys: &'static [(&'static str, &'static str)],
    /// Read the engine's settings from an output's keys (relative paths against the project
    /// folder), with the default database name; problems located through `Locate`.
    pub read_target: TargetReader,
    /// Open the target's database.
    pub open: fn(&Target) -> Result<Arc<dyn Adapter>, DbError>,
    /// The file the target's database lives in, when it is a local file (None for an in-memory
    /// database or a server): a command opens an existing one while the project parses.
    pub database_file: fn(&Target) -> Option<std::path::PathBuf>,
    /// Where the target's database is, in messages (a file path, a URL).
    pub location: fn(&Target) -> String,
    /// The name a database file attaches under (`--defer` to a state built into another file).
    pub database_of_file: fn(&str) -> String,
    /// What to check when the database cannot be opened.
    pub open_help: &'static str,
}

/// The engines, by the profile `type` that selects them.
pub const ENGINES: &[Engine] = &[duckdb::ENGINE, spark::ENGINE];

/// The engine of a profile `type`.
pub fn engine(type_name: &str) -> Option<&'static Engine> {
    ENGINES.iter().find(|e| e.dialect.name == type_name)
}

impl Engine {
    /// The target's database in messages (`DuckDB at 'dev.duckdb'`).
    pub fn describe(&self, target: &Target) -> String {
        format!("{} at '{}'", self.display_name, (self.location)(target))
    }

    /// Whether the target's database is a local file that exists already.
    pub fn database_exists(&self, target: &Target) -> bool {
        (self.database_file)(target).is_some_and(|p| p.is_file())
    }
}

/// The engine a project runs on: its target's `type` (the first engine, DuckDB, for commands
/// that run without a profile, such as `parse` of a project that has none).
pub fn engine_for(target: Option<&Target>) -> &'static Engine {
    target.and_then(|t| engine(&t.adapter_type)).unwrap_or(&ENGINES[0])
}

/// Opens connections to one database.
pub trait Adapter: Send + Sync {
    /// A new connection (cheap: shares the database instance).
    fn connect(&self) -> Result<Arc<dyn Connection>, DbError>;
}
