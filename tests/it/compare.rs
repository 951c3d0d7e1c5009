//! Comparing with another build (`--state`): `state:` and `result:` selectors, selectors.yml,
//! `--defer` to a production database in another DuckDB file, and `strata diff`. On
//! tests/fixtures/static_analysis with two targets: prod (prod.duckdb, artifacts in prod_target/)
//! and dev (dev.duckdb).

use crate::util::TestProject;

const PROFILES: &str = "sa:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: dev.duckdb\n    prod:\n      type: duckdb\n      path: prod.duckdb\n";

/// The fixture built into prod, with its artifacts in prod_target/.
fn with_prod() -> (TestProject, String) {
    let p = TestProject::fixture("static_analysis");
    p.write("profiles.yml", PROFILES);
    let out = p.run(&["build", "--target", "prod", "--target-path", "prod_target"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let state = p.root.join("prod_target").to_string_lossy().to_string();
    (p, state)
}

fn ls(p: &TestProject, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ls", "--output", "name"];
    all.extend(args);
    let out = p.run(&all);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn state_selectors_pick_what_changed_against_the_state() {
    let (p, state) = with_prod();
    assert!(ls(&p, &["-s", "state:modified", "--state", &state]).is_empty());
    assert_eq!(ls(&p, &["-s", "state:old", "--state", &state]).len(), 5);

    // A body change, a config change and a new model.
    p.write("models/city_counts.sql", "select city, count(*) as n\nfrom {{ ref('people_clean') }}\ngroup by city\n");
    p.write(
        "models/clean.yml",
        "version: 2\nmodels:\n  - name: people_clean\n    config:\n      materialized: table\n",
    );
    p.write("models/extra.sql", "select 1 as one\n");
    assert_eq!(ls(&p, &["-s", "state:new", "--state", &state]), ["extra"]);
    assert_eq!(ls(&p, &["-s", "state:modified", "--state", &state]), ["city_counts", "extra", "people_clean"]);
    // As in dbt, a new node counts as modified in every sub-selector.
    assert_eq!(ls(&p, &["-s", "state:modified.body", "--state", &state]), ["city_counts", "extra"]);
    assert_eq!(ls(&p, &["-s", "state:modified.configs", "--state", &state]), ["extra", "people_clean"]);
    assert_eq!(ls(&p, &["-s", "state:modified.relation", "--state", &state]), ["extra"]);
    assert_eq!(
        ls(&p, &["-s", "state:modified.body+", "--state", &state]),
        ["city_counts", "extra", "report"],
        "the graph operator applies to the state selection"
    );
    assert_eq!(
        ls(&p, &["-s", "state:modified", "--exclude", "state:new", "--state", &state]),
        ["city_counts", "people_clean"]
    );
    // A description only counts when persist_docs writes it.
    p.write("models/props.yml", "version: 2\nmodels:\n  - name: report\n    description: The report.\n");
    assert!(!ls(&p, &["-s", "state:modified", "--state", &state]).contains(&"report".to_string()));
    p.write(
        "models/props.yml",
        "version: 2\nmodels:\n  - name: report\n    description: The report.\n    config:\n      persist_docs: {relation: true}\n",
    );
    assert_eq!(ls(&p, &["-s", "state:modified.persisted_descriptions", "--state", &state]), ["extra", "report"]);

    // A macro that a model calls, through another macro.
    p.write(
        "macros/m.sql",
        "{% macro shout(x) %}upper({{ x }}){% endmacro %}\n{% macro loud(x) %}{{ shout(x) }}{% endmacro %}\n",
    );
    let (p2, state2) = (&p, {
        let out = p.run(&["parse", "--target-path", "macro_state"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        p.root.join("macro_state").to_string_lossy().to_string()
    });
    p2.write("models/extra.sql", "select {{ loud(\"'a'\") }} as one\n");
    assert!(ls(p2, &["-s", "state:modified.macros", "--state", &state2]).is_empty());
    p2.write(
        "macros/m.sql",
        "{% macro shout(x) %}lower({{ x }}){% endmacro %}\n{% macro loud(x) %}{{ shout(x) }}{% endmacro %}\n",
    );
    assert_eq!(ls(p2, &["-s", "state:modified.macros", "--state", &state2]), ["extra"]);
}

#[test]
fn result_selectors_read_the_states_run_results() {
    let (p, state) = with_prod();
    assert_eq!(ls(&p, &["-s", "result:success", "--state", &state]).len(), 5);
    // A failing model: result:error picks it, and result:error+ what it blocked.
    p.write("models/city_counts.sql", "select nope from {{ ref('people_clean') }}\n");
    let out = p.run(&["build", "--target", "prod", "--target-path", "prod_target", "--static-analysis", "off"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(ls(&p, &["-s", "result:error", "--state", &state]), ["city_counts"]);
    assert_eq!(ls(&p, &["-s", "result:skip", "--state", &state]), ["report"]);
}

#[test]
fn defer_reads_unselected_parents_from_the_production_database() {
    let (p, state) = with_prod();
    // A table, so that dev.duckdb can be read without prod attached.
    let counts = p.read("models/city_counts.sql");
    p.write("models/city_counts.sql", &format!("{{{{ config(materialized='table') }}}}\n{counts}"));
    let out = p.run(&["run", "-s", "city_counts", "--defer", "--state", &state]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Deferred 4 unselected nodes to the --state build"), "{}", out.stderr);
    let compiled = p.read("target/compiled/sa/models/city_counts.sql");
    assert!(compiled.contains("\"prod\".\"main\".\"people_clean\""), "{compiled}");
    assert_eq!(p.query("dev.duckdb", "select sum(people) from city_counts"), [["3"]]);
    // dev has only what was selected.
    assert_eq!(
        p.query("dev.duckdb", "select count(*) from information_schema.tables where table_catalog = 'dev'"),
        [["1"]]
    );
    // Once dev has the parent, it is used; --favor-state prefers prod's all the same.
    assert_eq!(p.run(&["run", "-s", "people_clean", "--defer", "--state", &state]).code, 0);
    assert_eq!(p.run(&["run", "-s", "city_counts", "--defer", "--state", &state]).code, 0);
    assert!(p.read("target/compiled/sa/models/city_counts.sql").contains("\"dev\".\"main\".\"people_clean\""));
    assert_eq!(p.run(&["run", "-s", "city_counts", "--defer", "--favor-state", "--state", &state]).code, 0);
    assert!(p.read("target/compiled/sa/models/city_counts.sql").contains("\"prod\".\"main\".\"people_clean\""));
}

#[test]
fn diff_shows_sql_column_changes_and_what_is_downstream() {
    let (p, state) = with_prod();
    let same = p.run(&["diff", "--state", &state, "--exit-code"]);
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert_eq!(same.stdout, "0 new, 0 modified, 0 removed; 0 with breaking changes\n");

    // city_counts renames `people` (which report reads), by_city is removed, extra is new.
    p.write("models/city_counts.sql", "select city, count(*) as n\nfrom {{ ref('people_clean') }}\ngroup by city\n");
    std::fs::remove_file(p.root.join("models/by_city.sql")).unwrap();
    p.write("models/extra.sql", "select 1 as one\n");
    let out = p.run(&["diff", "--state", &state, "--exit-code"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!("diff_output", p.normalize(&out.stdout));
    assert_eq!(p.run(&["diff", "--state", &state]).code, 0, "without --exit-code a difference is not a failure");
}

#[test]
fn a_bad_state_folder_or_selector_is_a_located_diagnostic() {
    let (p, state) = with_prod();
    assert_eq!(p.run(&["parse"]).code, 0);
    let before = p.read("target/manifest.json");
    let missing = p.root.join("nowhere").to_string_lossy().to_string();
    let out = p.run(&["build", "--state", &missing, "-s", "state:modified"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("error[E0605]") && out.stderr.contains("no manifest.json"), "{}", out.stderr);

    // A state of another project.
    let other = TestProject::fixture("incremental");
    assert_eq!(other.run(&["parse"]).code, 0);
    let other_state = other.root.join("target").to_string_lossy().to_string();
    let out = p.run(&["ls", "-s", "state:modified", "--state", &other_state]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("that build is of project 'inc', this project is 'sa'"), "{}", out.stderr);

    let out = p.run(&["ls", "-s", "state:modified.bdy", "--state", &state]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("bad_state_selector", p.normalize(&out.stderr));
    let out = p.run(&["ls", "-s", "result:fail"]);
    assert!(out.code == 2 && out.stderr.contains("no --state was given"), "{}", out.stderr);
    assert!(p.read("target/manifest.json") == before, "nothing is written");
}

#[test]
fn selectors_yml_unions_intersections_and_excludes() {
    let p = TestProject::fixture("static_analysis");
    p.write(
        "selectors.yml",
        r#"selectors:
  - name: below_clean
    description: people_clean and what reads it, but not the report
    definition:
      union:
        - method: fqn
          value: people_clean
          children: true
        - exclude:
            - report
  - name: views_only
    default: true
    definition:
      intersection:
        - "config.materialized:view"
        - method: path
          value: models
  - name: near_report
    definition:
      method: fqn
      value: report
      parents: true
      parents_depth: 1
"#,
    );
    assert_eq!(ls(&p, &["--selector", "below_clean"]), ["by_city", "city_counts", "people_clean"]);
    assert_eq!(ls(&p, &["--selector", "near_report"]), ["city_counts", "people_clean", "report"]);
    assert_eq!(ls(&p, &["--selector", "near_report", "--exclude", "city_counts"]), ["people_clean", "report"]);
    // The default selector applies when nothing is selected.
    assert_eq!(ls(&p, &[]), ["city_counts", "people_clean", "report"]);
    assert_eq!(ls(&p, &["-s", "people"]), ["people"]);

    let out = p.run(&["ls", "--selector", "below_clen"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("unknown_named_selector", p.normalize(&out.stderr));
    p.write("selectors.yml", "selectors:\n  - name: broken\n    definition:\n      method: tga\n      value: x\n");
    let out = p.run(&["ls"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("bad_selectors_yml", p.normalize(&out.stderr));
}
