//! DuckDB as dbt-duckdb users run it (tests/fixtures/duckdb_features): parquet, json and ICU
//! compiled in, the profile's keys, external models and sources, python models and seeds with
//! CRLF, quoted line breaks and short rows. The expected rows and types are dbt-core 1.10 +
//! dbt-duckdb 1.11's on the same fixture (see the test's comments for where strata differs).

use crate::util::TestProject;

fn rows(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

fn types(p: &TestProject, table: &str) -> Vec<Vec<String>> {
    p.query("ddb.duckdb", &format!("select column_name, column_type from (describe \"{table}\")"))
}

#[test]
fn a_dbt_duckdb_project_builds_with_dbts_results() {
    let p = TestProject::fixture("duckdb_features");
    let out = p.run(&["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("W1001") && !out.stderr.contains("W1002"), "{}", out.stderr);
    let db = "ddb.duckdb";

    // Seeds: CRLF line ends, quoted fields with line breaks (kept as written), a short row padded.
    assert_eq!(
        types(&p, "messy"),
        rows(&[&["id", "INTEGER"], &["name", "VARCHAR"], &["note", "VARCHAR"], &["amount", "DOUBLE"]])
    );
    assert_eq!(
        p.query(
            db,
            "select id, name, replace(replace(note, chr(13), '\\r'), chr(10), '\\n'), amount from messy order by id"
        ),
        rows(&[
            &["1", "alice", "line one\\r\\nline two", "10.5"],
            &["2", "bob", "plain", "NULL"],
            &["3", "carol, jr", "she said \"hi\"", "7"],
            &["4", "dave", "NULL", "NULL"],
            &["5", "erin", "multi\\nline\\nthree", "3.25"],
        ])
    );

    // Sources read from files (external_location), json functions.
    assert_eq!(
        p.query(db, "select event_id, customer_id, kind, page, ms from stg_events order by all"),
        rows(&[
            &["1", "1", "click", "home", "120"],
            &["2", "1", "buy", "cart", "300"],
            &["3", "2", "click", "home", "80"],
            &["4", "3", "buy", "cart", "410"],
        ])
    );
    assert_eq!(
        p.query(db, "select refund_id, amount from stg_refunds order by all"),
        rows(&[&["1", "4.5"], &["2", "12.25"]])
    );

    // ICU: TIMESTAMPTZ arithmetic, time zones, dbt.dateadd on dbt.current_timestamp().
    assert_eq!(
        types(&p, "time_math"),
        rows(&[
            &["customer_id", "INTEGER"],
            &["signed_up_at", "TIMESTAMP"],
            &["next_day_tz", "TIMESTAMP WITH TIME ZONE"],
            &["in_new_york", "TIMESTAMP"],
            &["month_tz", "TIMESTAMP WITH TIME ZONE"],
            &["renewal_at", "TIMESTAMP"],
            &["tomorrow_is_later", "BOOLEAN"],
        ])
    );
    assert_eq!(
        p.query(
            db,
            "select customer_id, cast(next_day_tz as varchar), cast(in_new_york as varchar), cast(month_tz as varchar), cast(renewal_at as varchar), tomorrow_is_later from time_math where customer_id in (1, 3) order by 1"
        ),
        rows(&[
            &["1", "2024-01-06 10:00:00+00", "2024-01-05 05:00:00", "2024-01-01 00:00:00+00", "2024-02-04 10:00:00", "true"],
            &["3", "2024-03-21 17:45:00+00", "2024-03-20 13:45:00", "2024-03-01 00:00:00+00", "2024-04-19 17:45:00", "true"],
        ])
    );

    // External models: files written (parent folders created), views over them.
    let kinds = p.query(
        db,
        "select table_name, table_type from information_schema.tables where table_name in ('customer_events', 'events_csv', 'events_by_kind', 'events_json') order by 1",
    );
    assert_eq!(
        kinds,
        rows(&[
            &["customer_events", "VIEW"],
            &["events_by_kind", "VIEW"],
            &["events_csv", "VIEW"],
            &["events_json", "VIEW"]
        ])
    );
    assert!(p.root.join("out/customer_events.parquet").is_file());
    assert!(p.root.join("out/events_by_kind/kind=buy").is_dir());
    assert!(p.root.join("out/events_by_kind/kind=click").is_dir());
    assert!(p.root.join("out/events.json").is_file());
    let csv = p.read("out/exports/nested/events.csv");
    assert_eq!(csv.lines().take(2).collect::<Vec<_>>(), vec!["event_id|kind|page", "1|click|home"]);
    assert_eq!(
        types(&p, "customer_events"),
        rows(&[&["customer_id", "INTEGER"], &["name", "VARCHAR"], &["events", "BIGINT"], &["total_ms", "DOUBLE"]])
    );
    assert_eq!(
        p.query(db, "select * from from_external order by all"),
        rows(&[&["1", "Ann", "2", "420"], &["2", "Bo", "1", "80"], &["3", "Cy", "1", "410"]])
    );
    assert_eq!(
        types(&p, "events_by_kind"),
        rows(&[&["event_id", "BIGINT"], &["page", "VARCHAR"], &["kind", "VARCHAR"]])
    );
    assert_eq!(p.query(db, "select count(*) from events_by_kind where kind = 'buy'"), rows(&[&["2"]]));
    // An empty result: one row of NULLs in the file, filtered by the view (as dbt-duckdb).
    assert_eq!(p.query(db, "select count(*) from events_json"), rows(&[&["0"]]));

    // Python models: pandas, a DuckDB relation, a pyarrow table; module_paths; dbt.config.get.
    assert_eq!(
        types(&p, "py_tiers"),
        rows(&[&["tier", "VARCHAR"], &["customers", "BIGINT"], &["label", "VARCHAR"], &["threshold", "BIGINT"]])
    );
    assert_eq!(
        p.query(db, "select * from py_tiers order by all"),
        rows(&[&["bronze", "1", "?", "3"], &["gold", "2", "G", "3"], &["silver", "1", "S", "3"]])
    );
    assert_eq!(p.query(db, "select * from py_buys order by all"), rows(&[&["2", "1", "cart"], &["4", "3", "cart"]]));
    assert_eq!(types(&p, "py_events_inc"), rows(&[&["event_id", "BIGINT"], &["kind", "VARCHAR"], &["ms", "INTEGER"]]));
    // A SQL model reads python models.
    assert_eq!(
        p.query(db, "select * from after_python order by all"),
        rows(&[&["bronze", "1", "?", "0"], &["gold", "2", "G", "2"], &["silver", "1", "S", "0"]])
    );
    // The profile's attach and config_options.
    assert_eq!(p.query(db, "select 1"), rows(&[&["1"]]));
    assert!(p.root.join("lookup.duckdb").is_file());

    // Again: the incremental python model sees its table (dbt.is_incremental, dbt.this) and adds
    // only new events; everything else is rebuilt or left as it was.
    std::fs::write(
        p.root.join("data/events.csv"),
        format!("{}5,4,buy,\"{{\"\"page\"\": \"\"cart\"\", \"\"ms\"\": 50}}\"\n", p.read("data/events.csv")),
    )
    .unwrap();
    let out = p.run(&["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(p.query(db, "select count(*), max(event_id) from py_events_inc"), rows(&[&["5", "5"]]));
    assert_eq!(p.query(db, "select count(*) from events_csv"), rows(&[&["5"]]));
    let manifest: serde_json::Value = serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    assert_eq!(manifest["nodes"]["model.ddb.py_tiers"]["language"], "python");
    assert_eq!(
        manifest["nodes"]["model.ddb.after_python"]["depends_on"]["nodes"],
        serde_json::json!(["model.ddb.py_buys", "model.ddb.py_tiers", "seed.ddb.customers"])
    );
}

#[test]
fn profile_keys_are_checked() {
    let p = TestProject::fixture("duckdb_features");
    let profiles = p.read("profiles.yml");
    p.write(
        "profiles.yml",
        &profiles.replace(
            "      threads: 2\n",
            "      threads: 2\n      extentions: [json]\n      plugins:\n        - module: excel\n",
        ),
    );
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
    assert!(!p.root.join("ddb.duckdb").exists(), "nothing ran");
}

#[test]
fn a_target_of_an_engine_strata_lacks_is_located() {
    let p = TestProject::fixture("duckdb_features");
    let profiles = p.read("profiles.yml");
    p.write("profiles.yml", &profiles.replace("type: duckdb", "type: postgres"));
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let err = p.normalize(&out.stderr);
    assert!(
        err.contains("error[E0306]: target 'dev' has type 'postgres'; strata runs on DuckDB or Spark only"),
        "{err}"
    );
    assert!(err.contains("--> profiles.yml:5:") && err.contains("help: set `type: duckdb` or `type: spark`"), "{err}");
    assert!(!p.root.join("ddb.duckdb").exists(), "nothing ran");
}

#[test]
fn an_external_model_with_no_format_stops_before_anything_runs() {
    let p = TestProject::fixture("duckdb_features");
    p.write(
        "models/marts/events_csv.sql",
        "{{ config(materialized='external', location='out/events.txt') }}\nselect event_id from {{ ref('stg_events') }}\n",
    );
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
    assert!(
        p.query("ddb.duckdb", "select count(*) from information_schema.tables where table_schema = 'main'")
            == rows(&[&["0"]])
    );
}

#[test]
fn a_failed_external_write_keeps_the_previous_file_and_view() {
    let p = TestProject::fixture("duckdb_features");
    let out = p.run(&["build", "-s", "+customer_events"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = std::fs::read(p.root.join("out/customer_events.parquet")).unwrap();
    // The query fails while the rows are computed.
    p.write(
        "models/marts/customer_events.sql",
        "{{ config(materialized='external') }}\nselect customer_id, cast(name as integer) as name from {{ ref('customers') }}\n",
    );
    let out = p.run(&["build", "-s", "customer_events"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("Conversion Error"), "{}", out.stderr);
    assert_eq!(std::fs::read(p.root.join("out/customer_events.parquet")).unwrap(), before);
    assert_eq!(p.query("ddb.duckdb", "select count(*), max(events) from customer_events"), rows(&[&["4", "2"]]));
    // The location cannot be written (its parent is a file): a node error, nothing half-written.
    p.write(
        "models/marts/customer_events.sql",
        "{{ config(materialized='external', location='seeds/customers.csv/customer_events.parquet') }}\nselect 1 as customer_id\n",
    );
    let out = p.run(&["build", "-s", "customer_events"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot write external location 'seeds/customers.csv/customer_events.parquet'"),
        "{}",
        out.stderr
    );
    assert_eq!(p.query("ddb.duckdb", "select count(*) from customer_events"), rows(&[&["4"]]));
    assert!(p.read("seeds/customers.csv").starts_with("customer_id,"));
}

#[test]
fn python_errors_point_at_the_model_and_skip_only_its_descendants() {
    let p = TestProject::fixture("duckdb_features");
    // A syntax error, and an exception raised inside the model.
    p.write(
        "models/py/py_buys.py",
        "def model(dbt, session):\n    return dbt.ref('stg_events').filter(\"kind = 'buy'\"\n",
    );
    p.write(
        "models/py/py_tiers.py",
        "def model(dbt, session):\n    customers = dbt.ref('customers').df()\n    return customers['missing_column']\n",
    );
    let out = p.run(&["build"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let err = p.normalize(&out.stderr);
    assert!(err.contains("Python error in model py_buys (models/py/py_buys.py)"), "{err}");
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(err.contains("--> models/py/py_buys.py:2:"), "{err}");
    assert!(
        err.contains("Python error in model py_tiers (models/py/py_tiers.py)\n  KeyError: 'missing_column'"),
        "{err}"
    );
    assert!(
        err.contains("--> models/py/py_tiers.py:3:5\n    |\n  3 |     return customers['missing_column']\n    |     ^"),
        "{err}"
    );
    // Their descendant is skipped; the rest is built.
    assert!(err.contains("SKIP relation main.after_python"), "{err}");
    assert_eq!(p.query("ddb.duckdb", "select count(*) from py_events_inc"), rows(&[&["4"]]));
    let results: serde_json::Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let status = |id: &str| {
        results["results"].as_array().unwrap().iter().find(|r| r["unique_id"] == id).map(|r| r["status"].clone())
    };
    assert_eq!(status("model.ddb.after_python"), Some(serde_json::json!("skipped")));
    assert_eq!(status("model.ddb.py_buys"), Some(serde_json::json!("error")));
    assert_eq!(status("model.ddb.py_events_inc"), Some(serde_json::json!("success")));
}

#[test]
fn a_python_model_materialized_as_a_view_fails_when_it_runs() {
    let p = TestProject::fixture("duckdb_features");
    p.write(
        "models/py/py_buys.py",
        "def model(dbt, session):\n    dbt.config(materialized='view')\n    return dbt.ref('stg_events')\n",
    );
    let out = p.run(&["build"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "Materialization \"materialization_view_default\" only supports languages ['sql']; got \"python\""
        ),
        "{}",
        out.stderr
    );
    assert_eq!(p.query("ddb.duckdb", "select count(*) from py_tiers"), rows(&[&["3"]]));
}

#[test]
fn a_missing_interpreter_or_package_is_a_node_error() {
    let p = TestProject::fixture("duckdb_features");
    let out = p.run_env(&["build", "-s", "+py_buys"], &[("STRATA_PYTHON", "/nonexistent/python3")]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("Python interpreter '/nonexistent/python3' not found, needed by python model py_buys (models/py/py_buys.py)"), "{}", out.stderr);
    // The SQL models it reads were built.
    assert_eq!(p.query("ddb.duckdb", "select count(*) from stg_events"), rows(&[&["4"]]));

    // A Python without the duckdb package (a bare virtual environment).
    let venv = p.root.parent().unwrap().join("bare-venv");
    let made = std::process::Command::new("python3").args(["-m", "venv", "--without-pip"]).arg(&venv).status();
    assert!(made.is_ok_and(|s| s.success()), "python3 -m venv");
    let python = venv.join("bin/python");
    let out = p.run_env(&["build", "-s", "py_buys"], &[("STRATA_PYTHON", python.to_str().unwrap())]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot import duckdb"), "{}", out.stderr);
}

#[test]
fn python_model_calls_are_checked_at_parse() {
    let p = TestProject::fixture("duckdb_features");
    p.write("models/py/py_bad.py", "def model(dbt, session):\n    name = 'customers'\n    return dbt.ref(name)\n");
    p.write("models/py/py_empty.py", "def transform(df):\n    return df\n");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}
