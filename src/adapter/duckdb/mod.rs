//! DuckDB, embedded: the only user of the duckdb crate. One database instance per invocation,
//! one cloned connection per worker (a `Connection` is `Send` but not `Sync`, so each is behind a
//! mutex and used by one worker at a time).

use super::Target;
use super::{Adapter, AdapterResponse, Column, Connection, DbError, Table};
pub use profile::{Attach, Settings};

pub mod profile;
use duckdb::types::{TimeUnit, Value as DValue};
use serde_json::Value as Json;
use std::sync::{Arc, Mutex};

/// An open DuckDB database.
pub struct DuckDb {
    base: Mutex<duckdb::Connection>,
    /// `SET` statements every connection runs first (the project folder as the file search
    /// path, the profile's `settings`): DuckDB keeps them per connection.
    session: String,
}

fn err(e: duckdb::Error) -> DbError {
    DbError(e.to_string())
}

extern "C" {
    /// DuckDB's registry of statically linked extensions (duckdb_static_extension.h).
    fn duckdb_register_static_extension(describe: unsafe extern "C" fn(*mut std::ffi::c_void) -> i32) -> i32;
    /// The ICU extension compiled by build.rs (vendor/duckdb-icu-shim/icu_describe.cpp).
    fn strata_duckdb_icu_describe(descriptor: *mut std::ffi::c_void) -> i32;
}

/// Make the ICU extension compiled into strata known to DuckDB, so `LOAD icu` and autoloading
/// (TIMESTAMPTZ arithmetic, time zones) find it without a network. Registering again is a no-op.
pub fn register_icu() -> Result<(), DbError> {
    // SAFETY: both functions are C functions linked into this binary; DuckDB calls the describe
    // function with a descriptor it allocated, and the describe function only writes to it.
    let rc = unsafe { duckdb_register_static_extension(strata_duckdb_icu_describe) };
    if rc == 0 {
        Ok(())
    } else {
        Err(DbError("DuckDB refused to register the ICU extension compiled into strata".into()))
    }
}

/// A SQL literal for a profile value: strings quoted, numbers and booleans as written.
fn value_sql(v: &Json) -> String {
    match v {
        Json::String(s) => lit(s),
        Json::Null => "NULL".into(),
        other => other.to_string(),
    }
}

impl DuckDb {
    /// Open the target's database file (creating its folder) or an in-memory database with the
    /// profile's `config_options`, load its extensions, apply its settings, create its secrets and
    /// attach its other databases.
    pub fn open(target: &Target) -> Result<DuckDb, DbError> {
        let project_root = &target.project_root;
        let target = settings(target);
        register_icu()?;
        let mut config = duckdb::Config::default();
        for (k, v) in &target.config_options {
            let val = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            config = config.with(k, &val).map_err(|e| DbError(format!("config_options.{k}: {e}")))?;
        }
        let conn = if target.path == ":memory:" || target.path.is_empty() {
            duckdb::Connection::open_in_memory_with_flags(config).map_err(err)?
        } else {
            if let Some(parent) = std::path::Path::new(&target.path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| DbError(format!("cannot create {}: {e}", parent.display())))?;
                }
            }
            duckdb::Connection::open_with_flags(&target.path, config).map_err(err)?
        };
        // Per-connection state: every worker's connection gets it, not only this first one.
        let mut session = String::new();
        if !project_root.as_os_str().is_empty() {
            let root = project_root.to_string_lossy().replace('\'', "''");
            session.push_str(&format!("SET file_search_path = '{root}';\n"));
        }
        for (k, v) in &target.settings {
            let val = match v {
                Json::String(s) => format!("'{}'", s.replace('\'', "''")),
                other => other.to_string(),
            };
            session.push_str(&format!("SET {k} = {val};\n"));
        }
        for ext in &target.extensions {
            if conn.execute_batch(&format!("LOAD {ext}")).is_err() {
                conn.execute_batch(&format!("INSTALL {ext}; LOAD {ext}")).map_err(err)?;
            }
        }
        conn.execute_batch(&session).map_err(err)?;
        for secret in &target.secrets {
            conn.execute_batch(&create_secret_sql(secret)).map_err(|e| DbError(format!("secrets: {e}")))?;
        }
        for a in &target.attach {
            conn.execute_batch(&attach_sql(a)).map_err(|e| DbError(format!("attach '{}': {e}", a.path)))?;
        }
        Ok(DuckDb { base: Mutex::new(conn), session })
    }
}

