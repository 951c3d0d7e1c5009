//! The database boundary. [`Adapter`] opens connections; [`Connection`] runs SQL and answers
//! catalog questions. Nothing outside `adapter::duckdb` knows which database is behind it.

pub mod constraints;
pub mod duckdb;

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

/// A column of a relation in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type as the database names it.
    pub data_type: String,
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
    /// Columns of a relation, in order.
    fn columns(&self, database: &str, schema: &str, name: &str) -> Result<Vec<Column>, DbError>;
    /// Roll back an open transaction, if any.
    fn rollback(&self);
    /// A function that stops the query this connection is running (from another thread), for
    /// Ctrl-C; None when the database cannot.
    fn interrupter(&self) -> Option<crate::cancel::Interrupter> {
        None
    }
}

/// Opens connections to one database.
pub trait Adapter: Send + Sync {
    /// A new connection (cheap: shares the database instance).
    fn connect(&self) -> Result<Arc<dyn Connection>, DbError>;
    /// The adapter's type name, as `target.type` shows it.
    fn type_name(&self) -> &'static str;
}
