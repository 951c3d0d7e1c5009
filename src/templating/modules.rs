//! dbt's extra Jinja context: `modules` (datetime, re, itertools), `fromjson`/`tojson`/
//! `fromyaml`/`toyaml`, `zip`, `set`, `local_md5`, the `as_*` filters, and the agate-like
//! table that `run_query` returns (`rows`, `columns`, `column_names`, `print_table`).

use crate::adapter::Table;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::Arc;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Register the helpers on an environment.
pub fn install(env: &mut Environment<'static>) {
    env.add_global("modules", Value::from_object(Modules));
    env.add_function("fromjson", |s: String, default: Option<Value>| -> Result<Value, Error> {
        match serde_json::from_str::<serde_json::Value>(&s) {
            Ok(v) => Ok(Value::from_serialize(v)),
            Err(e) => default.ok_or_else(|| invalid(format!("fromjson: {e}"))),
        }
    });
    let tojson = |v: Value, kw: Kwargs| -> Result<String, Error> {
        let sort: Option<bool> = kw.get("sort_keys")?;
        let _: Option<Value> = kw.get("default")?;
        kw.assert_all_used()?;
        let json = serde_json::to_value(&v).map_err(|e| invalid(format!("tojson: {e}")))?;
        Ok(py_json(&json, sort.unwrap_or(false)))
    };
    env.add_function("tojson", tojson);
    env.add_filter("tojson", tojson);
    // Python's rendering of values: `None`, `True`, `['a', 1]`, `{'k': None}`.
    env.set_formatter(|out, state, value| match value.kind() {
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map if is_plain_container(value) => {
            write!(out, "{}", py_repr(value)).map_err(|_| invalid("cannot write output"))
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    env.add_filter("truncate", |s: String, kw: Rest<Value>| -> Result<String, Error> {
        // Jinja2's truncate(s, length=255, killwords=False, end='...', leeway=5).
        let (pos, kwargs) = match kw.last().filter(|v| v.is_kwargs()) {
            Some(k) => (&kw[..kw.len() - 1], Kwargs::try_from(k.clone()).ok()),
            None => (&kw[..], None),
        };
        let arg = |i: usize, name: &str| -> Option<Value> {
            pos.get(i).cloned().or_else(|| kwargs.as_ref().and_then(|k| k.get::<Option<Value>>(name).ok().flatten()))
        };
        let length = arg(0, "length").and_then(|v| v.as_i64()).unwrap_or(255).max(0) as usize;
        let killwords = arg(1, "killwords").is_some_and(|v| v.is_true());
        let end = arg(2, "end").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "...".into());
        let leeway = arg(3, "leeway").and_then(|v| v.as_i64()).unwrap_or(5).max(0) as usize;
        let chars: Vec<char> = s.chars().collect();
        if chars.len() <= length + leeway {
            return Ok(s);
        }
        let cut: String = chars[..length.saturating_sub(end.chars().count())].iter().collect();
        if killwords {
            return Ok(cut + &end);
        }
        let kept = match cut.rsplit_once(' ') {
            Some((a, _)) => a.to_string(),
            None => cut,
        };
        Ok(kept + &end)
    });
    env.add_filter("wordcount", |s: String| -> usize {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).count()
    });
    env.add_filter("sum", |v: Value, kw: Kwargs| -> Result<Value, Error> {
        let attribute: Option<String> = kw.get("attribute")?;
        let start: Option<Value> = kw.get("start")?;
        kw.assert_all_used()?;
        let mut acc = start.unwrap_or(Value::from(0));
        for item in v.try_iter()? {
            let x = match &attribute {
                Some(a) => a.split('.').try_fold(item, |cur, part| cur.get_attr(part))?,
                None => item,
            };
            acc = match (acc.as_i64(), x.as_i64()) {
                (Some(a), Some(b)) => Value::from(a + b),
                _ => {
                    let f =
                        |v: &Value| f64::try_from(v.clone()).map_err(|_| invalid(format!("sum: {v} is not a number")));
                    Value::from(f(&acc)? + f(&x)?)
                }
            };
        }
        Ok(acc)
    });
    env.add_function("fromyaml", |s: String, default: Option<Value>| -> Result<Value, Error> {
        match serde_yaml::from_str::<serde_yaml::Value>(&s) {
            Ok(v) => Ok(Value::from_serialize(crate::project::yaml::to_json(&v))),
            Err(e) => default.ok_or_else(|| invalid(format!("fromyaml: {e}"))),
        }
    });
    env.add_function("toyaml", |v: Value| -> Result<String, Error> {
        serde_yaml::to_string(&v).map_err(|e| invalid(format!("toyaml: {e}")))
    });
    // dbt's zip / set return `default` (None) when an argument is not iterable; the _strict
    // forms raise.
    fn zip_lists(lists: &[Value]) -> Result<Value, Error> {
        let lists: Vec<Vec<Value>> =
            lists.iter().map(|l| l.try_iter().map(|i| i.collect())).collect::<Result<_, _>>()?;
        let n = lists.iter().map(Vec::len).min().unwrap_or(0);
        Ok(Value::from(
            (0..n).map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>())).collect::<Vec<_>>(),
        ))
    }
    // Python's set(): unique items. Kept sorted, so two sets with the same items compare equal
    // whatever order they were built in (dbt_utils.equality compares column sets with `!=`).
    fn set_of(v: Option<Value>) -> Result<Value, Error> {
        let mut out: Vec<Value> = match v {
            Some(v) => v.try_iter()?.collect(),
            None => vec![],
        };
        out.sort();
        out.dedup();
        Ok(Value::from(out))
    }
    env.add_function("zip", |args: Rest<Value>| -> Result<Value, Error> {
        let (lists, kw) = match args.last().filter(|v| v.is_kwargs()) {
            Some(k) => (&args[..args.len() - 1], Kwargs::try_from(k.clone()).ok()),
            None => (&args[..], None),
        };
        let default = kw.as_ref().and_then(|k| k.get::<Option<Value>>("default").ok().flatten());
        Ok(zip_lists(lists).unwrap_or_else(|_| default.unwrap_or(Value::from(()))))
    });
    env.add_function("zip_strict", |lists: Rest<Value>| zip_lists(&lists));
    env.add_function("set", |v: Option<Value>, rest: Rest<Value>| -> Result<Value, Error> {
        let default = match rest.first() {
            Some(k) if k.is_kwargs() => {
                Kwargs::try_from(k.clone()).ok().and_then(|k| k.get::<Option<Value>>("default").ok().flatten())
            }
            other => other.cloned(),
        };
        Ok(set_of(v).unwrap_or_else(|_| default.unwrap_or(Value::from(()))))
    });
    env.add_function("set_strict", |v: Option<Value>| set_of(v));
    // try_or_compiler_error(message, func, *args): func(*args), or a compiler error with the message.
    env.add_function(
        "try_or_compiler_error",
        |state: &State, message: String, func: Value, args: Rest<Value>| -> Result<Value, Error> {
            func.call(state, &args).map_err(|_| Error::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_function("local_md5", |s: String| -> String {
        use md5::Digest;
        format!("{:x}", md5::Md5::digest(s.as_bytes()))
    });
    env.add_filter("as_bool", |v: Value| -> Value {
        match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("true") => Value::from(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Value::from(false),
            _ => v,
        }
    });
    env.add_filter("as_number", |v: Value| -> Value {
        match v.as_str().map(str::trim) {
            Some(s) => s.parse::<i64>().map(Value::from).or_else(|_| s.parse::<f64>().map(Value::from)).unwrap_or(v),
            None => v,
        }
    });
    env.add_filter("as_text", |v: Value| -> String { v.to_string() });
    env.add_filter("as_native", |v: Value| -> Value {
        match v.as_str() {
            Some(s) => match serde_yaml::from_str::<serde_yaml::Value>(s) {
                Ok(y) => Value::from_serialize(crate::project::yaml::to_json(&y)),
                Err(_) => v,
            },
            None => v,
        }
    });
}

/// Lists and dicts (minijinja's own and the mutable ones), as opposed to objects such as
/// relations that render themselves.
fn is_plain_container(v: &Value) -> bool {
    v.downcast_object_ref::<Vec<Value>>().is_some()
        || v.downcast_object_ref::<std::collections::BTreeMap<Value, Value>>().is_some()
        || v.downcast_object_ref::<super::mutable::MutList>().is_some()
        || v.downcast_object_ref::<super::mutable::MutMap>().is_some()
}

/// A value as Python's `repr()` writes it (strings quoted, `None`, `True`), for lists and dicts
/// rendered into SQL or messages.
pub fn py_repr(v: &Value) -> String {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'").replace('\n', "\\n"))
            }
        }
        ValueKind::Seq => {
            let items: Vec<String> = v.try_iter().map(|it| it.map(|x| py_repr(&x)).collect()).unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| {
                    it.map(|k| format!("{}: {}", py_repr(&k), py_repr(&v.get_item(&k).unwrap_or_default()))).collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => v.to_string(),
    }
}

/// JSON as Python's `json.dumps` writes it: `", "` and `": "` separators, non-ASCII escaped.
pub fn py_json(v: &serde_json::Value, sort_keys: bool) -> String {
    use serde_json::Value as J;
    match v {
        J::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for u in c.encode_utf16(&mut buf) {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        J::Array(a) => format!("[{}]", a.iter().map(|x| py_json(x, sort_keys)).collect::<Vec<_>>().join(", ")),
        J::Object(m) => {
            let mut entries: Vec<(&String, &serde_json::Value)> = m.iter().collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            let items: Vec<String> = entries
                .into_iter()
                .map(|(k, x)| format!("{}: {}", py_json(&J::String(k.clone()), sort_keys), py_json(x, sort_keys)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

pub use super::datetime::{datetime_value, DateTimeObj};

#[derive(Debug)]
struct Modules;
impl Object for Modules {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "datetime" => Some(Value::from_object(super::datetime::DatetimeModule)),
            "re" => Some(Value::from_object(ReModule)),
            "itertools" => Some(Value::from_object(Itertools)),
            _ => None,
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["datetime", "re", "itertools"])
    }
}

fn compile_re(pattern: &str, flags: i64) -> Result<regex::Regex, Error> {
    let mut b = regex::RegexBuilder::new(pattern);
    b.case_insensitive(flags & 2 != 0).multi_line(flags & 8 != 0).dot_matches_new_line(flags & 16 != 0);
    b.build().map_err(|e| invalid(format!("bad regular expression: {e}")))
}

#[derive(Debug)]
struct ReModule;
impl Object for ReModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "IGNORECASE" | "I" => 2,
            "MULTILINE" | "M" => 8,
            "DOTALL" | "S" => 16,
            _ => return None,
        }))
    }
    fn call_method(self: &Arc<Self>, state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let pattern = args.first().and_then(Value::as_str).unwrap_or_default().to_string();
        match method {
            "compile" => {
                let flags = args.get(1).and_then(|v| i64::try_from(v.clone()).ok()).unwrap_or(0);
                Ok(Value::from_object(Pattern(compile_re(&pattern, flags)?)))
            }
            "escape" => Ok(Value::from(regex::escape(&pattern))),
            _ => {
                let flags = args
                    .get(if method == "sub" { 3 } else { 2 })
                    .and_then(|v| i64::try_from(v.clone()).ok())
                    .unwrap_or(0);
                let p = Arc::new(Pattern(compile_re(&pattern, flags)?));
                p.call_method(state, method, &args[1.min(args.len())..])
            }
        }
    }
}

