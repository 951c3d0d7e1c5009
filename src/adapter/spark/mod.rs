//! Apache Spark through Spark Connect: the only user of the Spark Connect client. One Spark
//! session per connection (so `threads` workers run concurrent Spark jobs), statements sent one
//! at a time (Spark SQL runs one statement per request), results read from Arrow batches.
//! Relations are `schema.identifier` (a Spark schema is a database; the session catalog is not
//! written), quoted with backticks; the catalog is read with `SHOW TABLE EXTENDED` (one statement per schema) and `DESCRIBE`.

use super::Target;
use super::{Adapter, AdapterResponse, Column, Connection, DbError, Table};
pub use profile::Settings;

pub mod profile;
use arrow_spark::array::{Array, AsArray};
use arrow_spark::datatypes::{self as dt, DataType, DecimalType};
use arrow_spark::record_batch::RecordBatch;
use serde_json::Value as Json;
use spark_connect::SparkSession;
use std::collections::HashMap;
use std::sync::Arc;

/// The catalog relations live in (Spark's session catalog); never written in SQL.
pub const DEFAULT_CATALOG: &str = "spark_catalog";

/// A Spark Connect endpoint that accepted a connection.
pub struct Spark {
    url: String,
    /// `SET` statements every session runs first (`server_side_parameters`).
    session: Vec<String>,
}

fn settings(target: &Target) -> &Settings {
    match &target.engine {
        super::EngineTarget::Spark(s) => s,
        _ => unreachable!("the Spark engine opens Spark targets only"),
    }
}