/// `CREATE OR REPLACE SECRET` for one `secrets:` entry, as dbt-duckdb writes it: every key a
/// parameter, `name` naming the secret (default `__default_<type>`), `persistent` making it so.
pub fn create_secret_sql(secret: &serde_json::Map<String, Json>) -> String {
    let ty = secret.get("type").and_then(Json::as_str).unwrap_or("s3");
    let name =
        secret.get("name").and_then(Json::as_str).map(str::to_string).unwrap_or_else(|| format!("__default_{ty}"));
    let persistent = secret.get("persistent").and_then(Json::as_bool).unwrap_or(false);
    let params: Vec<String> = secret
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "persistent"))
        .map(|(k, v)| {
            let val = match (k.as_str(), v) {
                ("type" | "provider", Json::String(s)) => s.clone(),
                (_, Json::Array(items)) => format!("[{}]", items.iter().map(value_sql).collect::<Vec<_>>().join(", ")),
                (_, Json::Object(m)) => format!(
                    "MAP {{{}}}",
                    m.iter().map(|(k, v)| format!("{}: {}", lit(k), value_sql(v))).collect::<Vec<_>>().join(", ")
                ),
                _ => value_sql(v),
            };
            format!("{} {val}", k.to_ascii_uppercase())
        })
        .collect();
    format!(
        "CREATE OR REPLACE {}SECRET {} ({})",
        if persistent { "PERSISTENT " } else { "" },
        quote_ident(&name),
        params.join(", ")
    )
}

/// `ATTACH IF NOT EXISTS` for one `attach:` entry.
pub fn attach_sql(a: &Attach) -> String {
    let mut opts = vec![];
    if let Some(t) = &a.kind {
        opts.push(format!("TYPE {t}"));
    }
    if a.read_only {
        opts.push("READ_ONLY".into());
    }
    for (k, v) in &a.options {
        opts.push(format!("{} {}", k.to_ascii_uppercase(), value_sql(v)));
    }
    format!(
        "ATTACH IF NOT EXISTS {}{}{}",
        lit(&a.path),
        a.alias.as_ref().map(|al| format!(" AS {}", quote_ident(al))).unwrap_or_default(),
        if opts.is_empty() { String::new() } else { format!(" ({})", opts.join(", ")) }
    )
}

/// The relations of every attached database as information_schema.tables has them (the same
/// rows and names, table_type 'BASE TABLE', 'LOCAL TEMPORARY' or 'VIEW'), read from DuckDB's
/// catalog functions: information_schema.tables is a view of these two with nine more columns,
/// and a listing through it took twice as long (1.36 against 0.69 ms with 50 views). A process's
/// first catalog scan costs more either way: DuckDB then creates its built-in views.
const RELATIONS: &str = "(select database_name as table_catalog, schema_name as table_schema, table_name, \
     case when temporary then 'LOCAL TEMPORARY' else 'BASE TABLE' end as table_type from duckdb_tables() \
     union all select database_name, schema_name, view_name, 'VIEW' from duckdb_views() where not internal)";