#[derive(Debug)]
struct Pattern(regex::Regex);
impl Object for Pattern {
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let arg = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or_default().to_string();
        let re = &self.0;
        match method {
            "match" | "search" | "fullmatch" => {
                let text = arg(0);
                let caps = re.captures(&text);
                let ok = caps.as_ref().is_some_and(|c| {
                    let m = c.get(0).map(|m| (m.start(), m.end())).unwrap_or((1, 0));
                    match method {
                        "match" => m.0 == 0,
                        "fullmatch" => m.0 == 0 && m.1 == text.len(),
                        _ => true,
                    }
                });
                Ok(match (ok, caps) {
                    (true, Some(c)) => {
                        Value::from_object(MatchObj(c.iter().map(|g| g.map(|m| m.as_str().to_string())).collect()))
                    }
                    _ => Value::from(()),
                })
            }
            "findall" => {
                let text = arg(0);
                let items: Vec<Value> = re
                    .captures_iter(&text)
                    .map(|c| match c.len() {
                        1 => Value::from(c.get(0).map(|m| m.as_str()).unwrap_or_default()),
                        2 => Value::from(c.get(1).map(|m| m.as_str()).unwrap_or_default()),
                        _ => Value::from(
                            c.iter()
                                .skip(1)
                                .map(|g| Value::from(g.map(|m| m.as_str()).unwrap_or_default()))
                                .collect::<Vec<_>>(),
                        ),
                    })
                    .collect();
                Ok(Value::from(items))
            }
            "sub" => {
                let repl = arg(0).replace("\\g<", "${").replace('>', "}");
                let repl =
                    regex::Regex::new(r"\\(\d)").map(|r| r.replace_all(&repl, "$${$1}").to_string()).unwrap_or(repl);
                Ok(Value::from(re.replace_all(&arg(1), repl.as_str()).to_string()))
            }
            "split" => Ok(Value::from(re.split(&arg(0)).map(Value::from).collect::<Vec<_>>())),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("pattern has no method `{method}`"))),
        }
    }
}

