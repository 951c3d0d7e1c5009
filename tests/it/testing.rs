//! Data tests, unit tests, audit-before-publish, retry and run_results.json, end to end on
//! tests/fixtures/data_tests and tests/fixtures/unit_tests (temp-dir DuckDB files).

use crate::util::TestProject;
use serde_json::Value as Json;

/// `unique_id status failures` for every result, sorted.
fn results(p: &TestProject) -> Vec<String> {
    let rr: Json = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let mut v: Vec<String> = rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["unique_id"].as_str().unwrap(), r["status"].as_str().unwrap(), r["failures"]))
        .collect();
    v.sort();
    v
}

fn assert_valid_run_results(p: &TestProject) {
    let rr: Json = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let errors = crate::schema::validate(&crate::schema::dbt_schema("run-results-v6.json"), &rr);
    assert!(errors.is_empty(), "run_results.json does not match dbt's v6 schema: {errors:#?}");
}

#[test]
fn without_audit_every_status_and_failure_count_is_dbts() {
    // The expected lines are dbt-core 1.10's run_results.json for this fixture (dbt build).
    let p = TestProject::fixture("data_tests");
    let out = p.run(&["build", "--no-audit"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!(results(&p).join("\n"));
    assert_valid_run_results(&p);
    // Thresholds: warn_if ">0" / error_if ">5" with one null is a warning, with dbt's message.
    assert!(out.stderr.contains("Got 1 result, configured to warn if >0"), "{}", out.stderr);
    // store_failures keeps the failing rows in the audit schema.
    assert_eq!(
        p.query("dt.duckdb", "select value_field, n_records from main_dbt_test__audit.order_status_is_known"),
        vec![vec!["lost".to_string(), "2".to_string()]]
    );
    // store_failures_as: view keeps a view of the failing rows.
    assert_eq!(
        p.query("dt.duckdb", "select table_type, (select count(*) from main_dbt_test__audit.is_positive_stg_orders_True__amount) from information_schema.tables where table_name = 'is_positive_stg_orders_True__amount'"),
        vec![vec!["VIEW".to_string(), "1".to_string()]]
    );
    // The project's not_null replaces the built-in one: the empty name counts too.
    assert!(results(&p)
        .iter()
        .any(|l| l.starts_with("test.dt.source_not_null_ext_people_name.") && l.ends_with(" warn 2")));
}

#[test]
fn build_output_lists_tests_in_dbts_shape() {
    let p = TestProject::fixture("data_tests");
    let out = p.run(&["build", "--no-audit", "--threads", "1"]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

const GOOD_ORDERS: &str = "id,customer_id,status,amount\n10,1,placed,20\n11,2,shipped,30\n13,3,placed,40\n";

#[test]
fn failing_audit_keeps_the_published_table_while_a_sibling_publishes() {
    let p = TestProject::fixture("data_tests");
    p.write("seeds/orders.csv", GOOD_ORDERS);
    let first = p.run(&["build", "-s", "orders+", "customers+"]);
    assert!(!first.stderr.contains("ERROR creating"), "{}", first.stderr);
    let db = "dt.duckdb";
    let before = p.query(db, "select order_id, status from main.stg_orders order by 1");
    assert_eq!(before.len(), 3);
    // target/run holds everything the audited build ran: the staging table's preparation and
    // build, then, below the marker, the rename that published it.
    let run = p.read("target/run/dt/models/stg_orders.sql");
    let (built, published) = run.split_once("-- strata: published from the staged relation").expect("marker");
    assert!(built.contains("drop table if exists \"dt\".\"main\".\"stg_orders__strata_audit\""), "{run}");
    assert!(built.contains("create table"), "{run}");
    assert!(published.contains("rename to \"stg_orders\""), "{run}");

    // New orders with an unknown status: stg_orders' audit fails. New customer: the sibling
    // branch (stg_customers) is published.
    p.write("seeds/orders.csv", "id,customer_id,status,amount\n10,1,placed,20\n11,2,shipped,30\n12,1,lost,0\n");
    p.write("seeds/customers.csv", "id,name,tier\n1,Ann,gold\n2,Bob,silver\n3,Cy,bronze\n4,Di,gold\n5,Ed,silver\n");
    let out = p.run(&["build"]);
    assert_eq!(out.code, 1);
    let text = p.normalize(&out.stderr);
    assert!(text.contains("model stg_orders was not published: 1 audit test failed"), "{text}");
    assert!(text.contains("| lost        |         1 |"), "failing rows are shown: {text}");
    assert_eq!(p.query(db, "select order_id, status from main.stg_orders order by 1"), before);
    assert_eq!(p.query(db, "select count(*) from main.stg_customers"), vec![vec!["5".to_string()]]);
    // What ran, without the publishing statements it never got to.
    let run = p.read("target/run/dt/models/stg_orders.sql");
    assert!(run.contains("stg_orders__strata_audit") && !run.contains("-- strata: published"), "{run}");
    assert_eq!(
        p.query(db, "select count(*) from information_schema.tables where table_name like '%strata_audit%'"),
        vec![vec!["0".to_string()]],
        "no staging relation is left behind"
    );
    // The failing rows of the audit are stored (store_failures), though the model was not published.
    assert_eq!(
        p.query(db, "select value_field, n_records from main_dbt_test__audit.order_status_is_known"),
        vec![vec!["lost".to_string(), "1".to_string()]]
    );
    // The failing test, the unpublished model and its descendants in run_results.json.
    let r = results(&p);
    assert!(r.contains(&"model.dt.stg_orders error null".to_string()), "{r:#?}");
    assert!(r.iter().any(|l| l.starts_with("test.dt.order_status_is_known.") && l.ends_with(" fail 1")), "{r:#?}");
    assert!(r.contains(&"model.dt.customer_totals skipped null".to_string()));
    assert_valid_run_results(&p);

    // Accept the new status; retry runs only what failed or was skipped, and publishes it.
    let yml = p
        .read("models/schema.yml")
        .replace("values: ['placed', 'shipped', 'returned']", "values: ['placed', 'shipped', 'returned', 'lost']");
    p.write("models/schema.yml", &yml);
    let retry = p.run(&["retry"]);
    let text = p.normalize(&retry.stderr);
    assert!(text.contains("Retrying"), "{text}");
    assert!(!text.contains("seed file main_raw.customers"), "succeeded nodes are not re-run: {text}");
    assert_eq!(
        p.query(db, "select order_id, status from main.stg_orders order by 1"),
        vec![
            vec!["10".to_string(), "placed".to_string()],
            vec!["11".to_string(), "shipped".to_string()],
            vec!["12".to_string(), "lost".to_string()]
        ]
    );
    let r = results(&p);
    assert!(r.contains(&"model.dt.stg_orders success null".to_string()), "{r:#?}");
    assert!(r.contains(&"model.dt.customer_totals success null".to_string()), "{r:#?}");
    // Only what did not succeed ran (no seeds, no stg_customers), with the tests of the rebuilt
    // models as they are now: the edited accepted_values test has a new id and passes.
    assert_eq!(r.len(), 13, "{r:#?}");
    assert!(r.iter().any(|l| l.starts_with("test.dt.order_status_is_known.") && l.ends_with(" pass 0")), "{r:#?}");
    assert!(!r.iter().any(|l| l.starts_with("seed.") || l.starts_with("model.dt.stg_customers")), "{r:#?}");
}

#[test]
fn test_command_selects_tests_of_selected_models_and_by_type() {
    let p = TestProject::fixture("data_tests");
    p.write("seeds/orders.csv", GOOD_ORDERS);
    assert!(p.run(&["build"]).code <= 1);
    let ls = |args: &[&str]| {
        let mut a = vec!["ls", "--resource-type", "test", "--output", "name"];
        a.extend_from_slice(args);
        p.run(&a).stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(
        ls(&["-s", "stg_customers"]),
        vec![
            "accepted_values_stg_customers_tier__gold__silver__bronze",
            "not_null_stg_customers_customer_id",
            "relationships_stg_orders_customer_id__customer_id__ref_stg_customers_",
            "unique_stg_customers_customer_id",
        ]
    );
    assert_eq!(ls(&["-s", "test_type:singular"]), vec!["assert_customers_have_names", "assert_no_big_orders"]);
    assert_eq!(ls(&["-s", "test_name:relationships"]).len(), 1);
    assert_eq!(ls(&["-s", "stg_customers", "--exclude", "test_name:unique"]).len(), 3);
    let out = p.run(&["test", "-s", "stg_customers"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.normalize(&out.stderr).contains("Done. PASS=4 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=4"));
    assert_valid_run_results(&p);
}

#[test]
fn unit_tests_pass_without_any_relation_in_the_database() {
    let p = TestProject::fixture("unit_tests");
    let out = p.run(&["test", "--select", "test_type:unit"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.normalize(&out.stderr).contains("Done. PASS=8 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=8"), "{}", out.stderr);
    assert_eq!(
        p.query("ut.duckdb", "select count(*) from information_schema.tables where table_schema = 'main'"),
        vec![vec!["0".to_string()]]
    );
    assert_valid_run_results(&p);
}

#[test]
fn failing_unit_test_shows_a_row_diff_and_skips_its_model_in_build() {
    let p = TestProject::fixture("unit_tests");
    let yml =
        p.read("models/unit_tests.yml").replace("- {customer_id: 2, revenue: 5}", "- {customer_id: 2, revenue: 6}");
    p.write("models/unit_tests.yml", &yml);
    let out = p.run(&["build", "--threads", "1"]);
    assert_eq!(out.code, 1);
    let text = p.normalize(&out.stderr);
    let failure: String =
        text.lines().skip_while(|l| !l.starts_with("Failure in unit_test")).take(8).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(failure);
    let r = results(&p);
    assert!(r.contains(&"model.ut.customer_revenue skipped null".to_string()), "{r:#?}");
    assert!(r.contains(&"model.ut.stg_orders success null".to_string()), "{r:#?}");
}

#[test]
fn unit_test_without_the_incremental_override_fails() {
    // The same test without `is_incremental: true` sees every row: the override is what matters.
    let p = TestProject::fixture("unit_tests");
    let yml =
        p.read("models/unit_tests.yml").replace("      macros:\n        is_incremental: true\n", "      vars: {}\n");
    p.write("models/unit_tests.yml", &yml);
    let out = p.run(&["test", "-s", "orders_inc"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("+ 1"), "{}", out.stderr);
}

#[test]
fn bad_test_declarations_are_located_diagnostics_and_nothing_is_built() {
    let p = TestProject::fixture("data_tests");
    let yml = p
        .read("models/schema.yml")
        .replace("      - name: tier\n", "      - name: teir\n")
        .replace("          - not_null\n      - name: customer_id", "          - not_nul\n      - name: customer_id")
        .replace("warn_if: \">0\"", "warn_if: \"more than 0\"");
    p.write("models/schema.yml", &yml);
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(p.normalize(&out.stderr));
    assert!(!p.root.join("dt.duckdb").exists(), "parse errors stop before the database is opened");

    // A missing column is found before anything runs (the model is not built yet).
    let p = TestProject::fixture("data_tests");
    p.write("models/schema.yml", &p.read("models/schema.yml").replace("      - name: tier\n", "      - name: teir\n"));
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("missing_column", p.normalize(&out.stderr));
    assert_eq!(
        p.query("dt.duckdb", "select count(*) from information_schema.tables where table_schema like 'main%'"),
        vec![vec!["0".to_string()]],
        "nothing is built"
    );
}

#[test]
fn a_singular_tests_bad_threshold_is_located_in_its_file_unless_it_is_disabled() {
    let p = TestProject::fixture("data_tests");
    p.write("tests/bad_threshold.sql", "{{ config(error_if = 'lots') }}\nselect 1 as id where false\n");
    p.write("tests/off.sql", "{{ config(enabled = false, warn_if = 'never') }}\nselect 1 as id where false\n");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let stderr = p.normalize(&out.stderr);
    assert!(stderr.contains("error[E0211]: error_if of test 'bad_threshold' is not a threshold: 'lots'"), "{stderr}");
    assert!(stderr.contains("tests/bad_threshold.sql:1:"), "{stderr}");
    assert!(!stderr.contains("never"), "a disabled test's configs are not checked: {stderr}");
}

#[test]
fn unit_test_rows_with_unknown_columns_are_diagnostics() {
    let p = TestProject::fixture("unit_tests");
    let yml = p
        .read("models/unit_tests.yml")
        .replace("{customer_id: 1, cents: 999, status: cancelled}", "{customer_id: 1, cents: 999, statsu: cancelled}");
    p.write("models/unit_tests.yml", &yml);
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn a_failing_test_of_two_nodes_skips_only_what_reads_both() {
    // dbt's test edges: a test gates a node only when everything the test reads is upstream of
    // it. dbt-core 1.10 on this change builds customer_names and skips customer_totals.
    let p = TestProject::fixture("data_tests");
    let orders = p.read("seeds/orders.csv");
    p.write("seeds/orders.csv", &format!("{orders}16,8,placed,5\n"));
    p.write("models/customer_names.sql", "select name from {{ ref('stg_customers') }}\n");
    let out = p.run(&["build", "--no-audit"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = results(&p);
    let line = |prefix: &str| r.iter().find(|l| l.starts_with(prefix)).cloned().unwrap_or_default();
    assert!(line("test.dt.relationships_stg_orders_customer_id").ends_with(" fail 1"), "{r:#?}");
    assert_eq!(line("model.dt.customer_names"), "model.dt.customer_names success null");
    assert_eq!(line("model.dt.customer_totals"), "model.dt.customer_totals skipped null");
}