/// DuckDB's SQL: double-quoted identifiers, `''` in literals, sqlparser's DuckDB dialect, and
/// the macros of `templates/duckdb/`.
pub const DIALECT: super::Dialect = super::Dialect {
    name: "duckdb",
    quote: quote_ident,
    literal: lit,
    epoch_micros: |e| format!("epoch_us({e})"),
    now: "now()",
    schemas_sql: |db| {
        format!("select schema_name from information_schema.schemata where catalog_name = {} order by 1", lit(db))
    },
    relations_sql: |db, schema| {
        format!(
            "select table_name, table_type from {RELATIONS} where table_catalog = {} and table_schema = {} order by 1",
            lit(db),
            lit(schema)
        )
    },
    rename_sql: |kind, from, _schema, to| format!("alter {kind} {from} rename to {}", quote_ident(to)),
    transaction_sql: |body| format!("begin transaction;\n{body};\ncommit"),
    writes_database: true,
    inline_seeds: false,
    seed_type: |generic| generic,
    raise_error: "error",
    config_problem: |_| None,
    analysis: crate::sql::Flavor::DuckDb,
    macros: &[("templates/duckdb/macros.sql", include_str!("../../../templates/duckdb/macros.sql"))],
};

/// The DuckDB engine: a database file (or `:memory:`), embedded.
pub const ENGINE: super::Engine = super::Engine {
    dialect: &DIALECT,
    display_name: "DuckDB",
    keys: profile::SUPPORTED_KEYS,
    unsupported_keys: profile::UNSUPPORTED_KEYS,
    read_target: profile::read,
    open,
    database_file,
    location: |t| settings(t).path.clone(),
    database_of_file: profile::database_from_path,
    open_help: "check `path` in profiles.yml and that no other process holds the file",
};

/// A DuckDB target's settings.
fn settings(target: &Target) -> &Settings {
    match &target.engine {
        super::EngineTarget::DuckDb(s) => s,
        _ => unreachable!("the DuckDB engine opens DuckDB targets only"),
    }
}

/// Open the target's database (see [`DuckDb::open`]).
pub fn open(target: &Target) -> Result<Arc<dyn Adapter>, DbError> {
    Ok(Arc::new(DuckDb::open(target)?))
}

/// The target's database file; None for `:memory:`.
pub fn database_file(target: &Target) -> Option<std::path::PathBuf> {
    let path = &settings(target).path;
    (path != ":memory:" && !path.is_empty()).then(|| std::path::PathBuf::from(path))
}

/// Quote an identifier for DuckDB.
pub fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for (i, part) in s.split('"').enumerate() {
        if i > 0 {
            out.push_str("\"\"");
        }
        out.push_str(part);
    }
    out.push('"');
    out
}

impl Adapter for DuckDb {
    fn connect(&self) -> Result<Arc<dyn Connection>, DbError> {
        let c = self.base.lock().map_err(|_| DbError("connection lock poisoned".into()))?.try_clone().map_err(err)?;
        c.execute_batch(&self.session).map_err(err)?;
        Ok(Arc::new(DuckConn { conn: Mutex::new(c), interrupted: Default::default() }))
    }
}

/// One DuckDB connection.
pub struct DuckConn {
    conn: Mutex<duckdb::Connection>,
    /// Set by the interrupter: the running query is stopped, and no statement starts after it
    /// (DuckDB's interrupt only reaches a query that is running), except ROLLBACK.
    interrupted: Arc<std::sync::atomic::AtomicBool>,
}

impl DuckConn {
    fn with<T>(&self, f: impl FnOnce(&duckdb::Connection) -> Result<T, DbError>) -> Result<T, DbError> {
        if self.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(DbError("INTERRUPT Error: Interrupted! (the run was cancelled)".into()));
        }
        let c = self.conn.lock().map_err(|_| DbError("connection lock poisoned".into()))?;
        f(&c)
    }
}

