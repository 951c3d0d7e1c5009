//! Generic test declarations (`data_tests:` / `tests:` entries in property YAML) turned into test
//! nodes with the names and unique ids dbt gives them, so `--select` by test name, and tools
//! reading run_results.json, see the same ids as with dbt.
//! In: a [`TestDecl`] and what it is attached to. Out: a [`GenericTest`] or a located problem.

use crate::project::config::Config;
use crate::project::properties::TestDecl;
use crate::project::yaml::YPath;
use serde_json::{Map, Value as Json};

/// Keys of a test entry that are configs, not arguments of the test macro.
pub const TEST_CONFIG_KEYS: &[&str] = &[
    "severity",
    "tags",
    "enabled",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "meta",
    "database",
    "schema",
    "alias",
];

/// A generic test entry, understood.
#[derive(Debug, Clone, PartialEq)]
pub struct GenericTest {
    /// The test macro's name without `test_` (`not_null`).
    pub test_name: String,
    /// Package namespace (`dbt_utils` in `dbt_utils.expression_is_true`).
    pub namespace: Option<String>,
    /// Node name (`not_null_orders_id`, or the entry's `name:`).
    pub name: String,
    /// Name of the relation and compiled file: the name, shortened with a hash past 63 chars.
    pub short_name: String,
    /// Arguments passed to the macro, as written (without `model`).
    pub args: Map<String, Json>,
    /// Config from the entry (inline keys and `config:`).
    pub config: Config,
    /// `description:` of the entry.
    pub description: String,
    /// Where the test name is written (for diagnostics).
    pub name_path: YPath,
}

/// What a generic test entry is attached to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A model, seed or snapshot: its name.
    Node(&'a str),
    /// One version of a versioned model: (name, version).
    Version(&'a str, &'a str),
    /// A source table: (source, table).
    Source(&'a str, &'a str),
}

/// A problem with a test entry: message, where, help.
pub type Problem = (String, YPath, Option<String>);

/// Understand one entry: `unique`, `{accepted_values: {values: [...], config: {...}}}`,
/// `{relationships: {arguments: {to: ..., field: ...}}}`.
pub fn interpret(decl: &TestDecl, target: Target, column: Option<&str>) -> Result<GenericTest, Problem> {
    // The entry's keys, read in place (`test_name` is the name, not a key of the body).
    let empty = Map::new();
    let (full_test, body, name_path, named) = match &decl.value {
        Json::String(s) => (s.clone(), &empty, decl.ypath.clone(), false),
        Json::Object(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one key");
            let body = match v {
                Json::Object(b) => b,
                Json::Null => &empty,
                _ => {
                    return Err((
                        format!("the arguments of test '{k}' must be a mapping"),
                        decl.ypath.key(k),
                        Some(format!("write `{k}:` followed by indented `key: value` lines")),
                    ))
                }
            };
            (k.clone(), body, decl.ypath.key(k), false)
        }
        Json::Object(m) if m.contains_key("test_name") => {
            let name = m.get("test_name").and_then(Json::as_str).unwrap_or_default().to_string();
            (name, m, decl.ypath.key("test_name"), true)
        }
        _ => {
            return Err((
                "a test must be a name (`- unique`) or a mapping with one key (`- accepted_values: {...}`)".into(),
                decl.ypath.clone(),
                None,
            ))
        }
    };
    let (namespace, test_name) = match full_test.rsplit_once('.') {
        Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
        None => (None, full_test.clone()),
    };
    let mut args = Map::new();
    let mut config = Config::default();
    let mut custom_name = None;
    let mut description = String::new();
    for (k, v) in body.iter().filter(|(k, _)| !named || k.as_str() != "test_name") {
        match k.as_str() {
            "config" => {
                if let Json::Object(c) = v {
                    for (ck, cv) in c {
                        config.set(ck, cv.clone());
                    }
                }
            }
            "arguments" => {
                if let Json::Object(a) = v {
                    args.extend(a.clone());
                }
            }
            "name" => custom_name = v.as_str().map(str::to_string),
            "description" => description = v.as_str().unwrap_or_default().to_string(),
            "column_name" => {
                args.insert(k.clone(), v.clone());
            }
            key if TEST_CONFIG_KEYS.contains(&key) => config.set(key, v.clone()),
            _ => {
                args.insert(k.clone(), v.clone());
            }
        }
    }
    // `config:` wins over inline config keys.
    if let Some(Json::Object(c)) = body.get("config") {
        for (ck, cv) in c {
            config.set(ck, cv.clone());
        }
    }
    if let Some(c) = column {
        args.insert("column_name".into(), Json::String(c.to_string()));
    }
    let (prefix, target_name) = match target {
        Target::Node(n) => (String::new(), n.to_string()),
        Target::Version(n, v) => (String::new(), format!("{n}_v{v}")),
        Target::Source(s, t) => ("source_".to_string(), format!("{s}_{t}")),
    };
    let test_type = match &namespace {
        Some(ns) => format!("{ns}_{prefix}{test_name}"),
        None => format!("{prefix}{test_name}"),
    };
    let (short, full) = synthesize_names(&test_type, &target_name, &args);
    let (name, short_name) = match custom_name {
        Some(n) => (n.clone(), n),
        None => (full, short),
    };
    Ok(GenericTest { test_name, namespace, name, short_name, args, config, description, name_path })
}