#[derive(Debug)]
struct MatchObj(Vec<Option<String>>);
impl Object for MatchObj {
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let g = |i: usize| self.0.get(i).cloned().flatten().map(Value::from).unwrap_or(Value::from(()));
        match method {
            "group" => {
                if args.len() > 1 {
                    return Ok(Value::from(
                        args.iter().map(|a| g(usize::try_from(a.clone()).unwrap_or(0))).collect::<Vec<_>>(),
                    ));
                }
                Ok(g(args.first().and_then(|a| usize::try_from(a.clone()).ok()).unwrap_or(0)))
            }
            "groups" => Ok(Value::from((1..self.0.len()).map(g).collect::<Vec<_>>())),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("match has no method `{method}`"))),
        }
    }
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }
}

#[derive(Debug)]
struct Itertools;
impl Object for Itertools {
    fn call_method(self: &Arc<Self>, _s: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let lists: Vec<Vec<Value>> =
            args.iter().map(|l| l.try_iter().map(|i| i.collect()).unwrap_or_default()).collect();
        match method {
            "chain" => Ok(Value::from(lists.into_iter().flatten().collect::<Vec<_>>())),
            "product" => {
                let mut acc: Vec<Vec<Value>> = vec![vec![]];
                for l in &lists {
                    acc = acc
                        .into_iter()
                        .flat_map(|p| l.iter().map(move |x| [p.clone(), vec![x.clone()]].concat()))
                        .collect();
                }
                Ok(Value::from(acc.into_iter().map(Value::from).collect::<Vec<_>>()))
            }
            "combinations" => {
                let items = lists.first().cloned().unwrap_or_default();
                let r = args.get(1).and_then(|v| usize::try_from(v.clone()).ok()).unwrap_or(2);
                let mut out = vec![];
                combos(&items, r, 0, &mut vec![], &mut out);
                Ok(Value::from(out))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("itertools has no function `{method}`"))),
        }
    }
}

fn combos(items: &[Value], r: usize, start: usize, cur: &mut Vec<Value>, out: &mut Vec<Value>) {
    if cur.len() == r {
        out.push(Value::from(cur.clone()));
        return;
    }
    for i in start..items.len() {
        cur.push(items[i].clone());
        combos(items, r, i + 1, cur, out);
        cur.pop();
    }
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
pub fn column_value(name: &str, data_type: &str) -> Value {
    let dt = data_type.to_ascii_uppercase();
    let is_string = dt.contains("CHAR") || dt.contains("TEXT") || dt == "STRING";
    let is_number = ["INT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL"].iter().any(|t| dt.contains(t));
    Value::from_object(ColumnObj { name: name.to_string(), data_type: data_type.to_string(), is_string, is_number })
}

#[derive(Debug)]
struct ColumnObj {
    name: String,
    data_type: String,
    is_string: bool,
    is_number: bool,
}
impl Object for ColumnObj {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "name" | "column" => Value::from(self.name.as_str()),
            "quoted" => Value::from(super::relation::quote(&self.name)),
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
