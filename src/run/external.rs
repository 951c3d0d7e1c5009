//! dbt-duckdb's `external` materialization: the model's rows are written to files with DuckDB's
//! `COPY ... TO` (parquet, csv or json, at `location`, by default `{external_root}/{name}.{format}`,
//! with `options` as COPY options), and the relation becomes a view over those files, so `ref()`,
//! the catalog and the docs see it.
//!
//! Unlike dbt-duckdb, the files are written into a staging folder next to the location and moved
//! into place only when the whole write succeeded, so a failed build keeps the previous files and
//! view; missing parent folders are created.
//! In: the node's config and the target's `external_root`. Out: an [`ExternalPlan`] (checked
//! before anything runs: [`check`]) and the statements that publish a built table ([`publish`]).

use crate::adapter::duckdb::lit;
use crate::adapter::Connection;
use crate::diagnostics::{Diagnostic, Span};
use crate::parse::Node;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// The formats DuckDB writes and dbt-duckdb reads back.
pub const FORMATS: &[&str] = &["parquet", "csv", "json"];

/// Where and how an external model is written and read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalPlan {
    /// The location as configured (or defaulted), before it is resolved against the project.
    pub location: String,
    /// The location COPY writes to: absolute for local paths.
    pub path: String,
    /// `parquet`, `csv` or `json`.
    pub format: String,
    /// COPY's options, as dbt-duckdb renders them (`format parquet, compression zstd`).
    pub write_options: String,
    /// What the view reads: the path, or a glob over a partitioned or per-thread output.
    pub read_location: String,
    /// The reader's options (`union_by_name=False`, `auto_detect=True`...).
    pub read_options: Vec<(String, Json)>,
    /// Whether COPY writes a folder (partition_by or per_thread_output) rather than one file.
    pub folder: bool,
}