/// dbt's test names: `<type>_<target>_<arg values joined by __>`; past 63 characters the short
/// name is the first 30 characters of `<type>_<target>` and an md5 of the full name.
pub fn synthesize_names(test_type: &str, target_name: &str, args: &Map<String, Json>) -> (String, String) {
    let mut keys: Vec<&String> = args.keys().filter(|k| k.as_str() != "model").collect();
    keys.sort();
    let mut flat: Vec<String> = vec![];
    for k in keys {
        match &args[k] {
            Json::Object(m) => flat.extend(m.values().map(py_str)),
            Json::Array(a) => flat.extend(a.iter().map(py_str)),
            other => flat.push(py_str(other)),
        }
    }
    let clean: Vec<String> = flat.iter().map(|a| clean_arg(a)).collect();
    let identifier = format!("{test_type}_{target_name}");
    let full = format!("{identifier}_{}", clean.join("__"));
    if full.len() >= 64 {
        let trunc: String = identifier.chars().take(30).collect();
        (format!("{trunc}_{}", md5_hex(&full)), full)
    } else {
        (full.clone(), full)
    }
}

fn md5_hex(s: &str) -> String {
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(s.as_bytes()))
}

fn clean_arg(s: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// Python's `str()` of a YAML value, as dbt formats test arguments.
pub fn py_str(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a value (strings quoted as Python quotes them).
pub fn py_repr(v: &Json) -> String {
    match v {
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or_default();
                if f.fract() == 0.0 && f.abs() < 1e16 {
                    format!("{f:.1}")
                } else {
                    format!("{f}")
                }
            } else {
                n.to_string()
            }
        }
        Json::String(s) => py_quote(s),
        Json::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{}: {}", py_quote(k), py_repr(v))).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn py_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    py_quote_into(&mut out, s);
    out
}

/// [`py_quote`], appended to `out`.
fn py_quote_into(out: &mut String, s: &str) {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.reserve(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(q);
}

/// The unique id's hash: the last 10 hex digits of md5(name + repr(metadata)), where metadata's
/// leaves are all strings and its keys sorted, as dbt computes it.
pub fn unique_id_hash(name: &str, test_name: &str, namespace: Option<&str>, kwargs: &Map<String, Json>) -> String {
    /// repr() of dbt's hashable form of a value: every leaf as its str(), keys sorted.
    fn value(out: &mut String, v: &Json) {
        match v {
            Json::Object(m) => map(out, m),
            Json::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    value(out, v);
                }
                out.push(']');
            }
            Json::String(s) => py_quote_into(out, s),
            other => py_quote_into(out, &py_repr(other)),
        }
    }
    fn map(out: &mut String, m: &Map<String, Json>) {
        let mut entries: Vec<(&String, &Json)> = m.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.push('{');
        for (i, (k, v)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            py_quote_into(out, k);
            out.push_str(": ");
            value(out, v);
        }
        out.push('}');
    }
    // {'kwargs': ..., 'name': ..., 'namespace': ...} written straight into the hashed text; a
    // test without a namespace has str(None) there.
    let mut text = String::with_capacity(name.len() + 256);
    text.push_str(name);
    text.push_str("{'kwargs': ");
    map(&mut text, kwargs);
    text.push_str(", 'name': ");
    py_quote_into(&mut text, test_name);
    text.push_str(", 'namespace': ");
    py_quote_into(&mut text, namespace.unwrap_or("None"));
    text.push('}');
    let hex = md5_hex(&text);
    hex[hex.len() - 10..].to_string()
}

/// The `model` argument as dbt writes it in test metadata.
pub fn model_arg(target: Target) -> String {
    match target {
        Target::Node(n) => format!("{{{{ get_where_subquery(ref('{n}')) }}}}"),
        Target::Version(n, v) => format!("{{{{ get_where_subquery(ref('{n}', version='{v}')) }}}}"),
        Target::Source(s, t) => format!("{{{{ get_where_subquery(source('{s}', '{t}')) }}}}"),
    }
}

/// Whether an argument string is a bare call that dbt renders as Jinja (`ref('x')`).
pub fn looks_like_call(s: &str) -> bool {
    let t = s.trim();
    ["env_var", "ref", "var", "source", "doc"].iter().any(|f| {
        t.strip_prefix(f).map(str::trim_start).is_some_and(|r| r.starts_with('(') && r.ends_with(')') && r.len() > 2)
    })
}

