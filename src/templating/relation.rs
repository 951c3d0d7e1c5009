//! The relation object Jinja sees for `this`, `ref()`, `source()` and `api.Relation.create()`:
//! database, schema and identifier, rendered with the engine's quoting (`"db"."schema"."name"`
//! on DuckDB), with dbt's methods (`include`, `incorporate`, `render`, `is_table`...).

use crate::adapter::Dialect;
use minijinja::value::{Enumerator, Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::fmt;
use std::sync::Arc;

/// A database relation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// Catalog; None to leave it out.
    pub database: Option<String>,
    /// Schema; None to leave it out.
    pub schema: Option<String>,
    /// Table or view name.
    pub identifier: Option<String>,
    /// `table`, `view`, `cte`, `external` or None when unknown.
    pub kind: Option<String>,
    /// A source read from files (dbt-duckdb's `external_location`): the SQL that reads it
    /// (`'data/orders.parquet'` or `read_csv(...)`), rendered instead of the name.
    pub external: Option<String>,
    /// The engine whose quoting it renders with.
    pub dialect: &'static Dialect,
}

impl Relation {
    /// Its key in a catalog read from the database (`(database, schema, identifier)`, as
    /// `Connection::relations` returns them; a missing part is empty).
    pub fn catalog_key(&self) -> (String, String, String) {
        let part = |p: &Option<String>| p.clone().unwrap_or_default();
        (part(&self.database), part(&self.schema), part(&self.identifier))
    }

    /// A full three-part relation of an engine.
    pub fn new(dialect: &'static Dialect, database: &str, schema: &str, identifier: &str) -> Relation {
        Relation {
            database: Some(database.to_string()),
            schema: Some(schema.to_string()),
            identifier: Some(identifier.to_string()),
            kind: None,
            external: None,
            dialect,
        }
    }

    /// An ephemeral model's CTE name, rendered unquoted.
    pub fn cte(dialect: &'static Dialect, name: &str) -> Relation {
        Relation::named_cte(dialect, &format!("__dbt__cte__{name}"))
    }

    /// A CTE of the given name, rendered unquoted (unit-test inputs).
    pub fn named_cte(dialect: &'static Dialect, name: &str) -> Relation {
        Relation {
            database: None,
            schema: None,
            identifier: Some(name.to_string()),
            kind: Some("cte".into()),
            external: None,
            dialect,
        }
    }

    /// The relation as SQL.
    pub fn render(&self) -> String {
        if let Some(e) = &self.external {
            return e.clone();
        }
        if self.kind.as_deref() == Some("cte") {
            return self.identifier.clone().unwrap_or_default();
        }
        let database = if self.dialect.writes_database { &self.database } else { &None };
        let mut out = String::new();
        for part in [database, &self.schema, &self.identifier].into_iter().flatten() {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&self.dialect.quote(part));
        }
        out
    }

    /// As a Jinja value.
    pub fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map(|s| Value::from(s.as_str())).unwrap_or(Value::from(()))
}

impl Object for Relation {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "database" => opt(&self.database),
            "schema" => opt(&self.schema),
            "identifier" | "name" | "table" => opt(&self.identifier),
            "type" => opt(&self.kind),
            "is_table" => Value::from(self.kind.as_deref() == Some("table")),
            "is_view" => Value::from(self.kind.as_deref() == Some("view")),
            "is_cte" => Value::from(self.kind.as_deref() == Some("cte")),
            "path" => Value::from_serialize(serde_json::json!({
                "database": self.database, "schema": self.schema, "identifier": self.identifier
            })),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["database", "schema", "identifier", "name", "type"])
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let kwargs = args.last().and_then(crate::jinja::as_kwargs);
        match method {
            "render" => Ok(Value::from(Relation::render(self))),
            "include" => {
                let mut r = (**self).clone();
                if let Some(kw) = &kwargs {
                    for (part, slot) in
                        [("database", &mut r.database), ("schema", &mut r.schema), ("identifier", &mut r.identifier)]
                    {
                        if let Ok(Some(b)) = kw.get::<Option<bool>>(part) {
                            if !b {
                                *slot = None;
                            }
                        }
                    }
                }
                Ok(r.into_value())
            }
            "incorporate" => {
                let mut r = (**self).clone();
                if let Some(kw) = &kwargs {
                    if let Ok(Some(t)) = kw.get::<Option<String>>("type") {
                        r.kind = Some(t);
                    }
                    if let Ok(Some(path)) = kw.get::<Option<Value>>("path") {
                        for (part, slot) in [
                            ("database", &mut r.database),
                            ("schema", &mut r.schema),
                            ("identifier", &mut r.identifier),
                        ] {
                            if let Ok(v) = path.get_attr(part) {
                                if let Some(s) = v.as_str() {
                                    *slot = Some(s.to_string());
                                }
                            }
                        }
                    }
                }
                Ok(r.into_value())
            }
            "quote" | "replace_path" => Ok(Value::from_dyn_object(self.clone())),
            "get_ddl_prefix_for_create" | "get_ddl_prefix_for_alter" => Ok(Value::from("")),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("relation has no method `{method}`"))),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Relation::render(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_quoted_and_cte() {
        let duckdb = &crate::adapter::duckdb::DIALECT;
        assert_eq!(Relation::new(duckdb, "db", "main", "orders").render(), "\"db\".\"main\".\"orders\"");
        assert_eq!(Relation::cte(duckdb, "base").render(), "__dbt__cte__base");
        assert_eq!(Relation::new(duckdb, "db", "ma\"in", "x").render(), "\"db\".\"ma\"\"in\".\"x\"");
    }
}
