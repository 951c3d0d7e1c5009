//! Running a python model (dbt-duckdb's contract: `def model(dbt, session)` returning a pandas or
//! polars DataFrame, a pyarrow Table or a DuckDB relation).
//!
//! strata's process holds the DuckDB file, so the model runs in a Python process of its own with
//! an in-memory DuckDB (`templates/python/runner.py`). The data path: strata exports the relations
//! the model reads (its refs and sources, and `this` when it is incremental) to parquet files in a
//! temporary folder, the runner shows them to the model under their real names, and writes the
//! model's result to another parquet file there, which strata then materializes like a SQL
//! model's `select * from read_parquet(...)` (table, incremental or external, with audits). Each
//! model has its own folder and process, so models run in parallel safely.
//! In: the node, a connection, the interpreter. Out: the SQL that reads the result, or a message
//! with the model's file and line.

use crate::adapter::duckdb::lit;
use crate::adapter::Connection;
use crate::parse::{Manifest, Node, ResourceType};
use crate::templating::relation::Relation;
use serde_json::{json, Value as Json};
use std::path::Path;
use std::process::Command;

const RUNNER: &str = include_str!("../../templates/python/runner.py");

/// A python model's result, ready to materialize. The folder lives as long as this value.
pub struct PyResult {
    /// `select * from read_parquet('<folder>/result.parquet')`.
    pub sql: String,
    _dir: tempfile::TempDir,
}

/// The interpreter: `STRATA_PYTHON` when set (resolved by the caller), else `python3` on PATH.
pub fn interpreter(env_value: Option<String>) -> String {
    env_value.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "python3".into())
}

/// Run `node`'s model() and stage its result. `this_exists`: the model is incremental and its
/// table is there, so `dbt.is_incremental` is true and `this` is readable.
pub fn run(
    manifest: &Manifest,
    node: &Node,
    conn: &dyn Connection,
    python: &str,
    module_paths: &[String],
    project_root: &Path,
    is_incremental: bool,
) -> Result<PyResult, String> {
    let dir = tempfile::Builder::new()
        .prefix("strata-py-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary folder for python model {}: {e}", node.name))?;
    let mut relations = vec![];
    let mut export = |rel: &Relation, read: &str| -> Result<(), String> {
        let path = dir.path().join(format!("input_{}.parquet", relations.len()));
        conn.execute(&format!("copy (select * from {read}) to {} (format parquet)", lit(&path.to_string_lossy())))
            .map_err(|e| format!("cannot hand {read} to python model {}: {e}", node.name))?;
        relations.push(json!({
            "database": rel.database, "schema": rel.schema, "identifier": rel.identifier,
            "path": path.to_string_lossy(),
        }));
        Ok(())
    };
    let named = |r: &Relation| Relation { external: None, kind: None, ..r.clone() };
    let mut refs = vec![];
    for r in &node.refs {
        let found = node.depends_on.iter().filter_map(|id| manifest.nodes.get(id)).find(|n| {
            n.name == r.name
                && r.package.as_ref().is_none_or(|p| p == &n.package_name)
                && matches!(n.resource_type, ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot)
        });
        let Some(parent) = found else { continue };
        if parent.materialized() == "ephemeral" {
            return Err(format!(
                "python model {} refs ephemeral model {}, which has no relation to read; materialize it as a view or table",
                node.name, parent.name
            ));
        }
        export(&parent.relation, &parent.relation.render())?;
        let key: Vec<&str> = match &r.package {
            Some(p) => vec![p.as_str(), r.name.as_str()],
            None => vec![r.name.as_str()],
        };
        refs.push(json!([key, named(&parent.relation).render()]));
    }
    let mut sources = vec![];
    for (s, t) in &node.sources {
        let found = manifest.sources.values().find(|x| &x.table.source_name == s && &x.table.name == t);
        let Some(src) = found else { continue };
        export(&named(&src.relation), &src.relation.render())?;
        sources.push(json!([[s, t], named(&src.relation).render()]));
    }
    if is_incremental {
        export(&node.relation, &node.relation.render())?;
    }
    let model_path = project_root.join(&node.original_file_path);
    let spec = json!({
        "name": node.name,
        "model_path": model_path.to_string_lossy(),
        "config": node.config.to_json(),
        "this": {"database": node.relation.database, "schema": node.relation.schema, "identifier": node.relation.identifier},
        "is_incremental": is_incremental,
        "relations": relations,
        "refs": refs,
        "sources": sources,
        "module_paths": module_paths,
        "output_path": dir.path().join("result.parquet").to_string_lossy(),
        "error_path": dir.path().join("error.json").to_string_lossy(),
    });
    let spec_path = dir.path().join("spec.json");
    let runner_path = dir.path().join("runner.py");
    std::fs::write(&spec_path, spec.to_string())
        .and_then(|_| std::fs::write(&runner_path, RUNNER))
        .map_err(|e| format!("cannot write the runner of python model {}: {e}", node.name))?;
    let out = Command::new(python).arg(&runner_path).arg(&spec_path).current_dir(project_root).output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "Python interpreter '{python}' not found, needed by python model {} ({})\n  install Python 3 with the duckdb package, or set STRATA_PYTHON to an interpreter that has it",
                node.name, node.original_file_path
            ))
        }
        Err(e) => return Err(format!("cannot start '{python}' for python model {}: {e}", node.name)),
    };
    if out.status.success() {
        let result = dir.path().join("result.parquet");
        return Ok(PyResult {
            sql: format!("select * from read_parquet({})", lit(&result.to_string_lossy())),
            _dir: dir,
        });
    }
    let error: Option<Json> =
        std::fs::read_to_string(dir.path().join("error.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    Err(match error {
        Some(e) => describe(node, &e),
        None => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
            format!(
                "Python error in model {} ({})\n  the interpreter '{python}' exited with {}\n  {}",
                node.name,
                node.original_file_path,
                out.status,
                tail.join("\n  ")
            )
        }
    })
}

