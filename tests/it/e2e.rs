//! End-to-end runs against a temp-dir DuckDB file.

use crate::util::TestProject;

/// (unique id, status) of each result in target/run_results.json, in its order.
fn result_statuses(p: &TestProject) -> Vec<(String, String)> {
    let rr: serde_json::Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["unique_id"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect()
}

fn rows(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

#[test]
fn example_project_builds_with_the_expected_contents() {
    let p = TestProject::from_path(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"),
        "example_project",
    );
    let out = p.run(&["build", "--threads", "4"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Completed successfully"), "{}", out.stderr);
    let db = "target/shop.duckdb";
    // Seeds land in the custom schema main_raw with dbt's inferred types.
    assert_eq!(
        p.query(db, "select column_name, data_type from information_schema.columns where table_schema = 'main_raw' and table_name = 'raw_payments' order by ordinal_position"),
        rows(&[&["id", "INTEGER"], &["order_id", "INTEGER"], &["payment_method", "VARCHAR"], &["amount_cents", "INTEGER"], &["paid_at", "TIMESTAMP"]])
    );
    // Every seed row arrives.
    assert_eq!(p.query(db, "select count(*) from main_raw.raw_orders"), rows(&[&["1500"]]));
    // Staging models are views, marts are tables; the ephemeral model is not in the database.
    assert_eq!(
        p.query(db, "select table_schema, table_name, table_type from information_schema.tables where table_schema in ('main', 'web') order by all"),
        rows(&[
            &["main", "customer_segments", "BASE TABLE"],
            &["main", "daily_revenue", "BASE TABLE"],
            &["main", "dim_customers", "BASE TABLE"],
            &["main", "dim_products", "BASE TABLE"],
            &["main", "fct_orders", "BASE TABLE"],
            &["main", "latest_revenue_day", "VIEW"],
            &["main", "revenue_export", "VIEW"],
            &["main", "stg_customers", "VIEW"],
            &["main", "stg_order_items", "VIEW"],
            &["main", "stg_orders", "VIEW"],
            &["main", "stg_payments", "VIEW"],
            &["main", "stg_products", "VIEW"],
            &["main", "stg_web_sessions", "VIEW"],
            &["web", "sessions", "BASE TABLE"],
        ])
    );
    // Marts agree with the raw data they are built from.
    assert_eq!(
        p.query(db, "select count(*), count(distinct order_id) from main.fct_orders"),
        rows(&[&["1500", "1500"]])
    );
    assert_eq!(
        p.query(db, "select (select sum(amount_cents) from main_raw.raw_payments) = (select cast(round(sum(amount_paid) * 100) as bigint) from main.fct_orders)"),
        rows(&[&["true"]])
    );
    assert_eq!(
        p.query(db, "select (select sum(order_amount) from main.fct_orders where status in ('shipped', 'completed')) = (select sum(revenue) from main.daily_revenue)"),
        rows(&[&["true"]])
    );
    assert_eq!(p.query(db, "select count(*) from main.dim_customers"), rows(&[&["400"]]));
    // The python model segments every customer; the external model is a view over its file.
    assert_eq!(
        p.query(
            db,
            "select (select sum(customers) from main.customer_segments) = (select count(*) from main.dim_customers)"
        ),
        rows(&[&["true"]])
    );
    assert!(p.root.join("target/exports/revenue_export.parquet").is_file());
    assert_eq!(
        p.query(db, "select (select count(*) from main.revenue_export) = (select count(*) from main.daily_revenue)"),
        rows(&[&["true"]])
    );
    // The post-hook ran after daily_revenue was built.
    assert_eq!(
        p.query(db, "select (select max(order_date) from main.daily_revenue) = (select order_date from main.latest_revenue_day)"),
        rows(&[&["true"]])
    );
    // run_results.json lists every node as a success and each of the 8 data tests and the unit test as a pass.
    let rr: serde_json::Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let results = rr["results"].as_array().unwrap();
    assert_eq!(results.len(), 26);
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count();
    assert_eq!((count("success"), count("pass")), (17, 9));
}

#[test]
fn failing_rebuild_leaves_the_previous_table_and_view_intact() {
    let p = TestProject::fixture("rebuild_keeps_table");
    let db = "rebuild.duckdb";
    let first = p.run(&["build"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(p.query(db, "select count(*), min(version) from main.facts_view"), rows(&[&["3", "v1"]]));

    let broken = p.run(&["run", "--vars", "{broken: true}"]);
    assert_eq!(broken.code, 1, "{}", broken.stderr);
    assert!(broken.stderr.contains("Database Error in model facts (models/facts.sql)"), "{}", broken.stderr);
    assert!(broken.stderr.contains("this_column_does_not_exist"), "{}", broken.stderr);
    assert!(broken.stderr.contains("SKIP relation main.facts_view"), "{}", broken.stderr);
    // The table kept its rows and no temporary relation was left behind.
    assert_eq!(p.query(db, "select count(*), min(version) from main.facts"), rows(&[&["3", "v1"]]));
    assert_eq!(
        p.query(db, "select count(*) from information_schema.tables where table_name like '%strata_tmp%'"),
        rows(&[&["0"]])
    );

    let fixed = p.run(&["run", "--vars", "{version: v2}"]);
    assert_eq!(fixed.code, 0, "{}", fixed.stderr);
    assert_eq!(p.query(db, "select count(*), min(version) from main.facts_view"), rows(&[&["3", "v2"]]));
}

#[test]
fn seeds_follow_dbt_typing_and_reseeding_replaces_rows() {
    let p = TestProject::fixture("rebuild_keeps_table");
    let db = "rebuild.duckdb";
    let out = p.run(&["seed"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("OK loaded seed file main.codes"), "{}", out.stderr);
    assert!(out.stderr.contains("[INSERT 2 in"), "{}", out.stderr);
    assert_eq!(
        p.query(db, "select column_name, data_type from information_schema.columns where table_name = 'codes' order by ordinal_position"),
        rows(&[&["code", "VARCHAR"], &["label", "VARCHAR"], &["amount", "DOUBLE"], &["day", "DATE"]])
    );
    assert_eq!(
        p.query(db, "select code, amount from main.codes order by code"),
        rows(&[&["007", "1.5"], &["010", "NULL"]])
    );
    p.write("seeds/codes.csv", "code,label,amount,day\n011,third,2,2024-01-04\n");
    assert_eq!(p.run(&["seed"]).code, 0);
    assert_eq!(p.query(db, "select code, label from main.codes"), rows(&[&["011", "third"]]));
}

#[test]
fn runtime_error_builds_the_rest_and_exits_1() {
    let p = TestProject::fixture("err_sql_runtime");
    let out = p.run(&["build"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let text = p.normalize(&out.stderr);
    assert!(text.contains("Done. PASS=2 WARN=0 ERROR=1 SKIP=1 NO-OP=0 TOTAL=4"), "{text}");
    assert!(text.contains("compiled code at [PROJECT]/target/compiled/p/models/bad.sql"), "{text}");
    assert_eq!(p.query("test.duckdb", "select id from main.sibling"), rows(&[&["2"]]));
    let status = result_statuses(&p);
    assert_eq!(
        status,
        vec![
            ("model.p.after_bad".to_string(), "skipped".to_string()),
            ("model.p.bad".to_string(), "error".to_string()),
            ("model.p.good".to_string(), "success".to_string()),
            ("model.p.sibling".to_string(), "success".to_string()),
        ]
    );
}

#[test]
fn fail_fast_skips_the_rest() {
    let p = TestProject::fixture("err_sql_runtime");
    // One thread: good, then bad (ids in order), which fails and stops the rest.
    let out = p.run(&["build", "--fail-fast", "--threads", "1"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let text = p.normalize(&out.stderr);
    assert!(text.contains("Done. PASS=1 WARN=0 ERROR=1 SKIP=2 NO-OP=0 TOTAL=4"), "{text}");
    assert_eq!(
        p.query("test.duckdb", "select count(*) from information_schema.tables where table_name = 'sibling'"),
        rows(&[&["0"]])
    );
}

#[test]
fn show_prints_rows_to_stdout() {
    let p = TestProject::fixture("rebuild_keeps_table");
    assert_eq!(p.run(&["build"]).code, 0);
    let out = p.run(&["show", "-s", "facts_view", "--limit", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 4, "{}", out.stdout);
    assert!(out.stdout.starts_with("| id | version |\n| -- | ------- |\n"), "{}", out.stdout);
    let ordered = p.run(&["show", "--inline", "select * from {{ ref('facts_view') }} order by id desc"]);
    insta::assert_snapshot!(ordered.stdout);
    let inline = p.run(&["show", "--inline", "select 42 as answer, 'x' as label"]);
    assert_eq!(inline.stdout, "| answer | label |\n| ------ | ----- |\n|     42 | x     |\n");
}

#[test]
fn compile_features_build_and_hooks_run() {
    // The fixture's sources do not exist; on-run-start creates them, then everything builds.
    let p = TestProject::fixture("compile_features");
    p.write(
        "dbt_project.yml",
        &(p.read("dbt_project.yml")
            + "on-run-start:\n  - \"create schema if not exists app_raw; create or replace table app_raw.users as select 1 as id, 'ann' as name; create or replace table app_raw.raw_events as select 1 as user_id, 1500 as amount_cents\"\non-run-end:\n  - \"create or replace table main.run_log as select '{{ target.name }}' as target\"\n"),
    );
    let out = p.run(&["run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let db = "feat.duckdb";
    assert_eq!(
        p.query(db, "select id, shout, n_events from main_analytics.users_summary"),
        rows(&[&["1", "ann!", "1"]])
    );
    assert_eq!(p.query(db, "select target from main.run_log"), rows(&[&["dev"]]));
}

#[test]
fn project_materialization_overrides_the_builtin() {
    let p = TestProject::fixture("rebuild_keeps_table");
    // A project `view` materialization that builds a table and records what it did.
    p.write(
        "macros/materializations.sql",
        "{% materialization view, default %}\n  {% call statement('main') %}create or replace table {{ this }} as ({{ sql }}){% endcall %}\n  {% call statement('log') %}create table if not exists main.mat_log as select '{{ this.identifier }}' as built{% endcall %}\n{% endmaterialization %}\n",
    );
    let out = p.run(&["run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        p.query("rebuild.duckdb", "select table_type from information_schema.tables where table_name = 'facts_view'"),
        rows(&[&["BASE TABLE"]])
    );
    assert_eq!(p.query("rebuild.duckdb", "select built from main.mat_log"), rows(&[&["facts_view"]]));
}

#[test]
fn incremental_appends_then_full_refresh_rebuilds() {
    let p = TestProject::fixture("rebuild_keeps_table");
    p.write(
        "models/events_incr.sql",
        "{{ config(materialized='incremental', unique_key='id') }}\nselect range as id, '{{ var('batch', 'a') }}' as batch from range({{ var('n', 2) }})\n{% if is_incremental() %}where range >= (select max(id) from {{ this }}){% endif %}\n",
    );
    let db = "rebuild.duckdb";
    assert_eq!(p.run(&["run", "-s", "events_incr"]).code, 0);
    assert_eq!(p.query(db, "select id, batch from main.events_incr order by id"), rows(&[&["0", "a"], &["1", "a"]]));
    let out = p.run(&["run", "-s", "events_incr", "--vars", "{n: 4, batch: b}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // id 1 is replaced (delete+insert by unique_key), 2 and 3 are new.
    assert_eq!(
        p.query(db, "select id, batch from main.events_incr order by id"),
        rows(&[&["0", "a"], &["1", "b"], &["2", "b"], &["3", "b"]])
    );
    let out = p.run(&["run", "-s", "events_incr", "--full-refresh", "--vars", "{n: 1, batch: c}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(p.query(db, "select id, batch from main.events_incr"), rows(&[&["0", "c"]]));
}

#[test]
fn build_output_has_dbt_shape() {
    let p = TestProject::fixture("rebuild_keeps_table");
    let out = p.run(&["build", "--threads", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn compiled_and_run_sql_files_are_written() {
    let p = TestProject::fixture("err_sql_runtime");
    assert_eq!(p.run(&["build"]).code, 1);
    // The failed model's compiled SQL is where its error message points.
    assert!(p.read("target/compiled/p/models/bad.sql").contains("select no_such_column"));
    let run = p.read("target/run/p/models/good.sql");
    assert!(run.contains("create table \"test\".\"main\".\"good__strata_tmp\" as ("), "{run}");
    assert!(run.contains("alter table \"test\".\"main\".\"good__strata_tmp\" rename to \"good\""), "{run}");
}

/// dbt_project.yml renders with `target` (configs and vars, as dbt does): a materialization
/// chosen by target type, and a var whose value is Jinja reaching a model rendered.
#[test]
fn dbt_project_yml_renders_with_target() {
    let p = TestProject::fixture("open_sources");
    let project = p.read("dbt_project.yml");
    p.write(
        "dbt_project.yml",
        &format!(
            "{project}vars:\n  max_depth: \"{{{{ 9 if target.type in ['spark'] else -1 }}}}\"\n  schema_of: \"{{{{ target.schema }}}}_x\"\nmodels:\n  open:\n    +materialized: \"{{{{ 'table' if target.type in ['duckdb', 'fabric'] else 'view' }}}}\"\n"
        ),
    );
    p.write("models/depth.sql", "select {{ var('max_depth') | int }} + 1 as d, '{{ var('schema_of') }}' as s\n");
    let out = p.run(&["build", "-s", "depth"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        p.query(
            "open.duckdb",
            "select d, s, (select table_type from information_schema.tables where table_name = 'depth') from depth"
        ),
        rows(&[&["0", "main_x", "BASE TABLE"]])
    );
}

/// A source's database, schema and identifier render with `target` (dbt's property YAML).
#[test]
fn source_names_render_with_target() {
    let p = TestProject::fixture("open_sources");
    std::fs::remove_file(p.root.join("models/bad.sql")).unwrap();
    p.write(
        "models/sources.yml",
        "version: 2\nsources:\n  - name: raw\n    database: \"{{ target.database }}\"\n    schema: \"{{ 'ra' ~ 'w' }}\"\n    tables:\n      - name: orders\n        identifier: \"{{ 'ord' ~ 'ers' }}\"\n",
    );
    let out = p.run(&["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(p.query("open.duckdb", "select count(*) from fct_orders"), rows(&[&["3"]]));
    let compiled = p.read("target/compiled/open/models/stg_orders.sql");
    assert!(compiled.contains("\"open\".\"raw\".\"orders\""), "{compiled}");
}

/// The other files dbt renders: property YAML `config:` (target, var, env_var), selectors.yml
/// (env_var, var) and packages.yml (env_var, var), each checked against dbt-core 1.10.
#[test]
fn property_configs_selectors_and_packages_render_jinja() {
    let p = TestProject::fixture("open_sources");
    std::fs::remove_file(p.root.join("models/bad.sql")).unwrap();
    p.write("models/depth.sql", "select 1 as d\n");
    p.write(
        "models/props.yml",
        "version: 2\nmodels:\n  - name: depth\n    config:\n      materialized: \"{{ 'table' if target.type == 'duckdb' else 'view' }}\"\n      tags: [\"{{ var('tag_name', 'nightly') }}\"]\n",
    );
    p.write(
        "selectors.yml",
        "selectors:\n  - name: tagged\n    definition: \"tag:{{ env_var('STRATA_TEST_TAG', 'nightly') }}\"\n",
    );
    let out = p.run(&["build", "--selector", "tagged"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        p.query("open.duckdb", "select table_type from information_schema.tables where table_name = 'depth'"),
        rows(&[&["BASE TABLE"]])
    );
    let out =
        p.run_env(&["ls", "--selector", "tagged", "--vars", "{tag_name: weekly}"], &[("STRATA_TEST_TAG", "weekly")]);
    assert_eq!(out.stdout, "open.depth\n", "{}", out.stderr);
    // packages.yml: a local package whose path comes from an environment variable.
    std::fs::create_dir_all(p.root.join("libs/tiny/macros")).unwrap();
    p.write("libs/tiny/dbt_project.yml", "name: tiny\nversion: '1.0'\n");
    p.write("libs/tiny/macros/m.sql", "{% macro tiny_one() %}1{% endmacro %}\n");
    p.write("packages.yml", "packages:\n  - local: \"{{ env_var('STRATA_TEST_LIB', 'libs') }}/tiny\"\n");
    let out = p.run_env(&["deps"], &[("STRATA_TEST_LIB", "libs")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.root.join("dbt_packages/tiny/dbt_project.yml").is_file());
}

/// dbt's context beyond the node: `selected_resources`, `invocation_args_dict`, `dbt_version`,
/// `builtins`, and in on-run-end hooks `results`, `schemas` and `database_schemas` (each value
/// as dbt-core 1.10 gives it for the same command).
#[test]
fn run_context_variables_are_dbts() {
    let p = TestProject::fixture("incremental");
    let hook = "create or replace table main.run_log as select \
        '{{ results | map(attribute=\"node\") | map(attribute=\"name\") | sort | join(\",\") }}' as names, \
        '{{ results | map(attribute=\"status\") | unique | join(\",\") }}' as statuses, \
        '{{ schemas | join(\",\") }}' as schemas, \
        '{% for d, s in database_schemas %}{{ d }}.{{ s }}{% endfor %}' as db_schemas";
    let project = p.read("dbt_project.yml");
    p.write("dbt_project.yml", &format!("{project}on-run-end:\n  - |\n    {hook}\n"));
    p.write(
        "models/context_probe.sql",
        "select '{{ selected_resources | sort | join(\",\") }}' as selected, '{{ invocation_args_dict.which }}' as which, \
         '{{ invocation_args_dict.select | join(\" \") }}' as sel, '{{ dbt_version }}' as v, \
         '{{ builtins.ref(\"events\") }}' as events_rel\n",
    );
    let out = p.run(&["build", "-s", "events", "context_probe"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        p.query("inc.duckdb", "select * from context_probe"),
        rows(&[&[
            "model.inc.context_probe,seed.inc.events",
            "build",
            "events context_probe",
            "1.10.0",
            "\"inc\".\"main\".\"events\""
        ]])
    );
    assert_eq!(
        p.query("inc.duckdb", "select * from run_log"),
        rows(&[&["context_probe,events", "success", "main", "inc.main"]])
    );
}

/// Ctrl-C during a build: the node running is stopped and rolled back (its table keeps its old
/// rows), nothing starts after it, what finished is in run_results.json, the cancelled nodes
/// are listed, and the exit code is 130. The interrupt is sent once the slow node has started
/// (read from the progress output), and the slow query could not finish for hours, so the test
/// does not depend on timing.
#[test]
fn ctrl_c_stops_the_run_and_leaves_every_relation_old_or_new() {
    use std::io::BufRead;
    let p = TestProject::fixture("incremental");
    p.write("models/first.sql", "{{ config(materialized='table') }}\nselect {{ var('n', 1) }} as n\n");
    p.write(
        "models/slow.sql",
        "{{ config(materialized='table') }}\nselect {{ var('n', 1) }} as n{% if var('slow', false) %}, (select count(*) from range(1000000000000) t(i) where i % 7 = 3) as c{% endif %}\nfrom {{ ref('first') }}\n",
    );
    p.write("models/after.sql", "{{ config(materialized='table') }}\nselect * from {{ ref('slow') }}\n");
    assert_eq!(p.run(&["run", "-s", "first", "slow", "after"]).code, 0);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["run", "-s", "first", "slow", "after", "--threads", "1", "--vars", "{n: 2, slow: true}"])
        .arg("--project-dir")
        .arg(&p.root)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start strata");
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut seen = vec![];
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("START sql table model main.slow") {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("OK created sql table model main.first")), "{seen:#?}");
    // SAFETY: kill(2) on the pid of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    let text = rest.join("\n");
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(text.contains("CANCEL sql table model main.slow (interrupted; rolled back)"), "{text}");
    assert!(text.contains("CANCEL sql table model main.after (not started)"), "{text}");
    assert!(text.contains("Exited because of keyboard interrupt"), "{text}");
    // first finished (new), slow was rolled back (old), after never started (old).
    assert_eq!(p.query("inc.duckdb", "select n from first"), rows(&[&["2"]]));
    assert_eq!(p.query("inc.duckdb", "select * from slow"), rows(&[&["1"]]));
    assert_eq!(p.query("inc.duckdb", "select * from after"), rows(&[&["1"]]));
    let statuses = result_statuses(&p);
    assert_eq!(
        statuses,
        [("model.inc.first".to_string(), "success".to_string()), ("model.inc.slow".to_string(), "error".to_string())]
    );
}

/// dbt's adapter methods for relations and schemas (create_schema, check_schema_exists,
/// list_schemas, list_relations_without_caching, rename_relation, drop_relation, drop_schema),
/// checked against dbt-core 1.10 + dbt-duckdb: the same values from the same macro.
#[test]
fn adapter_relation_and_schema_methods_are_dbts() {
    let p = TestProject::fixture("incremental");
    p.write("macros/probe.sql", r#"{% macro probe() %}
  {% do run_query("create or replace table main.t1 as select 1 as x") %}
  {% set s = api.Relation.create(database=target.database, schema='extra_s') %}
  {% do adapter.create_schema(s) %}
  {% set exists = adapter.check_schema_exists(target.database, 'extra_s') %}
  {% set t1 = adapter.get_relation(database=target.database, schema='main', identifier='t1') %}
  {% set t2 = api.Relation.create(database=target.database, schema='main', identifier='t2', type='table') %}
  {% do adapter.rename_relation(t1, t2) %}
  {% set rels = adapter.list_relations_without_caching(api.Relation.create(database=target.database, schema='main')) %}
  {% set names = rels | map(attribute='identifier') | list %}
  {% do adapter.drop_relation(adapter.get_relation(database=target.database, schema='main', identifier='t2')) %}
  {% set after = adapter.list_relations_without_caching(api.Relation.create(database=target.database, schema='main')) | map(attribute='identifier') | list %}
  {% do adapter.drop_schema(s) %}
  {% do log("RESULT " ~ exists ~ " " ~ ('t2' in names) ~ " " ~ ('t1' in names) ~ " " ~ ('t2' in after) ~ " " ~ adapter.check_schema_exists(target.database, 'extra_s') ~ " " ~ ('extra_s' in adapter.list_schemas(target.database)), info=True) %}
{% endmacro %}
"#);
    let out = p.run(&["run-operation", "probe"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("RESULT True True False False False False"), "{}", out.stderr);
}