/// A JSON value as a Jinja expression (strings that are calls stay calls).
pub fn jinja_literal(v: &Json, top: bool) -> String {
    match v {
        Json::Null => "none".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) if top && looks_like_call(s) => s.trim().to_string(),
        Json::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Json::Array(a) => format!("[{}]", a.iter().map(|x| jinja_literal(x, false)).collect::<Vec<_>>().join(", ")),
        Json::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", serde_json::to_string(k).unwrap_or_default(), jinja_literal(v, false)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The Jinja that runs the test: `{{ test_not_null(model=get_where_subquery(ref('orders')), column_name="id") }}`.
pub fn raw_code(t: &GenericTest, args: &Map<String, Json>, target: Target) -> String {
    use std::fmt::Write;
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = String::with_capacity(128);
    out.push_str("{{ ");
    if let Some(ns) = &t.namespace {
        out.push_str(ns);
        out.push('.');
    }
    let _ = write!(out, "test_{}(model=", t.test_name);
    let _ = match target {
        Target::Node(n) => write!(out, "get_where_subquery(ref({}))", q(n)),
        Target::Version(n, v) => write!(out, "get_where_subquery(ref({}, version={}))", q(n), q(v)),
        Target::Source(s, tb) => write!(out, "get_where_subquery(source({}, {}))", q(s), q(tb)),
    };
    // The arguments in the order written (`model` is the target's, above).
    for (k, v) in args.iter().filter(|(k, _)| k.as_str() != "model") {
        let _ = write!(out, ", {k}={}", jinja_literal(v, true));
    }
    out.push_str(") }}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decl(v: Json) -> TestDecl {
        TestDecl { value: v, ypath: YPath::default() }
    }

    #[test]
    fn names_and_ids_match_dbt() {
        // Names and ids as dbt-core 1.10 generated them for tests/fixtures/data_tests.
        let t = interpret(&decl(json!("not_null")), Target::Node("stg_customers"), Some("customer_id")).unwrap();
        assert_eq!(t.name, "not_null_stg_customers_customer_id");
        let mut kw = t.args.clone();
        kw.insert("model".into(), json!(model_arg(Target::Node("stg_customers"))));
        assert_eq!(unique_id_hash(&t.name, &t.test_name, None, &kw), "e2cfb1f9aa");

        let av = json!({"accepted_values": {"values": [0, 20, 30, 40, 80], "quote": false, "limit": 1}});
        let t = interpret(&decl(av), Target::Node("customer_totals"), Some("total")).unwrap();
        assert_eq!(t.name, "accepted_values_customer_totals_total__False__0__20__30__40__80");
        assert_eq!(t.config.get("limit"), Some(&json!(1)));
        let mut kw = t.args.clone();
        kw.insert("model".into(), json!(model_arg(Target::Node("customer_totals"))));
        assert_eq!(unique_id_hash(&t.name, &t.test_name, None, &kw), "79b3ec7738");

        let rel = json!({"relationships": {"arguments": {"to": "ref('stg_customers')", "field": "customer_id"}}});
        let t = interpret(&decl(rel), Target::Node("stg_orders"), Some("customer_id")).unwrap();
        assert_eq!(t.name, "relationships_stg_orders_customer_id__customer_id__ref_stg_customers_");
        assert_eq!(t.short_name, "relationships_stg_orders_96411fe0c89b49c3f4da955dfd358ba0");

        let src = interpret(&decl(json!("unique")), Target::Source("ext", "people"), Some("id")).unwrap();
        assert_eq!(src.name, "source_unique_ext_people_id");

        let named = json!({"accepted_values": {"name": "order_status_is_known", "values": ["a"], "tags": ["s"]}});
        let t = interpret(&decl(named), Target::Node("stg_orders"), Some("status")).unwrap();
        assert_eq!((t.name.as_str(), t.config.tags()), ("order_status_is_known", vec!["s".to_string()]));
        assert!(!t.args.contains_key("tags"));
    }

    #[test]
    fn the_hash_is_of_the_repr_of_the_hashable_metadata() {
        // dbt's definition, built as values: every leaf as its str(), keys sorted, then repr().
        fn hashable(v: &Json) -> Json {
            match v {
                Json::Object(m) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    Json::Object(keys.into_iter().map(|k| (k.clone(), hashable(&m[k]))).collect())
                }
                Json::Array(a) => Json::Array(a.iter().map(hashable).collect()),
                other => Json::String(py_str(other)),
            }
        }
        let kwargs = json!({
            "model": "{{ get_where_subquery(ref('orders')) }}",
            "column_name": "it's",
            "values": [1, 2.5, true, null, "a\"b", {"z": 1, "a": [false]}],
            "quote": false,
            "where": "x = 'y'\n",
        });
        let kwargs = kwargs.as_object().unwrap();
        for namespace in [None, Some("dbt_utils")] {
            let md = json!({"kwargs": kwargs, "name": "accepted_values", "namespace": namespace});
            let hex = md5_hex(&format!("t_name{}", py_repr(&hashable(&md))));
            assert_eq!(unique_id_hash("t_name", "accepted_values", namespace, kwargs), hex[hex.len() - 10..]);
        }
    }

    #[test]
    fn python_repr_quoting() {
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
        assert_eq!(py_repr(&json!("a'b\"c")), "'a\\'b\"c'");
        assert_eq!(py_repr(&json!(2.0)), "2.0");
        assert!(looks_like_call(" ref('x') "));
        assert!(!looks_like_call("reference"));
    }
}
