//! Snapshots through inserts, updates, deletes and re-inserts (tests/fixtures/snapshots, one
//! DuckDB file, four builds), for both strategies and every hard_deletes mode, with composite
//! keys, dbt_valid_to_current, renamed meta columns and a snapshot declared in YAML. Times that
//! come from the clock are shown as RUN.

use crate::util::TestProject;

const STEPS: [&str; 4] = [
    "id,region,status,updated_at\n1,eu,new,2024-01-01 00:00:00\n2,eu,new,2024-01-01 00:00:00\n3,us,new,2024-01-01 00:00:00\n",
    // 1 changes, 2 is deleted, 4 arrives.
    "id,region,status,updated_at\n1,eu,shipped,2024-01-02 00:00:00\n3,us,new,2024-01-01 00:00:00\n4,us,new,2024-01-02 00:00:00\n",
    // 2 comes back.
    "id,region,status,updated_at\n1,eu,shipped,2024-01-02 00:00:00\n2,eu,back,2024-01-03 00:00:00\n3,us,new,2024-01-01 00:00:00\n4,us,new,2024-01-02 00:00:00\n",
    // Nothing changes.
    "id,region,status,updated_at\n1,eu,shipped,2024-01-02 00:00:00\n2,eu,back,2024-01-03 00:00:00\n3,us,new,2024-01-01 00:00:00\n4,us,new,2024-01-02 00:00:00\n",
];

fn history(p: &TestProject, table: &str, from: &str, to: &str, extra: &str) -> String {
    let t = |c: &str| {
        format!("case when {c} is null then 'open' when {c} >= timestamp '2025-01-01' and {c} < timestamp '9999-01-01' then 'RUN' else strftime({c}, '%Y-%m-%d') end")
    };
    let sql =
        format!("select id, status, {}, {}{extra} from {table} order by id, {from}, {to} nulls last", t(from), t(to));
    p.query("snap.duckdb", &sql).iter().map(|r| r.join(" ")).collect::<Vec<_>>().join("\n")
}

#[test]
fn scd2_history_for_every_strategy_and_hard_deletes_mode() {
    let p = TestProject::fixture("snapshots");
    for (i, step) in STEPS.iter().enumerate() {
        p.write("seeds/orders.csv", step);
        let out = p.run(&["build"]);
        assert_eq!(out.code, 0, "step {}: {}", i + 1, out.stderr);
    }
    let mut report = String::new();
    for t in ["timestamp_ignore", "timestamp_invalidate", "check_ignore", "check_invalidate"] {
        report.push_str(&format!(
            "== {t}\n{}\n",
            history(&p, &format!("snapshots.{t}"), "dbt_valid_from", "dbt_valid_to", "")
        ));
    }
    for t in ["timestamp_new_record", "check_new_record"] {
        let h = history(&p, &format!("snapshots.{t}"), "dbt_valid_from", "dbt_valid_to", ", dbt_is_deleted");
        report.push_str(&format!("== {t}\n{h}\n"));
    }
    report.push_str(&format!(
        "== composite_key\n{}\n",
        history(&p, "snapshots.composite_key", "valid_from", "valid_to", ", region")
    ));
    report.push_str(&format!(
        "== yaml_snapshot\n{}\n",
        history(&p, "snapshots.yaml_snapshot", "dbt_valid_from", "dbt_valid_to", "")
    ));
    insta::assert_snapshot!(report);
    // Snapshot nodes in manifest.json match dbt's schema.
    let m: serde_json::Value = serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    let errors = crate::schema::validate(&crate::schema::dbt_schema("manifest-v12.json"), &m);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert_eq!(m["nodes"]["snapshot.snap.check_new_record"]["resource_type"], "snapshot");
    // Renamed meta columns, and the current versions end at dbt_valid_to_current.
    let cols = p.query("snap.duckdb", "select column_name from information_schema.columns where table_name = 'composite_key' order by ordinal_position");
    let cols: Vec<&str> = cols.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(cols, ["id", "region", "status", "scd_id", "changed_at", "valid_from", "valid_to"]);
    assert_eq!(
        p.query("snap.duckdb", "select count(*) from snapshots.composite_key where valid_to = '9999-12-31'"),
        [["4".to_string()]]
    );
}

#[test]
fn snapshot_configs_that_cannot_work_are_located() {
    let p = TestProject::fixture("snapshots");
    p.write(
        "snapshots/check_ignore.sql",
        "{% snapshot check_ignore %}\n{{ config(strategy='check', unique_key='id') }}\nselect * from {{ ref('orders') }}\n{% endsnapshot %}\n",
    );
    p.write(
        "snapshots/timestamp_ignore.sql",
        "{% snapshot timestamp_ignore %}\n{{ config(strategy='timestamp', updated_at='updated_at') }}\nselect * from {{ ref('orders') }}\n{% endsnapshot %}\n",
    );
    let out = p.run(&["snapshot"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}