impl DuckConn {
    /// Rows of (database, schema, relation, column, type), ordered by relation, grouped by
    /// relation. Read as strings straight from DuckDB (a project of 10,000 views has 100,000
    /// rows in its catalog): no JSON value per cell.
    fn columns_query(&self, sql: &str) -> Result<Vec<(super::RelationName, Vec<Column>)>, DbError> {
        self.with(|c| {
            let mut stmt = c.prepare(sql).map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            let mut out: Vec<(super::RelationName, Vec<Column>)> = vec![];
            while let Some(row) = rows.next().map_err(err)? {
                let s = |i: usize| row.get::<_, Option<String>>(i).map(Option::unwrap_or_default).map_err(err);
                let column = Column { name: s(3)?, data_type: s(4)? };
                let (d, sc, n) = (s(0)?, s(1)?, s(2)?);
                match out.last_mut() {
                    Some(((ld, ls, ln), cols)) if *ld == d && *ls == sc && *ln == n => cols.push(column),
                    _ => out.push(((d, sc, n), vec![column])),
                }
            }
            Ok(out)
        })
    }
}

impl Connection for DuckConn {
    fn execute(&self, sql: &str) -> Result<AdapterResponse, DbError> {
        self.with(|c| {
            c.execute_batch(sql).map_err(err)?;
            Ok(AdapterResponse { message: "OK".into(), rows_affected: None })
        })
    }

    fn query(&self, sql: &str, limit: Option<usize>) -> Result<Table, DbError> {
        self.with(|c| {
            let mut stmt = c.prepare(sql).map_err(err)?;
            let mut out = Table::default();
            {
                let mut rows = stmt.query([]).map_err(err)?;
                while let Some(row) = rows.next().map_err(err)? {
                    if limit.is_some_and(|l| out.rows.len() >= l) {
                        break;
                    }
                    let stmt_ref = row.as_ref();
                    let n = stmt_ref.column_count();
                    let mut vals = Vec::with_capacity(n);
                    for i in 0..n {
                        let v: DValue = row.get(i).map_err(err)?;
                        vals.push(to_json(v));
                    }
                    out.rows.push(vals);
                }
            }
            out.columns = stmt.column_names();
            out.types = (0..out.columns.len()).map(|i| type_name(&stmt.column_type(i))).collect();
            Ok(out)
        })
    }

    fn relation_kind(&self, database: &str, schema: &str, name: &str) -> Result<Option<String>, DbError> {
        let sql = format!(
            "select table_type from {RELATIONS} where table_catalog = {} and table_schema = {} and table_name = {}",
            lit(database),
            lit(schema),
            lit(name)
        );
        let t = self.query(&sql, Some(1))?;
        Ok(t.rows.first().and_then(|r| r.first()).and_then(Json::as_str).map(|s| {
            if s.eq_ignore_ascii_case("VIEW") {
                "view".to_string()
            } else {
                "table".to_string()
            }
        }))
    }

    fn relations(&self) -> Result<std::collections::HashMap<(String, String, String), String>, DbError> {
        let t =
            self.query(&format!("select table_catalog, table_schema, table_name, table_type from {RELATIONS}"), None)?;
        Ok(t.rows
            .into_iter()
            .map(|r| {
                let s = |i: usize| r.get(i).and_then(Json::as_str).unwrap_or_default().to_string();
                let kind = if s(3).eq_ignore_ascii_case("VIEW") { "view" } else { "table" };
                ((s(0), s(1), s(2)), kind.to_string())
            })
            .collect())
    }

    fn columns(&self, database: &str, schema: &str, name: &str) -> Result<Vec<Column>, DbError> {
        let sql = format!(
            "select column_name, data_type from information_schema.columns where table_catalog = {} and table_schema = {} and table_name = {} order by ordinal_position",
            lit(database),
            lit(schema),
            lit(name)
        );
        let t = self.query(&sql, None)?;
        Ok(t.rows
            .into_iter()
            .map(|r| Column {
                name: r.first().and_then(Json::as_str).unwrap_or_default().to_string(),
                data_type: r.get(1).and_then(Json::as_str).unwrap_or_default().to_string(),
            })
            .collect())
    }

