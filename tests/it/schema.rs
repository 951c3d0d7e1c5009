//! A JSON Schema validator for the keywords dbt's artifact schemas use (draft 2020-12: type,
//! enum, const, pattern, properties, required, additionalProperties, propertyNames, items,
//! prefixItems, minItems, maxItems, anyOf; `format` is an annotation, as 2020-12 has it). A schema
//! using any other constraint keyword is rejected rather than half-checked. Written here instead of depending on a validator crate: those pull in
//! URL/ICU crates whose proc-macros change the features of crates DuckDB's build depends on,
//! which made `cargo build` and `cargo test` compile DuckDB's C++ twice on a fresh machine.

use serde_json::Value as Json;

const ANNOTATIONS: &[&str] = &["title", "description", "default", "$schema", "$id", "examples", "format"];

/// Every place `doc` breaks `schema`, as `path: problem` lines.
pub fn validate(schema: &Json, doc: &Json) -> Vec<String> {
    let mut out = vec![];
    check(schema, doc, "$", &mut out);
    out
}

fn type_ok(t: &str, v: &Json) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn check(schema: &Json, v: &Json, path: &str, out: &mut Vec<String>) {
    let s = match schema {
        Json::Bool(true) => return,
        Json::Bool(false) => return out.push(format!("{path}: not allowed")),
        Json::Object(s) => s,
        _ => return out.push(format!("{path}: schema is not an object")),
    };
    for k in s.keys() {
        let known = [
            "type",
            "enum",
            "properties",
            "required",
            "additionalProperties",
            "propertyNames",
            "items",
            "prefixItems",
            "minItems",
            "maxItems",
            "anyOf",
            "const",
            "pattern",
        ];
        if !known.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()) {
            out.push(format!("{path}: the validator does not support keyword '{k}'"));
        }
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Json::String(t) => type_ok(t, v),
            Json::Array(ts) => ts.iter().filter_map(Json::as_str).any(|t| type_ok(t, v)),
            _ => false,
        };
        if !ok {
            out.push(format!("{path}: expected type {t}, got {v}"));
            return;
        }
    }
    if let Some(Json::Array(e)) = s.get("enum") {
        if !e.contains(v) {
            out.push(format!("{path}: {v} is not one of {}", Json::Array(e.clone())));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            out.push(format!("{path}: expected {c}, got {v}"));
        }
    }
    if let (Some(p), Some(text)) = (s.get("pattern").and_then(Json::as_str), v.as_str()) {
        match regex::Regex::new(p) {
            Ok(re) if re.is_match(text) => {}
            Ok(_) => out.push(format!("{path}: {text:?} does not match {p}")),
            Err(e) => out.push(format!("{path}: the schema's pattern {p} does not compile: {e}")),
        }
    }
    if let Some(Json::Array(any)) = s.get("anyOf") {
        let tries: Vec<Vec<String>> = any.iter().map(|sub| validate(sub, v)).collect();
        if !tries.iter().any(Vec::is_empty) {
            // Say why the closest alternative fails, so a mistake in one node is findable.
            let best = tries.iter().min_by_key(|t| t.len()).cloned().unwrap_or_default();
            let why: Vec<String> = best.iter().take(5).map(|e| e.replacen('$', path, 1)).collect();
            let shown = v.to_string();
            let shown = if shown.len() > 80 {
                format!("{}…", &shown[..shown.char_indices().nth(80).map(|(i, _)| i).unwrap_or(shown.len())])
            } else {
                shown
            };
            out.push(format!("{path}: {shown} matches none of anyOf; closest: {}", why.join("; ")));
        }
    }
    if let Json::Object(obj) = v {
        let props = s.get("properties").and_then(Json::as_object);
        for r in s.get("required").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str) {
            if !obj.contains_key(r) {
                out.push(format!("{path}: missing required '{r}'"));
            }
        }
        for (k, val) in obj {
            let sub = format!("{path}.{k}");
            if let Some(names) = s.get("propertyNames") {
                check(names, &Json::String(k.clone()), &sub, out);
            }
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(ps, val, &sub, out),
                None => {
                    if let Some(extra) = s.get("additionalProperties") {
                        check(extra, val, &sub, out);
                    }
                }
            }
        }
    }
    if let Json::Array(items) = v {
        let prefix = s.get("prefixItems").and_then(Json::as_array);
        for (i, item) in items.iter().enumerate() {
            let sub = format!("{path}[{i}]");
            match prefix.and_then(|p| p.get(i)) {
                Some(ps) => check(ps, item, &sub, out),
                None => {
                    if let Some(is) = s.get("items") {
                        check(is, item, &sub, out);
                    }
                }
            }
        }
        if let Some(n) = s.get("minItems").and_then(Json::as_u64) {
            if (items.len() as u64) < n {
                out.push(format!("{path}: fewer than {n} items"));
            }
        }
        if let Some(n) = s.get("maxItems").and_then(Json::as_u64) {
            if (items.len() as u64) > n {
                out.push(format!("{path}: more than {n} items"));
            }
        }
    }
}

/// dbt's schema for an artifact, from tests/schemas/.
pub fn dbt_schema(name: &str) -> Json {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_validator_rejects_what_the_run_results_schema_forbids() {
    let schema = dbt_schema("run-results-v6.json");
    assert!(validate(&schema, &serde_json::json!({})).iter().any(|e| e.contains("missing required 'metadata'")));
    let good = serde_json::json!({
        "metadata": {"dbt_schema_version": "x", "dbt_version": "x", "generated_at": "x", "invocation_id": null, "invocation_started_at": null, "env": {}},
        "results": [{
            "status": "pass", "timing": [], "thread_id": "Thread-1", "execution_time": 0.1,
            "adapter_response": {}, "message": null, "failures": 0, "unique_id": "test.p.t",
            "compiled": true, "compiled_code": "select 1", "relation_name": null, "batch_results": null
        }],
        "elapsed_time": 0.2,
        "args": {}
    });
    assert_eq!(validate(&schema, &good), Vec::<String>::new());
    let mut bad = good.clone();
    bad["results"][0]["status"] = serde_json::json!("passed");
    assert!(!validate(&schema, &bad).is_empty(), "an unknown status must be rejected");
    let mut bad = good.clone();
    bad["results"][0]["failures"] = serde_json::json!("none");
    assert!(!validate(&schema, &bad).is_empty(), "failures must be an integer or null");
    let mut bad = good;
    bad["results"][0].as_object_mut().unwrap().remove("thread_id");
    assert!(!validate(&schema, &bad).is_empty(), "a missing required field must be rejected");
    // A keyword the validator does not know is an error, not a silent pass.
    assert!(!validate(&serde_json::json!({"multipleOf": 2}), &serde_json::json!(3)).is_empty());
    // const and pattern are checked.
    assert!(!validate(&serde_json::json!({"const": "model"}), &serde_json::json!("seed")).is_empty());
    assert!(!validate(&serde_json::json!({"pattern": "^a"}), &serde_json::json!("ba")).is_empty());
    assert!(validate(&serde_json::json!({"pattern": "^a"}), &serde_json::json!("ab")).is_empty());
}
