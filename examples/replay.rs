//! Baseline for the build and test benchmarks: DuckDB alone running the SQL a strata command
//! executed, in the order it executed it, in one connection; prints the seconds it took.
//!
//! `cargo run --release --example replay -- <project_dir> <db_file>` after a `strata build` (or
//! `strata test`) of the project with `--threads 1`. It reads target/run_results.json for what
//! ran and when, target/manifest.json for where each node's statements are (target/run/...),
//! and replays them ordered by start time. A staged build's file holds its statements, then,
//! after the line `-- strata: published from the staged relation`, those that published it:
//! they are replayed at the node's completion time, after its audit tests, as strata ran them.
//! REPLAY_PRELUDE names a SQL file run first (timed: the schemas strata creates and the
//! project's on-run-start hooks); REPLAY_KEEP_DB=1 replays into the database as it is (the
//! queries of `strata test`) instead of a fresh file. Opening the database (DuckDB's start-up,
//! which strata's run includes as well) and closing it (a checkpoint, as when strata exits) are
//! timed; reading the files is not.

use std::time::Instant;
use strata::run::PUBLISHED;

/// The allocator strata's binary has (src/main.rs): mimalloc, for Rust and, through its
/// override of malloc and free, for DuckDB's C++ as well.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn read_json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (project, db) = (&args[0], &args[1]);
    let manifest = read_json(&format!("{project}/target/manifest.json"));
    let results = read_json(&format!("{project}/target/run_results.json"));
    // (time, rank on ties: a publish, then a build, then a test), SQL
    let mut steps: Vec<(String, u8, String)> = vec![];
    for r in results["results"].as_array().expect("results") {
        let id = r["unique_id"].as_str().unwrap_or_default();
        let Some(node) = manifest["nodes"].get(id) else { continue };
        let timing = r["timing"].as_array().and_then(|t| t.iter().find(|t| t["name"] == "execute"));
        let (Some(start), Some(end)) =
            (timing.and_then(|t| t["started_at"].as_str()), timing.and_then(|t| t["completed_at"].as_str()))
        else {
            continue;
        };
        // A generic test's SQL sits below its property file: models/schema.yml/<alias>.sql.
        let file = node["original_file_path"].as_str().unwrap_or_default();
        let file = if file.ends_with(".yml") || file.ends_with(".yaml") {
            format!("{file}/{}.sql", node["alias"].as_str().unwrap_or_default())
        } else {
            file.to_string()
        };
        let pkg = node["package_name"].as_str().unwrap_or_default();
        let Ok(sql) = std::fs::read_to_string(format!("{project}/target/run/{pkg}/{file}")) else { continue };
        let is_test = node["resource_type"] == "test";
        match sql.split_once(PUBLISHED) {
            Some((built, published)) => {
                steps.push((start.to_string(), 1, built.to_string()));
                steps.push((end.to_string(), 0, published.to_string()));
            }
            None => steps.push((start.to_string(), if is_test { 2 } else { 1 }, sql)),
        }
    }
    steps.sort();
    if std::env::var_os("REPLAY_KEEP_DB").is_none() {
        let _ = std::fs::remove_file(db);
    }
    let prelude = std::env::var_os("REPLAY_PRELUDE").map(|p| std::fs::read_to_string(p).expect("prelude"));
    let t = Instant::now();
    replay(project, db, prelude.as_deref(), &steps);
    println!("{:.3}", t.elapsed().as_secs_f64());
    eprintln!("replayed {} steps", steps.len());
}

/// What is timed, and what bench/instructions.sh counts (callgrind's --toggle-collect names this
/// function): opening the database, the prelude, the steps, and closing it.
#[inline(never)]
fn replay(project: &str, db: &str, prelude: Option<&str>, steps: &[(String, u8, String)]) {
    // The ICU extension compiled into strata, known to DuckDB as strata makes it known.
    strata::adapter::duckdb::register_icu().expect("icu");
    let conn = duckdb::Connection::open(db).expect("open");
    conn.execute_batch(&format!("SET file_search_path = '{project}'")).expect("search path");
    if let Some(text) = prelude.filter(|t| !t.trim().is_empty()) {
        conn.execute_batch(text).expect("prelude");
    }
    for (_, _, sql) in steps {
        // A data test that finds failing rows raises an error, as in strata: it still ran.
        if let Err(e) = conn.execute_batch(sql) {
            if !e.to_string().contains("strata-test-result:") {
                panic!("statement failed: {e}\n{sql}");
            }
        }
    }
    // Closing checkpoints the file; strata's timing includes its close too.
    drop(conn);
}