/// Check that the endpoint accepts a connection (the client retries an unreachable endpoint
/// for minutes), then keep its URL for the connections.
pub fn open(target: &Target) -> Result<Arc<dyn Adapter>, DbError> {
    use std::net::ToSocketAddrs;
    let s = settings(target);
    let addrs: Vec<_> = (s.host.as_str(), s.port)
        .to_socket_addrs()
        .map_err(|e| DbError(format!("cannot resolve host '{}': {e}", s.host)))?
        .collect();
    let timeout = std::time::Duration::from_secs(s.connect_timeout.max(1));
    let mut last = None;
    for a in &addrs {
        match std::net::TcpStream::connect_timeout(a, timeout) {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    if let Some(e) = last {
        return Err(DbError(format!("Spark Connect is not reachable at {}:{}: {e}", s.host, s.port)));
    }
    let session = s
        .server_side_parameters
        .iter()
        .map(|(k, v)| {
            let val = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("SET {k}={val}")
        })
        .collect();
    Ok(Arc::new(Spark { url: s.url(), session }))
}

impl Adapter for Spark {
    fn connect(&self) -> Result<Arc<dyn Connection>, DbError> {
        let session = SparkSession::builder().remote(&self.url).get_or_create().map_err(err)?;
        let conn = SparkConn { session };
        for stmt in &self.session {
            conn.execute(stmt)?;
        }
        Ok(Arc::new(conn))
    }
}

fn err(e: spark_connect::SparkError) -> DbError {
    // The server's message is what a user needs; the client's Debug form adds its fields.
    let text = e.to_string();
    DbError(text.lines().take(12).collect::<Vec<_>>().join("\n"))
}

/// A relation of a schema listing.
struct Listed {
    name: String,
    /// `table` or `view`.
    kind: String,
    /// None when a column's type is nested and the listing names only its kind.
    columns: Option<Vec<Column>>,
}

/// The kind and the top-level columns of a relation from the `information` text of
/// `SHOW TABLE EXTENDED` (`Type: VIEW`, then `Schema: root` and ` |-- name: type (nullable = …)`).
fn parse_information(info: &str) -> (String, Option<Vec<Column>>) {
    let kind = if info.lines().any(|l| l.trim() == "Type: VIEW") { "view" } else { "table" };
    let mut columns = vec![];
    let mut complete = true;
    for line in info.lines().filter_map(|l| l.strip_prefix(" |-- ")) {
        let Some((decl, _)) = line.rsplit_once(" (nullable = ") else { continue };
        let Some((name, ty)) = decl.rsplit_once(": ") else { continue };
        if matches!(ty, "array" | "struct" | "map") {
            complete = false;
        }
        columns.push(Column { name: name.to_string(), data_type: ty.to_string() });
    }
    (kind.to_string(), complete.then_some(columns))
}

/// One Spark session.
pub struct SparkConn {
    session: SparkSession,
}

impl SparkConn {
    fn batches(&self, sql: &str) -> Result<Vec<RecordBatch>, DbError> {
        let df = self.session.sql(sql).map_err(err)?;
        df.collect_record_batches().map_err(err)
    }

    /// Every relation of one schema, from one `SHOW TABLE EXTENDED` (as dbt-spark lists them):
    /// name, `table` | `view`, and its columns when the listing gives their types in full.
    /// `pattern` is Spark's (`*` for all).
    fn schema_relations(&self, schema: &str, pattern: &str) -> Result<Vec<Listed>, DbError> {
        let sql = format!("show table extended in {} like '{}'", quote_ident(schema), pattern.replace('\'', "\\'"));
        let t = self.query(&sql, None)?;
        let at = |col: &str| t.columns.iter().position(|c| c == col);
        let (Some(ni), Some(ii), ti) = (at("tableName"), at("information"), at("isTemporary")) else {
            return Ok(vec![]);
        };
        let mut out = vec![];
        for r in &t.rows {
            if ti.and_then(|i| r.get(i)).and_then(Json::as_bool) == Some(true) {
                continue;
            }
            let Some(name) = r.get(ni).and_then(Json::as_str) else { continue };
            let info = r.get(ii).and_then(Json::as_str).unwrap_or_default();
            let (kind, columns) = parse_information(info);
            out.push(Listed { name: name.to_string(), kind, columns });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn schemas(&self) -> Result<Vec<String>, DbError> {
        let t = self.query("show schemas", None)?;
        let mut out: Vec<String> =
            t.rows.iter().filter_map(|r| r.first().and_then(Json::as_str).map(str::to_string)).collect();
        out.sort();
        Ok(out)
    }

    /// `DESCRIBE`'s column rows, up to its first blank or `#` section line.
    fn described(t: &Table) -> Vec<Column> {
        let mut out = vec![];
        for r in &t.rows {
            let name = r.first().and_then(Json::as_str).unwrap_or_default();
            if name.is_empty() || name.starts_with('#') {
                break;
            }
            out.push(Column {
                name: name.to_string(),
                data_type: r.get(1).and_then(Json::as_str).unwrap_or_default().to_string(),
            });
        }
        out
    }

    /// Every relation of the schemas `keep` accepts, one listing per schema.
    fn listed(&self, keep: impl Fn(&str) -> bool) -> Result<Vec<(super::RelationName, Listed)>, DbError> {
        let mut out = vec![];
        for schema in self.schemas()?.into_iter().filter(|s| keep(s)) {
            for r in self.schema_relations(&schema, "*")? {
                out.push(((DEFAULT_CATALOG.to_string(), schema.clone(), r.name.clone()), r));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The listed relations' columns, described where the listing names a nested type only.
    fn with_columns(
        &self,
        listed: Vec<(super::RelationName, Listed)>,
    ) -> Result<Vec<(super::RelationName, Vec<Column>)>, DbError> {
        let mut out = vec![];
        for (key, r) in listed {
            let columns = match r.columns {
                Some(c) => c,
                None => self.columns(&key.0, &key.1, &key.2)?,
            };
            out.push((key, columns));
        }
        Ok(out)
    }
}

impl Connection for SparkConn {
    fn execute(&self, sql: &str) -> Result<AdapterResponse, DbError> {
        for stmt in split_statements(sql) {
            self.batches(&stmt)?;
        }
        Ok(AdapterResponse { message: "OK".into(), rows_affected: None })
    }

    fn query(&self, sql: &str, limit: Option<usize>) -> Result<Table, DbError> {
        let stmts = split_statements(sql);
        let Some((last, before)) = stmts.split_last() else { return Ok(Table::default()) };
        for s in before {
            self.batches(s)?;
        }
        let batches = self.batches(last)?;
        Ok(to_table(&batches, limit))
    }

    fn relation_kind(&self, _database: &str, schema: &str, name: &str) -> Result<Option<String>, DbError> {
        let listed = match self.schema_relations(schema, name) {
            Err(e) if e.0.contains("SCHEMA_NOT_FOUND") => return Ok(None),
            other => other?,
        };
        Ok(listed.into_iter().find(|r| r.name.eq_ignore_ascii_case(name)).map(|r| r.kind))
    }

    fn relations(&self) -> Result<HashMap<(String, String, String), String>, DbError> {
        Ok(self.listed(|_| true)?.into_iter().map(|(key, r)| (key, r.kind)).collect())
    }

    /// One listing per schema that exists and is asked for.
    fn relations_in(
        &self,
        schemas: &std::collections::BTreeSet<String>,
    ) -> Result<HashMap<(String, String, String), String>, DbError> {
        let listed = self.listed(|s| schemas.contains(&s.to_lowercase()))?;
        Ok(listed.into_iter().map(|(key, r)| (key, r.kind)).collect())
    }

    /// A relation's columns; none when it does not exist (as DuckDB's catalog query gives).
    fn columns(&self, _database: &str, schema: &str, name: &str) -> Result<Vec<Column>, DbError> {
        let rel = if schema.is_empty() {
            quote_ident(name)
        } else {
            format!("{}.{}", quote_ident(schema), quote_ident(name))
        };
        match self.query(&format!("describe table {rel}"), None) {
            Ok(t) => Ok(Self::described(&t)),
            Err(e) if e.0.contains("TABLE_OR_VIEW_NOT_FOUND") || e.0.contains("SCHEMA_NOT_FOUND") => Ok(vec![]),
            Err(e) => Err(e),
        }
    }

    fn columns_by_name(&self, names: &[&str]) -> Result<Vec<(super::RelationName, Vec<Column>)>, DbError> {
        let wanted: std::collections::HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
        let listed = self.listed(|_| true)?.into_iter().filter(|(k, _)| wanted.contains(&k.2.to_lowercase()));
        self.with_columns(listed.collect())
    }

    /// One listing per schema; a relation whose listing shows a nested type (`array`,
    /// `struct`, `map` without their element types) is described on its own.
    fn all_columns(&self) -> Result<Vec<(super::RelationName, Vec<Column>)>, DbError> {
        self.with_columns(self.listed(|_| true)?)
    }

    fn relation_types(&self) -> Result<Vec<(super::RelationName, String)>, DbError> {
        let mut out: Vec<_> = self.relations()?.into_iter().collect();
        out.sort();
        Ok(out)
    }

    fn describe(&self, sql: &str) -> Result<Vec<Column>, DbError> {
        let t = self.query(&format!("describe query {}", sql.trim().trim_end_matches(';')), None)?;
        Ok(Self::described(&t))
    }

    /// The row count and the sum of every row's 64-bit hash.
    fn content_fingerprint(&self, relation: &str) -> Result<Option<String>, DbError> {
        let sql = format!(
            "select count(*), cast(coalesce(sum(cast(xxhash64(*) as decimal(38, 0))), 0) as string) from {relation}"
        );
        let t = self.query(&sql, None)?;
        Ok(t.rows.first().map(|row| row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(":")))
    }

    fn rollback(&self) {}

    fn interrupter(&self) -> Option<crate::cancel::Interrupter> {
        let session = self.session.clone();
        Some(Box::new(move || {
            let _ = session.interrupt_all();
        }))
    }
}

/// Split SQL into statements at `;` outside quotes (`'...'`, `"..."` and `` `...` ``, with
/// backslash escapes as Spark reads them) and comments; empty statements are dropped.
pub fn split_statements(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = vec![];
    let mut start = 0;
    let mut i = 0;
    let push = |from: usize, to: usize, out: &mut Vec<String>| {
        let s = sql[from..to].trim();
        let meaningful = s.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with("--")
        });
        if meaningful {
            out.push(s.to_string());
        }
    };
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b';' => {
                push(start, i, &mut out);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    push(start, sql.len(), &mut out);
    out
}

/// Spark's name of an Arrow type (what `DESCRIBE` would say).
fn type_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary | DataType::LargeBinary => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp".into(),
        DataType::Timestamp(_, None) => "timestamp_ntz".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Null => "void".into(),
        other => format!("{other}").to_lowercase(),
    }
}

/// Record batches as a [`Table`]: numbers and booleans as JSON, dates and timestamps as ISO
/// strings (as the DuckDB engine gives them), anything else as Arrow displays it.
fn to_table(batches: &[RecordBatch], limit: Option<usize>) -> Table {
    let mut t = Table::default();
    if let Some(b) = batches.first() {
        t.columns = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        t.types = b.schema().fields().iter().map(|f| type_name(f.data_type())).collect();
    }
    'batches: for b in batches {
        for row in 0..b.num_rows() {
            if limit.is_some_and(|l| t.rows.len() >= l) {
                break 'batches;
            }
            t.rows.push(b.columns().iter().map(|c| cell(c.as_ref(), row)).collect());
        }
    }
    t
}

fn cell(a: &dyn Array, i: usize) -> Json {
    if a.is_null(i) {
        return Json::Null;
    }
    match a.data_type() {
        DataType::Boolean => Json::Bool(a.as_boolean().value(i)),
        DataType::Int8 => Json::from(a.as_primitive::<dt::Int8Type>().value(i)),
        DataType::Int16 => Json::from(a.as_primitive::<dt::Int16Type>().value(i)),
        DataType::Int32 => Json::from(a.as_primitive::<dt::Int32Type>().value(i)),
        DataType::Int64 => Json::from(a.as_primitive::<dt::Int64Type>().value(i)),
        DataType::Float32 => Json::from(a.as_primitive::<dt::Float32Type>().value(i) as f64),
        DataType::Float64 => Json::from(a.as_primitive::<dt::Float64Type>().value(i)),
        DataType::Utf8 => Json::String(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Json::String(a.as_string::<i64>().value(i).to_string()),
        DataType::Decimal128(_, s) => {
            let v = a.as_primitive::<dt::Decimal128Type>().value(i);
            let text = dt::Decimal128Type::format_decimal(v, 38, *s);
            text.parse::<f64>().map(Json::from).unwrap_or(Json::String(text))
        }
        DataType::Date32 => Json::String(super::iso_date(a.as_primitive::<dt::Date32Type>().value(i) as i64)),
        DataType::Timestamp(unit, _) => Json::String(super::iso_timestamp(match unit {
            dt::TimeUnit::Second => a.as_primitive::<dt::TimestampSecondType>().value(i).saturating_mul(1_000_000),
            dt::TimeUnit::Millisecond => {
                a.as_primitive::<dt::TimestampMillisecondType>().value(i).saturating_mul(1_000)
            }
            dt::TimeUnit::Microsecond => a.as_primitive::<dt::TimestampMicrosecondType>().value(i),
            dt::TimeUnit::Nanosecond => a.as_primitive::<dt::TimestampNanosecondType>().value(i) / 1_000,
        })),
        _ => {
            let opts = arrow_spark::util::display::FormatOptions::default();
            match arrow_spark::util::display::ArrayFormatter::try_new(a, &opts) {
                Ok(f) => Json::String(f.value(i).to_string()),
                Err(_) => Json::Null,
            }
        }
    }
}

/// Quote an identifier for Spark SQL.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// A Spark SQL string literal (Spark reads backslash escapes in literals).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Spark SQL: backticks, backslash-escaped literals, relations as `schema.identifier`, no
/// transactions, Spark's own catalog statements, and the macros and materializations of
/// `templates/spark/`.
pub const DIALECT: super::Dialect = super::Dialect {
    name: "spark",
    quote: quote_ident,
    literal: lit,
    epoch_micros: |e| format!("unix_micros(cast({e} as timestamp))"),
    now: "current_timestamp()",
    schemas_sql: |_db| "show schemas".into(),
    relations_sql: |_db, schema| format!("show tables in {}", quote_ident(schema)),
    rename_sql: |kind, from, schema, to| {
        format!("alter {kind} {from} rename to {}.{}", quote_ident(schema), quote_ident(to))
    },
    transaction_sql: |body| body.to_string(),
    writes_database: false,
    inline_seeds: true,
    seed_type: |generic| match generic {
        "INTEGER" => "bigint",
        "DOUBLE" => "double",
        "DATE" => "date",
        "TIMESTAMP" => "timestamp",
        "BOOLEAN" => "boolean",
        _ => "string",
    },
    raise_error: "raise_error",
    config_problem,
    analysis: crate::sql::Flavor::SparkSql,
    macros: &[("templates/spark/macros.sql", include_str!("../../../templates/spark/macros.sql"))],
};

/// Table formats with MERGE (on a cluster that has their jars, as Databricks has Delta).
const MERGE_FORMATS: &[&str] = &["delta", "iceberg", "hudi"];

/// What strata cannot build on Spark: dbt-duckdb's own materializations and python models, and
/// what needs MERGE (`merge`, `delete+insert` and `microbatch` incremental strategies,
/// snapshots), which strata does not implement on Spark and a file format without MERGE (parquet,
/// the default) cannot do.
fn config_problem(n: &super::NodeShape) -> Option<super::ConfigProblem> {
    let problem =
        |key, message: String, help: &str| Some(super::ConfigProblem { key, message, help: help.to_string() });
    if n.materialized == "external" {
        return problem(
            "materialized",
            "materialized='external' is dbt-duckdb's and cannot be built on Spark".into(),
            "use materialized='table' with file_format and location_root to write files from Spark",
        );
    }
    if n.language == "python" && n.resource_type == "model" {
        return problem(
            "materialized",
            "python models run in DuckDB's Python API and cannot be built on Spark by strata".into(),
            "write the model in SQL, or disable it on other engines: enabled: \"{{ target.type == 'duckdb' }}\"",
        );
    }
    let file_format = n.file_format.unwrap_or("parquet");
    let needs_merge = if n.resource_type == "snapshot" {
        Some("snapshots".to_string())
    } else if n.materialized == "incremental" {
        match n.strategy {
            Some(s @ ("merge" | "delete+insert" | "microbatch")) => {
                Some(format!("incremental models with strategy '{s}'"))
            }
            Some("append" | "insert_overwrite") | None => None,
            Some(other) => {
                return problem(
                    "incremental_strategy",
                    format!("incremental_strategy '{other}' is not one Spark has"),
                    "use append or insert_overwrite (with partition_by)",
                )
            }
        }
    } else {
        None
    };
    let what = needs_merge?;
    let why = if MERGE_FORMATS.contains(&file_format) {
        format!("{what} on Spark ({file_format}) are not implemented by strata")
    } else {
        format!("{what} need a table format with MERGE, and file_format '{file_format}' has none")
    };
    if n.resource_type == "snapshot" {
        return problem(
            "snapshot",
            why,
            "take snapshots on DuckDB, or disable this one on Spark: enabled: \"{{ target.type == 'duckdb' }}\"",
        );
    }
    problem("incremental_strategy", why, "use incremental_strategy 'append' or 'insert_overwrite' (with partition_by)")
}

/// The Spark engine: a Spark Connect endpoint (a local standalone cluster, or a managed one).
pub const ENGINE: super::Engine = super::Engine {
    dialect: &DIALECT,
    display_name: "Spark",
    keys: profile::SUPPORTED_KEYS,
    unsupported_keys: profile::UNSUPPORTED_KEYS,
    read_target: profile::read,
    open,
    database_file: |_| None,
    location: |t| {
        let s = settings(t);
        format!("sc://{}:{}", s.host, s.port)
    },
    database_of_file: |_| DEFAULT_CATALOG.to_string(),
    open_help:
        "start the Spark Connect server (scripts/spark-local.sh start) or check `host` and `port` in profiles.yml",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kind_and_columns_from_a_table_listing() {
        let table = "Catalog: spark_catalog\nDatabase: s\nTable: t\nType: MANAGED\nProvider: parquet\n\
            Schema: root\n |-- id: long (nullable = true)\n |-- amount: decimal(18,2) (nullable = true)\n";
        let (kind, cols) = parse_information(table);
        assert_eq!(kind, "table");
        let cols = cols.expect("flat columns are complete");
        let got: Vec<(&str, &str)> = cols.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
        assert_eq!(got, vec![("id", "long"), ("amount", "decimal(18,2)")]);
        let view = "Type: VIEW\nView Text: select 1 as x\nSchema: root\n |-- x: integer (nullable = false)\n";
        assert_eq!(parse_information(view).0, "view");
        // A nested column's type is named only by its kind: the relation is described instead.
        let nested = "Type: MANAGED\nSchema: root\n |-- tags: array (nullable = true)\n |    |-- element: string (containsNull = true)\n";
        assert!(parse_information(nested).1.is_none());
    }

    #[test]
    fn splits_statements_outside_quotes_and_comments() {
        let sql = "create table `a;b` as select 'x;\\'y' as c; -- a; comment\n/* c;d */ insert into t values (1);\n;  ";
        assert_eq!(
            split_statements(sql),
            vec![
                "create table `a;b` as select 'x;\\'y' as c".to_string(),
                "-- a; comment\n/* c;d */ insert into t values (1)".to_string()
            ]
        );
        assert!(split_statements("-- only a comment\n").is_empty());
    }

    #[test]
    fn quotes_and_literals_as_spark_reads_them() {
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
        assert_eq!(lit("it's a \\ path"), "'it\\'s a \\\\ path'");
        assert_eq!(
            (DIALECT.rename_sql)("table", "`s`.`t__tmp`", "s", "t"),
            "alter table `s`.`t__tmp` rename to `s`.`t`"
        );
    }
}
