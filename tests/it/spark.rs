//! The Spark engine. Parse-time checks and an unreachable endpoint need no cluster; the rest runs
//! against a local standalone cluster (a master, two workers and a Spark Connect server) that
//! the test starts with scripts/spark-local.sh on free ports in a temp folder, and stops.
//! It needs Java 17 and pyspark (scripts/test installs them when missing).

use crate::util::TestProject;
use serde_json::Value as Json;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use strata::adapter::Connection;

/// A port nothing listens on now (the OS's pick of a free one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A local cluster, stopped when dropped.
struct Cluster {
    /// The cluster's state folder, removed after `stop` (fields drop after `Drop::drop`).
    _state: tempfile::TempDir,
    env: Vec<(String, String)>,
    connect_port: u16,
    /// The Connect server's application UI (its REST API).
    app_ui_port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let state = tempfile::tempdir().unwrap();
        // The master's UI takes port P, the workers' P+1 and P+2, the application's P+10.
        let ui = (0..50)
            .map(|_| free_port())
            .find(|p| {
                *p < 65000 && [1, 2, 10].iter().all(|d| std::net::TcpListener::bind(("127.0.0.1", p + d)).is_ok())
            })
            .expect("free ports");
        let connect_port = free_port();
        let env = vec![
            ("STRATA_SPARK_DIR".to_string(), state.path().to_string_lossy().to_string()),
            ("STRATA_SPARK_PORT".to_string(), connect_port.to_string()),
            ("STRATA_SPARK_MASTER_PORT".to_string(), free_port().to_string()),
            ("STRATA_SPARK_UI_PORT".to_string(), ui.to_string()),
        ];
        let cluster = Cluster { _state: state, env, connect_port, app_ui_port: ui + 10 };
        let out = cluster.script("start");
        assert!(
            out.status.success(),
            "scripts/spark-local.sh start failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("sc://127.0.0.1:{connect_port}")));
        cluster
    }

    fn script(&self, cmd: &str) -> std::process::Output {
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/spark-local.sh"))
            .arg(cmd)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run scripts/spark-local.sh")
    }

    fn env(&self, schema: &str) -> Vec<(String, String)> {
        let mut env = vec![("STRATA_SPARK_PORT".to_string(), self.connect_port.to_string())];
        env.push(("STRATA_SPARK_SCHEMA".into(), schema.into()));
        env
    }

    /// A connection through strata's own Spark engine.
    fn connect(&self) -> Arc<dyn Connection> {
        connect(
            "spark",
            serde_json::json!({"type": "spark", "host": "127.0.0.1", "port": self.connect_port, "schema": "default"}),
        )
    }

