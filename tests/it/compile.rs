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

#[test]
fn run_query_graph_and_model_at_compile_time() {
    let p = TestProject::fixture("compile_features");
    let sql = "{% set r = run_query('select 40 + 2 as x, 7 as y') %}{{ r.rows[0][0] if execute }} {{ r.columns[1].values() | list if execute }} {{ r.column_names | join(',') }} {{ graph.nodes.values() | map(attribute='name') | sort | join(',') }} {{ model.name }}";
    let out = p.run(&["compile", "--inline", sql]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "42 [7] x,y base_users,events,user_summary,users_enriched inline_query");
}

#[test]
fn disabled_models_are_left_out_and_refs_to_them_fail() {
    let p = TestProject::fixture("compile_features");
    p.write("models/old.sql", "{{ config(enabled=false) }}\nselect 1 as x\n");
    let out = p.run(&["ls", "--output", "name", "--resource-type", "model"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("old"), "{}", out.stdout);
    p.write("models/uses_old.sql", "select * from {{ ref('old') }}\n");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[E0205]: 'uses_old' depends on 'old', which is disabled"), "{}", out.stderr);
}

#[test]
fn env_var_in_project_file_and_profiles_found_in_home_and_env() {
    let p = TestProject::fixture("compile_features");
    let project = p
        .read("dbt_project.yml")
        .replace("+schema: analytics", "+schema: \"{{ env_var('MART_SCHEMA', 'analytics') }}\"");
    p.write("dbt_project.yml", &project);
    // profiles.yml in ~/.dbt when the project has none.
    let home = p.root.parent().unwrap();
    std::fs::create_dir_all(home.join(".dbt")).unwrap();
    std::fs::rename(p.root.join("profiles.yml"), home.join(".dbt/profiles.yml")).unwrap();
    let out = p.run_env(&["compile", "-s", "user_summary"], &[("MART_SCHEMA", "reporting")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("\"feat\".\"main_reporting\".\"users_summary\""), "{}", out.stdout);
    // DBT_PROFILES_DIR wins over ~/.dbt.
    let elsewhere = home.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        elsewhere.join("profiles.yml"),
        "feat:\n  target: x\n  outputs:\n    x:\n      type: duckdb\n      path: ':memory:'\n      schema: from_env\n",
    )
    .unwrap();
    let out = p
        .run_env(&["compile", "--inline", "{{ target.schema }}"], &[("DBT_PROFILES_DIR", elsewhere.to_str().unwrap())]);
    assert_eq!(out.stdout.trim(), "from_env", "{}", out.stderr);
}

/// The example project's compiled SQL. These snapshots were checked byte for byte against
/// dbt-core 1.10 with dbt-duckdb compiling the same project (ephemeral CTE injection included).
#[test]
fn example_project_compiles_like_dbt() {
    let p = TestProject::from_path(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"),
        "example_project",
    );
    let out = p.run(&["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for model in ["marts/fct_orders", "marts/dim_products", "staging/stg_orders"] {
        let sql = p.read(&format!("target/compiled/shop/models/{model}.sql"));
        insta::assert_snapshot!(model.replace('/', "__"), sql);
    }
}

/// manifest.json after `compile -s`: the selected node and the ephemeral models it inlines carry
/// dbt's compiled fields (checked against dbt-core 1.10 on a project with the same shape); the
/// nodes not compiled carry none. After `run`, the models run have a `build_path`.
#[test]
fn manifest_carries_compiled_code_of_the_nodes_compiled() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["compile", "-s", "user_summary", "--target-path", "out"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let m: serde_json::Value = serde_json::from_str(&p.read("out/manifest.json")).unwrap();
    let errors = crate::schema::validate(&crate::schema::dbt_schema("manifest-v12.json"), &m);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let n = &m["nodes"]["model.feat.user_summary"];
    assert_eq!(n["compiled"], true);
    assert_eq!(n["compiled_code"].as_str().unwrap(), p.read("out/compiled/feat/models/marts/user_summary.sql"));
    assert_eq!(n["compiled_path"], "out/compiled/feat/models/marts/user_summary.sql");
    assert_eq!(n["extra_ctes_injected"], true);
    assert_eq!(n["build_path"], serde_json::Value::Null);
    let ctes: Vec<&str> = n["extra_ctes"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ctes, ["model.feat.base_users", "model.feat.users_enriched"]);
    let first = n["extra_ctes"][0]["sql"].as_str().unwrap();
    assert!(first.starts_with(" __dbt__cte__base_users as (\n") && first.ends_with("\n)"), "{first}");
    // The ephemeral models were compiled (to be inlined), and their files written, as dbt does.
    let eph = &m["nodes"]["model.feat.users_enriched"];
    assert_eq!(eph["compiled"], true);
    assert_eq!(eph["compiled_code"].as_str().unwrap(), p.read("out/compiled/feat/models/users_enriched.sql"));
    // A model not selected was not compiled.
    assert!(m["nodes"]["model.feat.events"].get("compiled").is_none());

    p.query("feat.duckdb", "create schema app_raw");
    p.query("feat.duckdb", "create table app_raw.raw_events as select 1 as user_id, 500 as amount_cents");
    let out = p.run(&["run", "-s", "events"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let m: serde_json::Value = serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    assert_eq!(m["nodes"]["model.feat.events"]["build_path"], "target/run/feat/models/events.sql");
    assert!(p.read("target/run/feat/models/events.sql").contains("create"));
}
