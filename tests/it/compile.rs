//! Compiled SQL snapshots of the `compile_features` fixture: refs, sources, ephemeral CTEs,
//! macros (return, call/caller, dispatch), vars (CLI, project, package-scoped, defaults),
//! configs from every layer, and schema naming overridden by a project macro.

use crate::util::TestProject;

fn compiled(p: &TestProject, model: &str) -> String {
    p.read(&format!("target/compiled/feat/models/{model}.sql"))
}

#[test]
fn compiles_every_feature() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("user_summary", compiled(&p, "marts/user_summary"));
    insta::assert_snapshot!("events", compiled(&p, "events"));
    // Ephemeral models are compiled too (their SQL is what gets inlined).
    insta::assert_snapshot!("users_enriched", compiled(&p, "users_enriched"));
}

#[test]
fn compile_select_prints_sql_to_stdout() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["compile", "-s", "events", "--vars", "{min_amount: 99}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("where e.amount_cents >= 99"), "{}", out.stdout);
    assert!(out.stderr.contains("Compiled node 'events' is:"));
}

#[test]
fn compile_inline() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["compile", "--inline", "select * from {{ ref('events') }} where x = {{ var('min_amount') }}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "select * from \"feat\".\"main\".\"events\" where x = 10");
}

#[test]
fn prod_target_uses_the_project_schema_macro() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["compile", "-s", "user_summary", "--target", "prod"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("-- this: \"prod\".\"analytics\".\"users_summary\" / target: prod prod duckdb"),
        "{}",
        out.stdout
    );
}

#[test]
fn env_var_in_profile_is_rendered() {
    let p = TestProject::fixture("compile_features");
    let out = p.run_env(
        &["compile", "--inline", "select '{{ target.path }}' as p, '{{ target.database }}' as d"],
        &[("FEAT_DB_PATH", "other.duckdb")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("other.duckdb' as p, 'other' as d"), "{}", out.stdout);
}

#[test]
fn ls_selects_with_graph_operators_and_methods() {
    let p = TestProject::fixture("compile_features");
    let run = |sel: &[&str]| {
        let mut args = vec!["ls", "--output", "name"];
        args.extend_from_slice(sel);
        let out = p.run(&args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(run(&["-s", "+events"]), vec!["events", "app.events"]);
    assert_eq!(run(&["-s", "tag:nightly"]), vec!["user_summary"]);
    assert_eq!(run(&["-s", "tag:from_yaml,tag:pii"]), vec!["user_summary"]);
    assert_eq!(run(&["-s", "base_users+", "--exclude", "users_enriched"]), vec!["base_users", "user_summary"]);
    assert_eq!(run(&["-s", "config.materialized:ephemeral"]), vec!["base_users", "users_enriched"]);
    assert_eq!(run(&["-s", "path:models/marts"]), vec!["user_summary"]);
    assert_eq!(run(&["-s", "source:app+1", "--resource-type", "model"]), vec!["base_users", "events"]);
    assert_eq!(run(&["-s", "1+users_enriched"]), vec!["base_users", "users_enriched"]);
}

#[test]
fn ls_json_has_resolved_config_and_depends_on() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["ls", "-s", "user_summary", "--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["config"]["materialized"], "table");
    assert_eq!(v["config"]["alias"], "users_summary");
    assert_eq!(v["config"]["schema"], "analytics");
    assert_eq!(v["config"]["meta"]["owner"], "analytics");
    assert_eq!(v["tags"], serde_json::json!(["nightly", "from_yaml", "pii"]));
    assert_eq!(v["config"]["pre-hook"], serde_json::json!(["select 'folder hook'"]));
    assert_eq!(v["depends_on"]["nodes"], serde_json::json!(["model.feat.events", "model.feat.users_enriched"]));
}
