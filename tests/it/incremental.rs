//! Incremental models across two builds of tests/fixtures/incremental (one DuckDB file): every
//! strategy, incremental_predicates, every on_schema_change value, and NULL unique keys.

use crate::util::TestProject;

fn rows(p: &TestProject, table: &str) -> Vec<Vec<String>> {
    p.query("inc.duckdb", &format!("select * from {table} order by all"))
}

fn columns(p: &TestProject, table: &str) -> Vec<String> {
    p.query(
        "inc.duckdb",
        &format!(
            "select column_name from information_schema.columns where table_name = '{table}' order by ordinal_position"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

fn r(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn strategies_and_schema_changes_across_three_loads() {
    let p = TestProject::fixture("incremental");
    let first = p.run(&["build", "--vars", "{step: 1}"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The next load: id 1 changes, 3 is new, and one row has no id. Step 2 adds a column
    // (and osc_sync_all_columns drops `v`).
    p.write("seeds/events.csv", "id,v\n1,A\n2,b\n3,c\n,z\n");
    let second = p.run(&["build", "--vars", "{step: 2}"]);
    assert_eq!(second.code, 1, "{}", second.stderr);

    assert_eq!(rows(&p, "inc_append"), [r(&["1", "a"]), r(&["2", "b"]), r(&["3", "c"])]);
    // delete+insert and merge replace id 1; the NULL id is inserted and reported.
    let replaced = [r(&["1", "A"]), r(&["2", "b"]), r(&["3", "c"]), r(&["NULL", "z"])];
    assert_eq!(rows(&p, "inc_delete_insert"), replaced);
    assert_eq!(rows(&p, "inc_merge"), replaced);
    for m in ["inc_delete_insert", "inc_merge", "inc_predicates"] {
        let w = format!("warning: {m}: 1 new row(s) have a NULL in unique_key (id)");
        assert!(second.stderr.contains(&w), "{w}\n{}", second.stderr);
    }
    // The predicate keeps destination rows with id <= 1 out of the delete.
    assert_eq!(
        rows(&p, "inc_predicates"),
        [r(&["1", "A"]), r(&["1", "a"]), r(&["2", "b"]), r(&["3", "c"]), r(&["NULL", "z"])]
    );
    // on_schema_change.
    assert_eq!(columns(&p, "osc_ignore"), ["id", "v"]);
    assert_eq!(rows(&p, "osc_ignore"), [r(&["1", "a"]), r(&["2", "b"]), r(&["3", "c"])]);
    assert_eq!(columns(&p, "osc_append_new_columns"), ["id", "v", "extra"]);
    assert_eq!(
        rows(&p, "osc_append_new_columns"),
        [r(&["1", "a", "NULL"]), r(&["2", "b", "NULL"]), r(&["3", "c", "x3"])]
    );
    assert_eq!(columns(&p, "osc_sync_all_columns"), ["id", "extra"]);
    assert_eq!(rows(&p, "osc_sync_all_columns"), [r(&["1", "NULL"]), r(&["2", "NULL"]), r(&["3", "x3"])]);
    // fail: an error naming the columns, and the table as it was.
    assert!(
        second.stderr.contains("osc_fail: the new rows' columns and the table's are out of sync: new columns extra"),
        "{}",
        second.stderr
    );
    assert_eq!(columns(&p, "osc_fail"), ["id", "v"]);
    assert_eq!(rows(&p, "osc_fail"), [r(&["1", "a"]), r(&["2", "b"])]);

    // A third load: id 2 changes, 4 is new.
    p.write("seeds/events.csv", "id,v\n1,A\n2,B\n3,c\n4,d\n");
    let third = p.run(&["build", "--vars", "{step: 2}", "--exclude", "osc_fail"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(rows(&p, "inc_append"), [r(&["1", "a"]), r(&["2", "b"]), r(&["3", "c"]), r(&["4", "d"])]);
    let replaced3 = [r(&["1", "A"]), r(&["2", "B"]), r(&["3", "c"]), r(&["4", "d"]), r(&["NULL", "z"])];
    assert_eq!(rows(&p, "inc_delete_insert"), replaced3);
    assert_eq!(rows(&p, "inc_merge"), replaced3);
    assert_eq!(rows(&p, "inc_keep"), [r(&["1", "a"]), r(&["2", "b"]), r(&["3", "c"]), r(&["4", "d"])]);

    // --full-refresh rebuilds from scratch (the NULL key row is gone with the load that had it),
    // except a model configured with full_refresh: false.
    let full =
        p.run(&["build", "--vars", "{step: 2}", "--full-refresh", "-s", "inc_predicates", "osc_fail", "inc_keep"]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    assert_eq!(rows(&p, "inc_predicates"), [r(&["1", "A"]), r(&["2", "B"]), r(&["3", "c"]), r(&["4", "d"])]);
    assert_eq!(columns(&p, "osc_fail"), ["id", "v", "extra"]);
    assert_eq!(rows(&p, "inc_keep"), [r(&["1", "a"]), r(&["2", "b"]), r(&["3", "c"]), r(&["4", "d"])]);
}

#[test]
fn a_unique_key_the_model_does_not_output_is_located_before_anything_runs() {
    let p = TestProject::fixture("incremental");
    p.write(
        "models/inc_merge.sql",
        "{{ config(materialized='incremental', unique_key='event_id', incremental_strategy='merge') }}\nselect id, v from {{ ref('events') }}\n",
    );
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
    assert!(!out.stderr.contains("START"), "{}", out.stderr);
}