    fn columns_by_name(&self, names: &[&str]) -> Result<Vec<(super::RelationName, Vec<Column>)>, DbError> {
        let mut names: Vec<String> = names.iter().map(|n| lit(n)).collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "select database_name, schema_name, table_name, column_name, data_type from duckdb_columns() \
             where table_name in ({}) order by database_name, schema_name, table_name, column_index",
            names.join(", ")
        );
        self.columns_query(&sql)
    }

    fn all_columns(&self) -> Result<Vec<(super::RelationName, Vec<Column>)>, DbError> {
        let sql =
            "select table_catalog, table_schema, table_name, column_name, data_type from information_schema.columns \
                   order by table_catalog, table_schema, table_name, ordinal_position";
        self.columns_query(sql)
    }

    fn relation_types(&self) -> Result<Vec<(super::RelationName, String)>, DbError> {
        let sql = format!("select table_catalog, table_schema, table_name, table_type from {RELATIONS}");
        Ok(self
            .query(&sql, None)?
            .rows
            .iter()
            .map(|r| {
                let s = |i: usize| r.get(i).and_then(Json::as_str).unwrap_or_default().to_string();
                ((s(0), s(1), s(2)), s(3))
            })
            .collect())
    }

    fn describe(&self, sql: &str) -> Result<Vec<Column>, DbError> {
        Ok(self
            .query(&format!("describe {sql}"), None)?
            .rows
            .iter()
            .map(|r| {
                let s = |i: usize| r.get(i).and_then(Json::as_str).unwrap_or_default().to_string();
                Column { name: s(0), data_type: s(1) }
            })
            .collect())
    }

    /// The row count and the sum of every row's hash.
    fn content_fingerprint(&self, relation: &str) -> Result<Option<String>, DbError> {
        let sql = format!("select count(*), cast(coalesce(sum(hash(t)::hugeint), 0) as varchar) from {relation} as t");
        let t = self.query(&sql, None)?;
        Ok(t.rows.first().map(|row| row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(":")))
    }

    fn foreign_keys(&self) -> Result<Vec<super::ForeignKey>, DbError> {
        let sql = "select database_name, schema_name, table_name, referenced_table from duckdb_constraints() \
                   where constraint_type = 'FOREIGN KEY' order by all";
        Ok(self
            .query(sql, None)?
            .rows
            .iter()
            .map(|r| {
                let s = |i: usize| r.get(i).and_then(Json::as_str).unwrap_or_default().to_string();
                super::ForeignKey { database: s(0), schema: s(1), table: s(2), referenced_table: s(3) }
            })
            .collect())
    }

    fn attach_read_only(&self, path: &str, alias: &str) -> Result<(), DbError> {
        self.execute(&format!("attach if not exists {} as {} (read_only)", lit(path), quote_ident(alias))).map(|_| ())
    }

    fn interrupter(&self) -> Option<crate::cancel::Interrupter> {
        let handle = self.conn.lock().ok()?.interrupt_handle();
        let flag = self.interrupted.clone();
        Some(Box::new(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            handle.interrupt();
        }))
    }

    fn rollback(&self) {
        if let Ok(c) = self.conn.lock() {
            let _ = c.execute_batch("ROLLBACK");
        }
    }
}

/// A SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn type_name(t: &duckdb::arrow::datatypes::DataType) -> String {
    use duckdb::arrow::datatypes::DataType as D;
    match t {
        D::Boolean => "BOOLEAN".into(),
        D::Int8 => "TINYINT".into(),
        D::Int16 => "SMALLINT".into(),
        D::Int32 => "INTEGER".into(),
        D::Int64 => "BIGINT".into(),
        D::UInt8 => "UTINYINT".into(),
        D::UInt16 => "USMALLINT".into(),
        D::UInt32 => "UINTEGER".into(),
        D::UInt64 => "UBIGINT".into(),
        D::Float32 => "FLOAT".into(),
        D::Float64 => "DOUBLE".into(),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "VARCHAR".into(),
        D::Date32 | D::Date64 => "DATE".into(),
        D::Timestamp(_, None) => "TIMESTAMP".into(),
        D::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        D::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        other => format!("{other:?}").to_uppercase(),
    }
}