fn option_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Json::Array(items) => items.iter().map(option_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A located problem with an external model's configuration.
fn problem(node: &Node, key: &str, message: String, help: &str) -> Diagnostic {
    let code = &node.raw_code;
    let span = match code.find(&format!("{key}=")).or_else(|| code.find(&format!("{key} ="))) {
        Some(i) => Span::from_offsets(&node.original_file_path, code, i, i + key.len()),
        None => match (&node.patch_path, code.find("config(")) {
            (Some(p), None) => Span::file_only(p),
            (_, Some(i)) => Span::from_offsets(&node.original_file_path, code, i, i + 6),
            (None, None) => Span::file_only(&node.original_file_path),
        },
    };
    Diagnostic::error("E0705", message).with_span(span).with_help(help)
}

/// The plan of an external model, or a located diagnostic: an unknown `format`, a location whose
/// format cannot be inferred, or a dbt-duckdb plugin setting strata does not implement.
pub fn plan(node: &Node, external_root: &str, project_root: &Path) -> Result<ExternalPlan, Diagnostic> {
    let cfg = &node.config;
    for key in ["plugin", "glue_register"] {
        let set = match cfg.get(key) {
            Some(Json::Bool(b)) => *b,
            Some(Json::Null) | None => false,
            Some(_) => true,
        };
        if set {
            return Err(problem(
                node,
                key,
                format!("external model '{}': `{key}` is not supported by strata", node.name),
                "dbt-duckdb plugins (glue, sqlalchemy, ...) are Python code in dbt's process; remove the setting",
            ));
        }
    }
    let mut options: Vec<(String, Json)> = match cfg.get("options") {
        None | Some(Json::Null) => vec![],
        Some(Json::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => {
            return Err(problem(
                node,
                "options",
                format!("external model '{}': `options` must be a mapping", node.name),
                "write options={'partition_by': 'day', 'compression': 'zstd'}",
            ))
        }
    };
    let mut set_option = |k: &str, v: Json| match options.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v,
        None => options.push((k.to_string(), v)),
    };
    if let Some(f) = cfg.get_str("format") {
        set_option("format", Json::String(f));
    }
    if let Some(d) = cfg.get_str("delimiter") {
        set_option("delimiter", Json::String(d));
    }
    let get = |options: &[(String, Json)], k: &str| options.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let partitioned = get(&options, "partition_by").is_some_and(|v| !v.is_null());
    let location = match cfg.get_str("location") {
        Some(l) => l,
        None => {
            let root = external_root.trim_end_matches('/');
            let ident = node.relation.identifier.clone().unwrap_or_else(|| node.name.clone());
            if partitioned {
                format!("{root}/{ident}")
            } else {
                let format = cfg.get_str("format").unwrap_or_else(|| "parquet".into());
                format!("{root}/{ident}.{format}")
            }
        }
    };
    // The format: configured, or inferred from the location's extension as dbt-duckdb does
    // (added after the configured options, as dbt-duckdb's dict does).
    let mut inferred = false;
    let format = match get(&options, "format") {
        Some(f) => option_text(&f).to_ascii_lowercase(),
        None => {
            inferred = true;
            let (stem, ext) = split_ext(&location);
            let compression = match ext.to_ascii_lowercase().as_str() {
                "gz" => Some("gzip"),
                "zst" => Some("zstd"),
                _ => None,
            };
            let ext = if compression.is_some() { split_ext(stem).1 } else { ext }.to_ascii_lowercase();
            let format = if !ext.is_empty() {
                ext
            } else if get(&options, "delimiter").is_some() {
                "csv".into()
            } else {
                "parquet".into()
            };
            options.push(("format".into(), Json::String(format.clone())));
            if let (Some(c), false) = (compression, get(&options, "compression").is_some()) {
                options.push(("compression".into(), Json::String(c.into())));
            }
            format
        }
    };
    if !FORMATS.contains(&format.as_str()) {
        let (key, message) = if inferred {
            ("location", format!("external model '{}': cannot infer a format from location '{location}'", node.name))
        } else {
            ("format", format!("external model '{}': invalid format '{format}'", node.name))
        };
        return Err(problem(
            node,
            key,
            message,
            "set format to parquet, csv or json (or end the location with .parquet, .csv or .json)",
        ));
    }
    if format == "csv" && get(&options, "header").is_none() {
        options.push(("header".into(), Json::from(1)));
    }
    if let Some(Json::String(p)) = get(&options, "partition_by") {
        if p.contains(',') && !p.starts_with('(') {
            set_option_in(&mut options, "partition_by", Json::String(format!("({p})")));
        }
    }
    let write_options = options
        .iter()
        .map(|(k, v)| {
            let text = option_text(v);
            if matches!(k.to_ascii_lowercase().as_str(), "delimiter" | "quote" | "escape" | "null")
                && !text.starts_with('\'')
            {
                format!("{k} {}", lit(&text))
            } else {
                format!("{k} {text}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let per_thread = get(&options, "per_thread_output").is_some_and(|v| !matches!(v, Json::Bool(false) | Json::Null));
    let path = resolve(&location, project_root);
    let folder = partitioned || per_thread;
    let read_location = if folder {
        let mut globs = vec![path.clone(), "*".to_string()];
        if let Some(p) = get(&options, "partition_by") {
            let n = option_text(&p).split(',').count();
            globs.extend(std::iter::repeat_n("*".to_string(), n));
        }
        format!("{}.{format}", globs.join("/"))
    } else {
        path.clone()
    };
    let reader_key = format!("{format}_read_options");
    let mut read_options: Vec<(String, Json)> = match cfg.get(&reader_key) {
        Some(Json::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ if format == "parquet" => vec![("union_by_name".into(), Json::Bool(false))],
        _ => vec![("auto_detect".into(), Json::Bool(true))],
    };
    if format != "parquet" && !read_options.iter().any(|(k, _)| k == "compression") {
        if let Some(c) = get(&options, "compression") {
            read_options.push(("compression".into(), c));
        }
    }
    Ok(ExternalPlan { location, path, format, write_options, read_location, read_options, folder })
}

fn set_option_in(options: &mut [(String, Json)], k: &str, v: Json) {
    if let Some(slot) = options.iter_mut().find(|(key, _)| key == k) {
        slot.1 = v;
    }
}

/// `("data/x.csv", "gz")` for `data/x.csv.gz`; the extension is empty when the last path part has
/// no dot.
fn split_ext(location: &str) -> (&str, &str) {
    let name_start = location.rfind('/').map(|i| i + 1).unwrap_or(0);
    match location[name_start..].rfind('.') {
        Some(i) if i > 0 => (&location[..name_start + i], &location[name_start + i + 1..]),
        _ => (location, ""),
    }
}

/// Whether a location is a URL (`s3://...`) rather than a local path.
fn is_url(location: &str) -> bool {
    location.contains("://")
}

/// A local relative location resolves against the project folder (dbt runs from it).
fn resolve(location: &str, project_root: &Path) -> String {
    if is_url(location) || Path::new(location).is_absolute() || project_root.as_os_str().is_empty() {
        location.to_string()
    } else {
        project_root.join(location.trim_start_matches("./")).to_string_lossy().to_string()
    }
}

/// Check every external model of the plan before anything runs.
pub fn check(nodes: &[&Node], external_root: &str, project_root: &Path) -> Vec<Diagnostic> {
    nodes
        .iter()
        .filter(|n| n.materialized() == "external")
        .filter_map(|n| plan(n, external_root, project_root).err())
        .collect()
}

/// The SQL that reads the files back, as dbt-duckdb's view does (`where` filters the row of
/// NULLs written for an empty result).
fn read_sql(plan: &ExternalPlan, empty_filter: &[String]) -> String {
    let func = match plan.format.as_str() {
        "json" => "read_json",
        "csv" => "read_csv",
        _ => "read_parquet",
    };
    let mut sql = format!("select * from {func}({}", lit(&plan.read_location));
    for (k, v) in &plan.read_options {
        let val = match v {
            Json::String(s) => lit(s),
            other => option_text(other),
        };
        sql.push_str(&format!(", {k}={val}"));
    }
    sql.push(')');
    if !empty_filter.is_empty() {
        sql.push_str(" where 1");
        for c in empty_filter {
            sql.push_str(&format!(" AND {} is not NULL", crate::adapter::duckdb::quote_ident(c)));
        }
    }
    sql
}

/// Write the built table `from` to the plan's location and (re)define `view` over it; `existing`
/// is what is at `view` now (`table` or `view`). The files go to a staging folder first and are
/// moved into place only after COPY succeeded; the view is replaced inside a transaction. `from`
/// is dropped in the end. Returns the statements run.
pub fn publish(
    conn: &dyn Connection,
    plan: &ExternalPlan,
    from: &str,
    view: &str,
    existing: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut statements = vec![];
    let mut run = |sql: String| -> Result<(), String> {
        conn.execute(&sql).map_err(|e| e.to_string())?;
        statements.push(sql);
        Ok(())
    };
    // An empty result is written as one row of NULLs (so csv and json files keep their columns)
    // and filtered out by the view, as dbt-duckdb does.
    let count = conn.query(&format!("select count(*) as row_count from {from}"), None).map_err(|e| e.to_string())?;
    let empty = count.rows.first().and_then(|r| r.first()).and_then(Json::as_i64) == Some(0);
    let mut empty_filter = vec![];
    if empty {
        let cols = conn.query(&format!("select * from {from} limit 0"), None).map_err(|e| e.to_string())?.columns;
        run(format!("insert into {from} values ({})", vec!["NULL"; cols.len()].join(", ")))?;
        empty_filter = cols;
    }
    if is_url(&plan.path) {
        run(format!("copy {from} to {} ({})", lit(&plan.path), plan.write_options))?;
    } else {
        let target = PathBuf::from(&plan.path);
        let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
        let file_name = target.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        std::fs::create_dir_all(&parent).map_err(|e| format!("cannot create folder {}: {e}", parent.display()))?;
        let staging = parent.join(format!(".strata_tmp_{file_name}"));
        let _ = remove(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| format!("cannot write to {}: {e}", parent.display()))?;
        let staged = staging.join(&file_name);
        let copied = run(format!("copy {from} to {} ({})", lit(&staged.to_string_lossy()), plan.write_options));
        if let Err(e) = copied {
            let _ = remove(&staging);
            return Err(e);
        }
        // Move the new files into place; the old ones go only once the new ones are there.
        let old = parent.join(format!(".strata_old_{file_name}"));
        let _ = remove(&old);
        let had_old = target.exists();
        if had_old {
            std::fs::rename(&target, &old).map_err(|e| format!("cannot replace {}: {e}", target.display()))?;
        }
        if let Err(e) = std::fs::rename(&staged, &target) {
            if had_old {
                let _ = std::fs::rename(&old, &target);
            }
            let _ = remove(&staging);
            return Err(format!("cannot move the new files to {}: {e}", target.display()));
        }
        let _ = remove(&old);
        let _ = remove(&staging);
    }
    let mut define = String::from("begin transaction;\n");
    if existing == Some("table") {
        define.push_str(&format!("drop table if exists {view};\n"));
    }
    define.push_str(&format!("create or replace view {view} as (\n{}\n);\n", read_sql(plan, &empty_filter)));
    define.push_str(&format!("drop table if exists {from};\ncommit"));
    if let Err(e) = run(define) {
        conn.rollback();
        return Err(e);
    }
    Ok(statements)
}

fn remove(p: &Path) -> std::io::Result<()> {
    if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::config::Config;

    fn node(config: serde_json::Value) -> Node {
        let mut c = Config::default();
        for (k, v) in config.as_object().unwrap() {
            c.set(k, v.clone());
        }
        c.set("materialized", Json::String("external".into()));
        Node::for_test("orders.sql", "select 1", c)
    }

    #[test]
    fn defaults_and_inference_follow_dbt_duckdb() {
        let root = Path::new("/p");
        let p = plan(&node(serde_json::json!({})), "out", root).unwrap();
        assert_eq!((p.location.as_str(), p.path.as_str()), ("out/orders.parquet", "/p/out/orders.parquet"));
        assert_eq!(p.write_options, "format parquet");
        assert_eq!(read_sql(&p, &[]), "select * from read_parquet('/p/out/orders.parquet', union_by_name=False)");

        let p = plan(&node(serde_json::json!({"location": "x/o.csv.gz", "delimiter": "|"})), ".", root).unwrap();
        assert_eq!(p.format, "csv");
        assert_eq!(p.write_options, "delimiter '|', format csv, compression gzip, header 1");
        assert_eq!(
            read_sql(&p, &["id".into()]),
            "select * from read_csv('/p/x/o.csv.gz', auto_detect=True, compression='gzip') where 1 AND \"id\" is not NULL"
        );

        let p =
            plan(&node(serde_json::json!({"options": {"partition_by": "y, m", "codec": "zstd"}})), "/d", root).unwrap();
        assert!(p.folder);
        assert_eq!(p.location, "/d/orders");
        assert_eq!(p.read_location, "/d/orders/*/*/*.parquet");
        assert_eq!(p.write_options, "partition_by (y, m), codec zstd, format parquet");
        let p = plan(&node(serde_json::json!({"options": {"format": "csv", "per_thread_output": true}})), "o", root)
            .unwrap();
        assert_eq!((p.location.as_str(), p.read_location.as_str()), ("o/orders.parquet", "/p/o/orders.parquet/*.csv"));
    }

    #[test]
    fn bad_formats_are_located_errors() {
        let e = plan(&node(serde_json::json!({"location": "out/orders.txt"})), ".", Path::new("/p")).unwrap_err();
        assert_eq!(e.code, "E0705");
        assert!(e.message.contains("cannot infer a format from location 'out/orders.txt'"), "{}", e.message);
        let e = plan(&node(serde_json::json!({"format": "xlsx"})), ".", Path::new("/p")).unwrap_err();
        assert!(e.message.contains("invalid format 'xlsx'"), "{}", e.message);
        let e = plan(&node(serde_json::json!({"glue_register": true})), ".", Path::new("/p")).unwrap_err();
        assert!(e.message.contains("`glue_register` is not supported"), "{}", e.message);
    }
}
