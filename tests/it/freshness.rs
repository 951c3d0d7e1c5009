//! `strata source freshness` (tests/fixtures/freshness): thresholds merged from source and
//! table, `filter`, `loaded_at_query`, sources.json against dbt's sources v3 schema, exit codes,
//! `source_status:fresher` with `--state`, and bad freshness blocks as located diagnostics. The
//! grades and the sources.json entries are what dbt-core 1.10 + dbt-duckdb 1.11 wrote for the
//! same project (ages are relative to now and far from every threshold).

use crate::util::TestProject;
use serde_json::Value as Json;

fn statuses(v: &Json) -> Vec<(String, String)> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["unique_id"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn source_freshness_grades_sources_as_dbt_does() {
    let p = TestProject::fixture("freshness");
    let out = p.run(&["source", "freshness"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    // Parsed: a threshold with nothing to look at is dbt's warning.
    assert!(out.stderr.contains("warning[W0206]: The configured adapter does not support metadata-based freshness. A loaded_at_field must be specified for source 'raw.nofield'."), "{}", out.stderr);
    let lines: Vec<String> = p
        .normalize(&out.stderr)
        .lines()
        .filter(|l| l.contains(" freshness of ") && !l.contains("START"))
        .map(|l| l.split(" ... ").next().unwrap_or(l).to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "1 of 6 ERROR STALE freshness of raw.customers",
            "2 of 6 ERROR STALE freshness of raw.events",
            "3 of 6 ERROR freshness of raw.missing",
            "4 of 6 ERROR freshness of raw.nofield",
            "5 of 6 WARN freshness of raw.orders",
            "6 of 6 PASS freshness of raw.recent",
        ]
    );
    assert!(out.stderr.contains("Failure in source customers (models/sources.yml)\n"), "{}", out.stderr);
    assert!(out.stderr.contains("Could not compute freshness for source nofield: no 'loaded_at_field' provided"));
    let v: Json = serde_json::from_str(&p.read("target/sources.json")).unwrap();
    let errors = crate::schema::validate(&crate::schema::dbt_schema("sources-v3.json"), &v);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // As dbt: the sources that could not be checked are not listed.
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        statuses(&v),
        [
            s("source.freshness.raw.customers", "error"),
            s("source.freshness.raw.events", "error"),
            s("source.freshness.raw.orders", "warn"),
            s("source.freshness.raw.recent", "pass"),
        ]
    );
    let events = &v["results"][1];
    assert_eq!(
        events["criteria"],
        serde_json::json!({"warn_after": {"count": 12, "period": "hour"}, "error_after": {"count": 1, "period": "day"}, "filter": "channel = 'app'"})
    );
    // The app row is ten days old (the web row, half an hour, is filtered out).
    let age = events["max_loaded_at_time_ago_in_s"].as_f64().unwrap();
    assert!((864_000.0..864_060.0).contains(&age), "{age}");
    let m: Json = serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    assert_eq!(m["sources"]["source.freshness.raw.recent"]["loaded_at_query"], "select now() - interval 5 minute");
    assert_eq!(m["sources"]["source.freshness.raw.items"]["freshness"], Json::Null);

    // One source, its report elsewhere: a warning is not a failure.
    let out = p.run(&[
        "source",
        "freshness",
        "-s",
        "source:raw.orders",
        "-o",
        &p.root.join("out/fresh.json").to_string_lossy(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Json = serde_json::from_str(&p.read("out/fresh.json")).unwrap();
    assert_eq!(statuses(&v), [("source.freshness.raw.orders".to_string(), "warn".to_string())]);
}

#[test]
fn source_status_fresher_selects_sources_loaded_since_the_state() {
    let p = TestProject::fixture("freshness");
    let state = p.root.join("state").to_string_lossy().to_string();
    let ls = |p: &TestProject| p.run(&["ls", "-s", "source_status:fresher+", "--state", &state]);
    // Without freshness results to compare, the selector says so.
    std::fs::create_dir_all(p.root.join("state")).unwrap();
    assert_eq!(p.run(&["parse", "--target-path", "state"]).code, 0);
    let out = ls(&p);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("the --state folder has no sources.json"), "{}", out.stderr);
    assert_eq!(p.run(&["source", "freshness", "--target-path", "state"]).code, 1);
    assert_eq!(p.run(&["source", "freshness"]).code, 1);
    // Only `recent`, whose loaded_at_query reads the clock, is newer on every check.
    assert_eq!(ls(&p).stdout, "source:freshness.raw.recent\n");
    p.query("freshness.duckdb", "insert into raw.orders values (2, now())");
    assert_eq!(p.run(&["source", "freshness"]).code, 1);
    let out = ls(&p);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "freshness.stg_orders\nsource:freshness.raw.orders\nsource:freshness.raw.recent\n");
}

#[test]
fn bad_freshness_is_a_located_diagnostic() {
    let p = TestProject::fixture("freshness");
    let yaml = p.read("models/sources.yml");
    let yaml = yaml
        .replace("error_after: {count: 1, period: day}", "error_after: {count: 1, period: days}")
        .replace("          warn_after: {count: 12, period: hour}", "          warn_afer: {count: 12, period: hour}")
        .replace("        loaded_at_field: x\n", "        loaded_at_field: x\n        loaded_at_query: select 1\n");
    p.write("models/sources.yml", &yaml);
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("freshness_diagnostics", p.normalize(&out.stderr));
}