/// The runner's error as a message: what went wrong, then each frame of the model's file with its
/// line and a caret (a syntax error's column, else the line's first character).
fn describe(node: &Node, e: &Json) -> String {
    let message = e.get("message").and_then(Json::as_str).unwrap_or("error");
    let mut out = format!("Python error in model {} ({})\n  {message}", node.name, node.original_file_path);
    let lines: Vec<&str> = node.raw_code.lines().collect();
    let mut show = |line: usize, col: Option<usize>| {
        let Some(text) = lines.get(line.wrapping_sub(1)) else { return };
        let indent = text.len() - text.trim_start().len();
        let col = col.map(|c| c.max(1) - 1).unwrap_or(indent);
        let width = line.to_string().len();
        out.push_str(&format!(
            "\n  --> {}:{line}:{}\n  {:width$} |\n  {line} | {text}\n  {:width$} | {}^",
            node.original_file_path,
            col + 1,
            "",
            "",
            " ".repeat(col)
        ));
    };
    if let Some(line) = e.get("line").and_then(Json::as_u64) {
        show(line as usize, e.get("col").and_then(Json::as_u64).map(|c| c as usize));
    }
    let frames = e.get("frames").and_then(Json::as_array).cloned().unwrap_or_default();
    // The last frames are where it failed; three are enough to follow it.
    for f in frames.iter().skip(frames.len().saturating_sub(3)) {
        if let Some(line) = f.get("line").and_then(Json::as_u64) {
            show(line as usize, None);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_point_at_the_model_file() {
        let mut node =
            Node::for_test("m.py", "def model(dbt, session):\n    x = 1 / 0\n    return x\n", Default::default());
        let msg = describe(
            &node,
            &json!({"kind": "exception", "message": "ZeroDivisionError: division by zero", "frames": [{"line": 2}]}),
        );
        assert_eq!(
            msg,
            "Python error in model m (models/m.py)\n  ZeroDivisionError: division by zero\n  --> models/m.py:2:5\n    |\n  2 |     x = 1 / 0\n    |     ^"
        );
        node.raw_code = "def model(dbt, session)\n    return 1\n".into();
        let msg =
            describe(&node, &json!({"kind": "syntax", "message": "SyntaxError: expected ':'", "line": 1, "col": 24}));
        assert!(
            msg.ends_with("--> models/m.py:1:24\n    |\n  1 | def model(dbt, session)\n    |                        ^"),
            "{msg}"
        );
    }
}
