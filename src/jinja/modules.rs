//! dbt's extra Jinja context: `modules` (datetime, re, itertools), `fromjson`/`tojson`/
//! `fromyaml`/`toyaml`, `zip`, `set`, `local_md5` and the `as_*` filters.

use minijinja::value::{Enumerator, Kwargs, Object, Rest, Value};
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
            Ok(v) => Ok(Value::from_serialize(super::yaml_to_json(&v))),
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
                Ok(y) => Value::from_serialize(super::yaml_to_json(&y)),
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
