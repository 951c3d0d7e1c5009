//! Change-aware builds on tests/fixtures/static_analysis (one DuckDB file): a second build of an
//! unchanged project builds nothing, a change to one model rebuilds exactly it and what reads it,
//! a changed seed rebuilds its descendants, and --rebuild-all / --full-refresh build everything.

use crate::util::TestProject;

/// `status id` for every result of the last run, sorted.
fn statuses(p: &TestProject) -> Vec<String> {
    let rr: serde_json::Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let mut v: Vec<String> = rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["status"].as_str().unwrap(), r["unique_id"].as_str().unwrap()))
        .collect();
    v.sort();
    v
}

fn built(p: &TestProject) -> Vec<String> {
    statuses(p).into_iter().filter(|s| s.starts_with("success")).map(|s| s[8..].to_string()).collect()
}

#[test]
fn only_what_changed_and_its_descendants_are_rebuilt() {
    let p = TestProject::fixture("static_analysis");
    let first = p.run(&["build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(built(&p).len(), 5);

    let again = p.run(&["build"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(built(&p).is_empty(), "{:#?}", statuses(&p));
    assert!(again.stderr.contains("SKIP unchanged sql view model main.report"), "{}", again.stderr);
    assert!(again.stderr.contains("Done. PASS=0 WARN=0 ERROR=0 SKIP=0 NO-OP=5 TOTAL=5"), "{}", again.stderr);
    // A node left unchanged has its one NO-OP line, no START line.
    assert!(!again.stderr.contains(" START "), "{}", again.stderr);
    assert!(statuses(&p).iter().all(|s| s.starts_with("no-op ")), "{:#?}", statuses(&p));

    // One model changes: it and what reads it.
    p.write(
        "models/city_counts.sql",
        "select city, count(*) as people, max(id) as last_id\nfrom {{ ref('people_clean') }}\ngroup by city\n",
    );
    assert_eq!(p.run(&["build"]).code, 0);
    assert_eq!(built(&p), ["model.sa.city_counts", "model.sa.report"]);

    // The seed changes: everything below it.
    p.write("seeds/people.csv", "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n3,Cy,Oslo\n4,Di,Rome\n");
    assert_eq!(p.run(&["build"]).code, 0);
    assert_eq!(built(&p).len(), 5);
    assert_eq!(p.query("sa.duckdb", "select people from city_counts where city = 'Rome'"), [["2"]]);

    // A relation dropped behind strata's back is rebuilt even though nothing changed.
    let conn = duckdb::Connection::open(p.root.join("sa.duckdb")).unwrap();
    conn.execute_batch("drop view report").unwrap();
    drop(conn);
    assert_eq!(p.run(&["build"]).code, 0);
    assert_eq!(built(&p), ["model.sa.report"]);

    // Skipping off.
    for flags in [["build", "--rebuild-all"], ["build", "--full-refresh"]] {
        assert_eq!(p.run(&flags).code, 0);
        assert_eq!(built(&p).len(), 5, "{flags:?}");
    }
}

#[test]
fn a_source_is_unchanged_while_its_loaded_at_field_max_is() {
    let p = TestProject::fixture("static_analysis");
    p.write(
        "models/sources.yml",
        "version: 2\nsources:\n  - name: raw\n    schema: main\n    tables:\n      - name: visits\n        loaded_at_field: visited_at\n",
    );
    p.write("models/visit_counts.sql", "select count(*) as n from {{ source('raw', 'visits') }}\n");
    let conn = duckdb::Connection::open(p.root.join("sa.duckdb")).unwrap();
    conn.execute_batch("create table visits as select 1 as id, timestamp '2024-01-01' as visited_at").unwrap();
    drop(conn);
    assert_eq!(p.run(&["run", "-s", "visit_counts"]).code, 0);
    assert_eq!(built(&p), ["model.sa.visit_counts"]);
    assert_eq!(p.run(&["run", "-s", "visit_counts"]).code, 0);
    assert!(built(&p).is_empty());
    // New data arrives: the max of visited_at moves.
    let conn = duckdb::Connection::open(p.root.join("sa.duckdb")).unwrap();
    conn.execute_batch("insert into visits values (2, timestamp '2024-01-02')").unwrap();
    drop(conn);
    assert_eq!(p.run(&["run", "-s", "visit_counts"]).code, 0);
    assert_eq!(built(&p), ["model.sa.visit_counts"]);
    assert_eq!(p.query("sa.duckdb", "select n from visit_counts"), [["2"]]);
}

/// A source without a `loaded_at_field` is fingerprinted by its contents (row count and the sum
/// of the rows' hashes), taken after the on-run-start hooks that may re-create it: re-created
/// with the same rows (in another order), nothing is rebuilt; one row different, what reads it is.
#[test]
fn a_source_recreated_with_the_same_rows_rebuilds_nothing() {
    let p = TestProject::fixture("open_sources");
    std::fs::remove_file(p.root.join("models/bad.sql")).unwrap();
    assert_eq!(p.run(&["build"]).code, 0);
    let first = built(&p);
    assert!(first.contains(&"model.open.stg_orders".to_string()), "{first:?}");
    // The fixture's hook re-creates raw.orders with the same rows on every build.
    let again = p.run(&["build"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(built(&p).is_empty(), "{:?}", built(&p));
    // `strata test` runs the source's test and records it with the source's contents, so the
    // next build leaves the test alone.
    p.write(
        "models/sources.yml",
        "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: orders\n        columns:\n          - name: id\n            data_tests: [not_null]\n",
    );
    assert_eq!(p.run(&["build"]).code, 0);
    let test = p.run(&["test"]);
    assert!(test.stderr.contains("PASS=1 "), "{}", test.stderr);
    assert_eq!(p.run(&["build"]).code, 0);
    assert!(statuses(&p).iter().all(|s| s.starts_with("no-op ")), "{:#?}", statuses(&p));
    // The same rows in another order: still unchanged.
    let project = p.read("dbt_project.yml");
    let reordered = project.replace(
        "(values (1, 10, 'eu', 12.5, 'x'), (2, 11, 'us', 7.0, 'y'), (3, 10, 'eu', 3.5, 'z'))",
        "(values (3, 10, 'eu', 3.5, 'z'), (1, 10, 'eu', 12.5, 'x'), (2, 11, 'us', 7.0, 'y'))",
    );
    assert_ne!(reordered, project);
    p.write("dbt_project.yml", &reordered);
    assert_eq!(p.run(&["build"]).code, 0);
    assert!(built(&p).is_empty(), "{:?}", built(&p));
    // One amount changes: everything that reads the source is rebuilt (the seed is not).
    p.write("dbt_project.yml", &reordered.replace("(2, 11, 'us', 7.0, 'y')", "(2, 11, 'us', 7.5, 'y')"));
    assert_eq!(p.run(&["build"]).code, 0);
    assert_eq!(built(&p), ["model.open.fct_orders", "model.open.stg_orders", "model.open.stg_orders_wide"]);
}