fn ts_string(unit: TimeUnit, v: i64) -> String {
    super::iso_timestamp(match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v / 1_000,
    })
}

/// A DuckDB value as JSON: numbers and booleans as themselves, dates and times as ISO strings.
fn to_json(v: DValue) -> Json {
    match v {
        DValue::Null => Json::Null,
        DValue::Boolean(b) => Json::Bool(b),
        DValue::TinyInt(i) => Json::from(i),
        DValue::SmallInt(i) => Json::from(i),
        DValue::Int(i) => Json::from(i),
        DValue::BigInt(i) => Json::from(i),
        DValue::HugeInt(i) => i64::try_from(i).map(Json::from).unwrap_or_else(|_| Json::String(i.to_string())),
        DValue::UHugeInt(i) => u64::try_from(i).map(Json::from).unwrap_or_else(|_| Json::String(i.to_string())),
        DValue::UTinyInt(i) => Json::from(i),
        DValue::USmallInt(i) => Json::from(i),
        DValue::UInt(i) => Json::from(i),
        DValue::UBigInt(i) => Json::from(i),
        DValue::Float(f) => Json::from(f as f64),
        DValue::Double(f) => Json::from(f),
        DValue::Decimal(d) => {
            let s = d.to_string();
            s.parse::<f64>().map(Json::from).unwrap_or(Json::String(s))
        }
        DValue::Timestamp(u, v) => Json::String(ts_string(u, v)),
        DValue::Text(s) | DValue::Enum(s) => Json::String(s),
        DValue::Blob(b) | DValue::Geometry(b) => Json::String(String::from_utf8_lossy(&b).to_string()),
        DValue::Date32(d) => Json::String(super::iso_date(d as i64)),
        DValue::Time64(u, v) => {
            let s = ts_string(u, v);
            Json::String(s.split(' ').nth(1).unwrap_or(&s).to_string())
        }
        DValue::Interval { months, days, nanos } => Json::String(format!("{months} months {days} days {nanos} ns")),
        DValue::List(items) | DValue::Array(items) => Json::Array(items.into_iter().map(to_json).collect()),
        DValue::Struct(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v.clone()))).collect()),
        DValue::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match to_json(k.clone()) {
                        Json::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v.clone()))
                })
                .collect(),
        ),
        DValue::Union(v) => to_json(*v),
        other => Json::String(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_their_quotes_doubled() {
        assert_eq!(quote_ident("orders"), "\"orders\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(quote_ident("we\"ird\""), "\"we\"\"ird\"\"\"");
        assert_eq!(quote_ident("\""), "\"\"\"\"");
    }

    #[test]
    fn secrets_and_attachments_render_as_dbt_duckdb_writes_them() {
        let secret = serde_json::json!({"type": "s3", "key_id": "k", "secret": "s'x", "region": "eu-west-1",
            "scope": ["s3://a", "s3://b"]});
        assert_eq!(
            create_secret_sql(secret.as_object().unwrap()),
            "CREATE OR REPLACE SECRET \"__default_s3\" (TYPE s3, KEY_ID 'k', SECRET 's''x', REGION 'eu-west-1', SCOPE ['s3://a', 's3://b'])"
        );
        let named =
            serde_json::json!({"type": "gcs", "name": "lake", "persistent": true, "provider": "credential_chain"});
        assert_eq!(
            create_secret_sql(named.as_object().unwrap()),
            "CREATE OR REPLACE PERSISTENT SECRET \"lake\" (TYPE gcs, PROVIDER credential_chain)"
        );
        let a = Attach {
            path: "/p/other.db".into(),
            alias: Some("other".into()),
            kind: Some("sqlite".into()),
            read_only: true,
            options: Default::default(),
        };
        assert_eq!(attach_sql(&a), "ATTACH IF NOT EXISTS '/p/other.db' AS \"other\" (TYPE sqlite, READ_ONLY)");
    }
}
