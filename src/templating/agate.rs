//! The agate-like table that `run_query` returns (`rows`, `columns`, `column_names`,
//! `print_table`) and the column objects of `adapter.get_columns_in_relation`.

use crate::adapter::Table;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// An agate-like table as returned by `run_query`.
#[derive(Debug)]
struct TableObj(Table);

/// Wrap a query result.
pub fn table_value(t: Table) -> Value {
    Value::from_object(TableObj(t))
}

impl TableObj {
    fn rows(&self) -> Vec<Value> {
        let t = &self.0;
        t.rows
            .iter()
            .map(|r| {
                Value::from_object(RowObj {
                    names: t.columns.clone(),
                    values: r.iter().map(Value::from_serialize).collect(),
                })
            })
            .collect()
    }
}

impl Object for TableObj {
    // An agate table iterates over its rows and has their count as length.
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.rows())
    }
    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.rows.len())
    }
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let t = &self.0;
        if let Ok(i) = i64::try_from(key.clone()) {
            let i = if i < 0 { t.rows.len() as i64 + i } else { i };
            return self.rows().get(usize::try_from(i).ok()?).cloned();
        }
        match key.as_str()? {
            "rows" => Some(Value::from(self.rows())),
            "column_names" => Some(Value::from(t.columns.iter().map(|c| Value::from(c.as_str())).collect::<Vec<_>>())),
            "column_types" => Some(Value::from(t.types.iter().map(|c| Value::from(c.as_str())).collect::<Vec<_>>())),
            "columns" => {
                let cols: Vec<Value> = t
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        Value::from_object(ColumnValues {
                            name: name.clone(),
                            values: t.rows.iter().map(|r| Value::from_serialize(&r[i])).collect(),
                        })
                    })
                    .collect();
                Some(Value::from_object(RowObj { names: t.columns.clone(), values: cols }))
            }
            _ => None,
        }
    }
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        match method {
            "print_table" => {
                eprintln!("| {} |", self.0.columns.join(" | "));
                for r in &self.0.rows {
                    eprintln!("| {} |", r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" | "));
                }
                Ok(Value::from(""))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("table has no method `{method}`"))),
        }
    }
}

/// A row (or the column list): indexable by position and by name, iterates its values.
#[derive(Debug)]
struct RowObj {
    names: Vec<String>,
    values: Vec<Value>,
}
impl Object for RowObj {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(name) = key.as_str() {
            return self.names.iter().position(|n| n == name).map(|i| self.values[i].clone());
        }
        let i = i64::try_from(key.clone()).ok()?;
        let i = if i < 0 { self.values.len() as i64 + i } else { i };
        self.values.get(usize::try_from(i).ok()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.values.len())
    }
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        match method {
            "keys" => Ok(Value::from(self.names.iter().map(|n| Value::from(n.as_str())).collect::<Vec<_>>())),
            "values" | "values_distinct" => Ok(Value::from(self.values.clone())),
            "items" => Ok(Value::from(
                self.names
                    .iter()
                    .zip(&self.values)
                    .map(|(n, v)| Value::from(vec![Value::from(n.as_str()), v.clone()]))
                    .collect::<Vec<_>>(),
            )),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("row has no method `{method}`"))),
        }
    }
}

#[derive(Debug)]
struct ColumnValues {
    name: String,
    values: Vec<Value>,
}
impl Object for ColumnValues {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "name" => Some(Value::from(self.name.as_str())),
            _ => None,
        }
    }
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        match method {
            "values" => Ok(Value::from(self.values.clone())),
            "values_distinct" => {
                let mut out: Vec<Value> = vec![];
                for v in &self.values {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
                Ok(Value::from(out))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("column has no method `{method}`"))),
        }
    }
}

/// A catalog column as `adapter.get_columns_in_relation` returns it.
pub fn column_value(dialect: &'static crate::adapter::Dialect, name: &str, data_type: &str) -> Value {
    let dt = data_type.to_ascii_uppercase();
    let is_string = dt.contains("CHAR") || dt.contains("TEXT") || dt == "STRING";
    let is_number = ["INT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL"].iter().any(|t| dt.contains(t));
    Value::from_object(ColumnObj {
        name: name.to_string(),
        data_type: data_type.to_string(),
        is_string,
        is_number,
        dialect,
    })
}

#[derive(Debug)]
struct ColumnObj {
    dialect: &'static crate::adapter::Dialect,
    name: String,
    data_type: String,
    is_string: bool,
    is_number: bool,
}
impl Object for ColumnObj {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "column" => Value::from(self.name.as_str()),
            "quoted" => Value::from(self.dialect.quote(&self.name)),
            "data_type" | "dtype" => Value::from(self.data_type.as_str()),
            _ => return None,
        })
    }
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, _args: &[Value]) -> Result<Value, Error> {
        match method {
            "is_string" => Ok(Value::from(self.is_string)),
            "is_number" | "is_numeric" => Ok(Value::from(self.is_number)),
            "is_integer" => Ok(Value::from(self.data_type.to_ascii_uppercase().contains("INT"))),
            "is_float" => Ok(Value::from(self.is_number && !self.data_type.to_ascii_uppercase().contains("INT"))),
            // dbt's Column.string_size(): the declared length, or 256 for an unbounded string.
            "string_size" if self.is_string => {
                let size = self
                    .data_type
                    .split_once('(')
                    .and_then(|(_, rest)| rest.trim_end_matches(')').trim().parse::<i64>().ok());
                Ok(Value::from(size.unwrap_or(256)))
            }
            "string_size" => Err(invalid(format!("called string_size() on non-string field {}", self.name))),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("column has no method `{method}`"))),
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["name", "data_type", "quoted"])
    }
}