    /// GET a path of the Connect server application's REST API.
    fn rest(&self, path: &str) -> Json {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.app_ui_port)).expect("REST API");
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = self.script("stop");
        if !out.status.success() {
            eprintln!("scripts/spark-local.sh stop: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

struct NoSpans;
impl strata::adapter::Locate for NoSpans {
    fn key(&self, _: &str) -> strata::diagnostics::Span {
        strata::diagnostics::Span::file_only("profiles.yml")
    }
    fn item(&self, _: &str, _: usize) -> strata::diagnostics::Span {
        strata::diagnostics::Span::file_only("profiles.yml")
    }
}

/// A relation's rows as sorted lines, numbers rounded to 6 decimals (DuckDB's doubles and
/// Spark's decimals of the same value print alike).
fn rows_of(conn: &dyn Connection, relation: &str) -> (Vec<String>, Vec<String>) {
    let t = conn.query(&format!("select * from {relation}"), None).unwrap_or_else(|e| panic!("{relation}: {e}"));
    let cell = |v: &Json| match v {
        Json::Number(n) => {
            let f = n.as_f64().unwrap();
            if f.fract() == 0.0 {
                format!("{}", f as i64)
            } else {
                format!("{f:.6}")
            }
        }
        Json::Null => "NULL".into(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rows: Vec<String> = t.rows.iter().map(|r| r.iter().map(cell).collect::<Vec<_>>().join(" | ")).collect();
    rows.sort();
    (t.columns.iter().map(|c| c.to_lowercase()).collect(), rows)
}

/// unique id → relation name of every node a run built (run_results.json).
fn built(p: &TestProject) -> std::collections::BTreeMap<String, String> {
    let rr: Json = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| Some((r["unique_id"].as_str()?.to_string(), r["relation_name"].as_str()?.to_string())))
        .filter(|(id, _)| id.starts_with("model.") || id.starts_with("seed."))
        .collect()
}

fn statuses(p: &TestProject) -> Vec<(String, String)> {
    let rr: Json = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["unique_id"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect()
}

fn envs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn spark_engine_on_a_local_cluster() {
    let cluster = Cluster::start();
    let conn = cluster.connect();
    example_project_has_the_rows_of_its_duckdb_build(&cluster, conn.as_ref());
    materializations(&cluster);
    analysis_flags_duckdb_functions(&cluster);
    // Both workers ran tasks for the Connect server's application.
    let apps = cluster.rest("/api/v1/applications");
    let app = apps[0]["id"].as_str().expect("application id");
    let executors = cluster.rest(&format!("/api/v1/applications/{app}/allexecutors"));
    let busy: Vec<&Json> = executors
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] != "driver" && e["totalTasks"].as_i64().unwrap_or(0) > 0)
        .collect();
    assert_eq!(busy.len(), 2, "executors with tasks: {executors:#}");
}

fn example_project_has_the_rows_of_its_duckdb_build(cluster: &Cluster, conn: &dyn Connection) {
    let p = TestProject::from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"), "example_project");
    let duck = p.run(&["build"]);
    assert_eq!(duck.code, 0, "{}", duck.stderr);
    let duck_built = built(&p);
    let env = cluster.env("shop");
    let spark = p.run_env(&["build", "--target", "spark"], &envs(&env));
    assert_eq!(spark.code, 0, "{}", spark.stderr);
    assert!(spark.stderr.contains("Completed successfully"), "{}", spark.stderr);
    // Every node passed; the python and external models are DuckDB's and disabled on Spark.
    let results = statuses(&p);
    assert!(results.iter().all(|(_, s)| s == "success" || s == "pass"), "{results:?}");
    let spark_built = built(&p);
    let mut expected: Vec<&String> = duck_built.keys().collect();
    expected.retain(|id| !id.ends_with("customer_segments") && !id.ends_with("revenue_export"));
    assert_eq!(spark_built.keys().collect::<Vec<_>>(), expected);
    assert_eq!(spark_built["model.shop.fct_orders"], "`shop`.`fct_orders`");
    assert_eq!(spark_built["seed.shop.raw_orders"], "`shop_raw`.`raw_orders`");

    // The same rows in every relation, the web source and the post-hook's view included.
    let db = p.root.join("target/shop.duckdb");
    let duck_conn =
        connect("duckdb", serde_json::json!({"type": "duckdb", "path": db.to_string_lossy(), "schema": "main"}));
    let mut pairs: Vec<(String, String)> =
        spark_built.iter().map(|(id, rel)| (duck_built[id].clone(), rel.clone())).collect();
    pairs.push(("\"shop\".\"web\".\"sessions\"".into(), "`web`.`sessions`".into()));
    pairs.push(("\"shop\".\"main\".\"latest_revenue_day\"".into(), "`shop`.`latest_revenue_day`".into()));
    for (d, s) in &pairs {
        let (dc, dr) = rows_of(duck_conn.as_ref(), d);
        let (sc, sr) = rows_of(conn, s);
        assert_eq!(dc, sc, "columns of {d} and {s}");
        assert!(!dr.is_empty(), "{d} is empty");
        assert_eq!(dr, sr, "rows of {d} and {s}");
    }
}

/// A connection through one of strata's engines to the target a profile output describes.
fn connect(engine: &str, raw: Json) -> Arc<dyn Connection> {
    let engine = strata::adapter::engine(engine).unwrap();
    let raw = raw.as_object().unwrap().clone();
    let (engine_target, database) = (engine.read_target)(&raw, Path::new("."), &NoSpans).expect("target");
    let target = strata::adapter::Target {
        profile_name: "t".into(),
        name: "t".into(),
        adapter_type: engine.dialect.name.into(),
        schema: raw["schema"].as_str().unwrap_or_default().into(),
        database,
        threads: 1,
        raw,
        profiles_file: Default::default(),
        project_root: Default::default(),
        engine: engine_target,
    };
    (engine.open)(&target).expect("open").connect().expect("connect")
}

/// Rows of a query, each a line, in a new Spark session: a session keeps the file listing of a
/// table it has read, and does not see what another session (strata's) wrote to it since.
fn q(cluster: &Cluster, sql: &str) -> Vec<String> {
    let t = cluster.connect().query(sql, None).unwrap_or_else(|e| panic!("{sql}: {e}"));
    t.rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Json::String(s) => s.clone(),
                    Json::Null => "NULL".into(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

fn materializations(cluster: &Cluster) {
    let p = TestProject::fixture("spark");
    let env = cluster.env("sparky");
    let location = p.root.join("files");
    let vars = format!("{{location_root: '{}'}}", location.to_string_lossy());
    let first = p.run_env(&["build", "--vars", &vars], &envs(&env));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let s = |id: &str| statuses(&p).into_iter().find(|(u, _)| u.starts_with(id)).map(|(_, s)| s);
    assert_eq!(s("unit_test.sparky.v_codes.labels_are_upper_cased").as_deref(), Some("pass"));
    assert_eq!(s("test.sparky.not_null_t_events_name").as_deref(), Some("pass"));

    // Seed: typed columns, every row, the quote in a value intact.
    let cols = q(cluster, "describe table sparky_raw.codes");
    assert_eq!(
        cols[..5],
        [
            "code | string | NULL",
            "label | string | NULL",
            "amount | double | NULL",
            "day | date | NULL",
            "active | boolean | NULL"
        ]
    );
    assert_eq!(
        q(cluster, "select code, label, amount, day, active from sparky_raw.codes order by code"),
        [
            "007 | first | 1.5 | 2024-01-02 | true",
            "010 | second | NULL | 2024-01-03 | false",
            "011 | it's third | 2.0 | 2024-01-04 | true"
        ]
    );
    // A view; tables with partitions, buckets and a location.
    let kinds = q(cluster, "show views in sparky");
    assert!(kinds.iter().any(|r| r.contains("v_codes")), "{kinds:?}");
    let ddl = q(cluster, "show create table sparky.t_events").join("\n");
    assert!(ddl.contains("USING parquet") && ddl.contains("PARTITIONED BY (day)"), "{ddl}");
    let ddl = q(cluster, "show create table sparky.t_bucketed").join("\n");
    assert!(ddl.contains("CLUSTERED BY (id)") && ddl.contains("INTO 2 BUCKETS"), "{ddl}");
    let ddl = q(cluster, "show create table sparky.t_located").join("\n");
    assert!(ddl.contains(&format!("{}/t_located", location.to_string_lossy())), "{ddl}");
    assert_eq!(q(cluster, "select count(*) from sparky.t_located"), ["3"]);
    // Hooks: the pre-hook made the log, the post-hook wrote the built table's count.
    assert_eq!(q(cluster, "select model, row_count from sparky.hook_log"), ["t_events | 6"]);
    // Incremental models, first build.
    assert_eq!(q(cluster, "select id, batch from sparky.inc_append order by id"), ["0 | b1", "1 | b1", "2 | b1"]);
    assert_eq!(
        q(cluster, "select id, version, day from sparky.inc_overwrite order by id"),
        ["0 | v1 | 0", "1 | v1 | 1", "2 | v1 | 0", "3 | v1 | 1"]
    );

    // Second build: append adds the new rows; insert_overwrite replaces partition day=1 only,
    // with the new column appended; the table rebuild (location too) keeps working.
    let second = p.run_env(
        &["build", "--vars", &format!("{{batch: 2, events: 3, location_root: '{}'}}", location.to_string_lossy())],
        &envs(&env),
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        q(cluster, "select id, batch from sparky.inc_append order by id"),
        ["0 | b1", "1 | b1", "2 | b1", "3 | b2", "4 | b2", "5 | b2"]
    );
    assert_eq!(
        q(cluster, "select id, version, extra, day from sparky.inc_overwrite order by id"),
        ["0 | v1 | NULL | 0", "1 | v2 | 100 | 1", "2 | v1 | NULL | 0", "3 | v2 | 300 | 1"]
    );
    assert_eq!(q(cluster, "select count(*) from sparky.t_events"), ["3"]);
    assert_eq!(q(cluster, "select count(*) from sparky.t_located"), ["3"]);
    let tmp = q(cluster, "show tables in sparky like '*strata*'");
    assert!(tmp.is_empty(), "temporary tables left: {tmp:?}");

    // A failing audit: the duplicate is never published, the table keeps its rows.
    let guarded = p.run_env(&["build", "-s", "guarded", "--vars", "{duplicate: true}"], &envs(&env));
    assert_eq!(guarded.code, 1, "{}", guarded.stderr);
    assert!(guarded.stderr.contains("was not published"), "{}", guarded.stderr);
    assert_eq!(q(cluster, "select count(*) from sparky.guarded"), ["3"]);

    // Nothing changed, nothing rebuilt: state skips the second identical run.
    let again = p.run_env(&["run", "-s", "v_codes", "t_bucketed"], &envs(&env));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("SKIP unchanged sql view model sparky.v_codes"), "{}", again.stderr);
    assert!(again.stderr.contains("NO-OP=2 TOTAL=2"), "{}", again.stderr);

    // catalog.json from Spark's catalog, with Spark's type names.
    let docs = p.run_env(&["docs", "generate"], &envs(&env));
    assert_eq!(docs.code, 0, "{}", docs.stderr);
    let catalog: Json = serde_json::from_str(&p.read("target/catalog.json")).unwrap();
    let codes = &catalog["nodes"]["seed.sparky.codes"];
    assert_eq!(codes["metadata"]["schema"], "sparky_raw");
    assert_eq!(codes["columns"]["amount"]["type"], "double");
    assert_eq!(catalog["nodes"]["model.sparky.v_codes"]["metadata"]["type"], "view");
}

/// Parse-time refusals need no cluster: what needs MERGE, dbt-duckdb's materializations, and
/// dbt-spark's other connection methods, each located.
#[test]
fn spark_refuses_what_it_cannot_build_before_anything_runs() {
    let p = TestProject::fixture("spark");
    p.write(
        "models/merged.sql",
        "{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}\nselect 1 as id\n",
    );
    p.write(
        "snapshots/snap.sql",
        "{% snapshot snap %}\n{{ config(unique_key='id', strategy='check', check_cols='all', target_schema='s') }}\nselect 1 as id\n{% endsnapshot %}\n",
    );
    p.write("models/exported.sql", "{{ config(materialized='external') }}\nselect 1 as id\n");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("spark_parse_refusals", p.normalize(&out.stderr));

    let thrift = TestProject::fixture("spark");
    thrift.write(
        "profiles.yml",
        "sparky:\n  target: spark\n  outputs:\n    spark:\n      type: spark\n      method: thrift\n      host: 127.0.0.1\n      schema: sparky\n      user: me\n",
    );
    let out = thrift.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("spark_thrift_refused", thrift.normalize(&out.stderr));
}

/// An endpoint nothing listens on: a clear error naming host and port, exit 2, nothing run.
#[test]
fn spark_endpoint_not_reachable() {
    let p = TestProject::fixture("spark");
    let port = free_port().to_string();
    let out = p.run_env(&["build"], &[("STRATA_SPARK_PORT", &port)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "cannot open Spark at 'sc://127.0.0.1:{port}': Spark Connect is not reachable at 127.0.0.1:{port}"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("scripts/spark-local.sh start"), "{}", out.stderr);
    assert!(!p.root.join("target/run_results.json").exists());
}

/// A DuckDB-only function in a model is pointed at by the analysis of a Spark project (an
/// error under --static-analysis strict), before anything runs. `compile` connects, as dbt's.
fn analysis_flags_duckdb_functions(cluster: &Cluster) {
    let p = TestProject::fixture("spark");
    p.write("models/dated.sql", "select strftime(day, '%Y') as y from {{ ref('v_codes') }}\n");
    let env = cluster.env("sparky_analysis");
    let out = p.run_env(&["compile", "--static-analysis", "strict", "-s", "dated"], &envs(&env));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("E1001"), "{}", out.stderr);
    assert!(out.stderr.contains("function strftime() is DuckDB's and does not exist on Spark"), "{}", out.stderr);
    assert!(out.stderr.contains("use date_format()"), "{}", out.stderr);
}
