//! Baseline for the build benchmark: run the SQL strata executed (target/run/...) in one DuckDB
//! connection, in dependency order, close it (which checkpoints the file), and print the seconds
//! it took.
//! `cargo run --profile perf --example replay -- <project_dir> <ls.json> <db_file>` where ls.json
//! is `strata ls --output json --resource-type model seed` (or `--resource-type test` to replay
//! the queries of `strata test`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (project, listing, db) = (&args[0], &args[1], &args[2]);
    let mut nodes: BTreeMap<String, (String, String, Vec<String>)> = BTreeMap::new();
    for line in std::fs::read_to_string(listing).expect("listing").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let deps = v["depends_on"]["nodes"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        // A generic test's SQL sits below its property file: models/schema.yml/<alias>.sql.
        let file = v["original_file_path"].as_str().unwrap_or_default().to_string();
        let file = if file.ends_with(".yml") || file.ends_with(".yaml") {
            format!("{file}/{}.sql", v["alias"].as_str().unwrap_or_default())
        } else {
            file
        };
        nodes.insert(
            v["unique_id"].as_str().unwrap_or_default().to_string(),
            (v["package_name"].as_str().unwrap_or_default().to_string(), file, deps),
        );
    }
    // Dependency order (Kahn), ties by id, as strata schedules one thread.
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = vec![];
    while order.len() < nodes.len() {
        let next = nodes
            .iter()
            .find(|(id, (_, _, deps))| {
                !done.contains(*id) && deps.iter().all(|d| done.contains(d) || !nodes.contains_key(d))
            })
            .map(|(id, _)| id.clone())
            .expect("acyclic");
        done.insert(next.clone());
        order.push(next);
    }
    let sql: Vec<String> = order
        .iter()
        .filter_map(|id| {
            let (pkg, path, _) = &nodes[id];
            std::fs::read_to_string(format!("{project}/target/run/{pkg}/{path}")).ok()
        })
        .collect();
    // Replaying tests reads the database as `strata test` left it; replaying a build starts afresh.
    if std::env::var_os("REPLAY_KEEP_DB").is_none() {
        let _ = std::fs::remove_file(db);
    }
    let conn = duckdb::Connection::open(db).expect("open");
    conn.execute_batch(&format!("SET file_search_path = '{project}'")).expect("search path");
    let t = Instant::now();
    for s in &sql {
        conn.execute_batch(s).expect("statement");
    }
    // Closing checkpoints the file; strata's timing includes its close too.
    drop(conn);
    println!("{:.3}", t.elapsed().as_secs_f64());
    eprintln!("replayed {} nodes", sql.len());
}
