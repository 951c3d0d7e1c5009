//! The Jinja language as dbt's templates use it, on top of minijinja, with no knowledge of
//! projects or databases: Python's mutable lists and dicts ([`mutable`]), date arithmetic
//! ([`arith`], [`datetime`]), `modules` and the JSON/YAML helpers ([`modules`]), block scanning
//! ([`blocks`]), and the rendering of config files' strings ([`render_config_strings`]).
//! The lowest templating layer: `project` renders dbt_project.yml and profiles.yml with it,
//! `templating` builds dbt's node context on it.

pub mod arith;
pub mod blocks;
pub mod datetime;
pub mod modules;
pub mod mutable;

use crate::diagnostics::Diagnostic;
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value as Json};

/// The keyword arguments of a call, when the value is the kwargs object.
pub fn as_kwargs(v: &Value) -> Option<Kwargs> {
    if v.is_kwargs() {
        Kwargs::try_from(v.clone()).ok()
    } else {
        None
    }
}

/// A YAML value as JSON (keys as strings, tags dropped).
pub fn yaml_to_json(v: &serde_yaml::Value) -> Json {
    use serde_yaml::Value as Yaml;
    match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64().map(Json::from).unwrap_or(Json::Null)
            }
        }
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(s) => Json::Array(s.iter().map(yaml_to_json).collect()),
        Yaml::Mapping(m) => Json::Object(m.iter().map(|(k, v)| (yaml_key_string(k), yaml_to_json(v))).collect()),
        Yaml::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// A YAML mapping key as a string (scalars formatted, other keys as YAML text).
pub fn yaml_key_string(k: &serde_yaml::Value) -> String {
    use serde_yaml::Value as Yaml;
    match k {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => "null".into(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// Render `{{ env_var() }}`, `{{ var() }}` (and `target`, when given) in every string of a config
/// file (dbt_project.yml or profiles.yml). Hooks stay unrendered in dbt_project.yml (they render
/// when used); `vars` render where they can.
pub fn render_config_strings(
    v: &mut serde_yaml::Value,
    cli_vars: &Map<String, Json>,
    target: Option<&Json>,
    is_project: bool,
) -> Result<(), Diagnostic> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_global("dbt_version", crate::DBT_VERSION);
    // dbt_project.yml (the root's and packages') sees the target, as in dbt.
    if let Some(t) = target {
        env.add_global("target", Value::from_serialize(t));
    }
    let vars = cli_vars.clone();
    env.add_function("env_var", |name: String, default: Option<Value>| -> Result<Value, Error> {
        match std::env::var(&name) {
            Ok(v) => Ok(Value::from(v)),
            Err(_) => default.ok_or_else(|| {
                Error::new(ErrorKind::InvalidOperation, format!("env var required but not provided: '{name}'"))
            }),
        }
    });
    env.add_function("var", move |name: String, default: Option<Value>| -> Result<Value, Error> {
        match vars.get(&name) {
            Some(v) => Ok(Value::from_serialize(v)),
            None => default.ok_or_else(|| {
                Error::new(ErrorKind::InvalidOperation, format!("required var '{name}' not found in --vars"))
            }),
        }
    });
    modules::install(&mut env);
    render_yaml_rec(&env, v, is_project)
}

const UNRENDERED_KEYS: &[&str] = &[
    "on-run-start",
    "on-run-end",
    "pre-hook",
    "post-hook",
    "+pre-hook",
    "+post-hook",
    "pre_hook",
    "post_hook",
    "+pre_hook",
    "+post_hook",
    "query-comment",
];

fn render_yaml_rec(env: &Environment, v: &mut serde_yaml::Value, is_project: bool) -> Result<(), Diagnostic> {
    match v {
        serde_yaml::Value::String(s) if s.contains("{{") || s.contains("{%") => {
            let out = env.render_str(s, ()).map_err(|e| {
                Diagnostic::error(
                    "E0402",
                    format!("cannot render `{s}`: {}", e.detail().unwrap_or(&e.kind().to_string())),
                )
            })?;
            // Rendered numbers and booleans become typed, as dbt's native rendering does.
            *v = match serde_yaml::from_str::<serde_yaml::Value>(&out) {
                Ok(x @ (serde_yaml::Value::Number(_) | serde_yaml::Value::Bool(_))) => x,
                _ => serde_yaml::Value::String(out),
            };
        }
        serde_yaml::Value::Sequence(items) => {
            for i in items {
                render_yaml_rec(env, i, is_project)?;
            }
        }
        serde_yaml::Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                if is_project && k.as_str().is_some_and(|k| UNRENDERED_KEYS.contains(&k)) {
                    continue;
                }
                if is_project && k.as_str() == Some("vars") {
                    // Vars render with the project's context (`target`, `env_var`); one that needs a
                    // node's context (`ref`, `this`) is kept as written.
                    let mut rendered = val.clone();
                    if render_yaml_rec(env, &mut rendered, false).is_ok() {
                        *val = rendered;
                    }
                    continue;
                }
                render_yaml_rec(env, val, is_project)?;
            }
        }
        _ => {}
    }
    Ok(())
}
