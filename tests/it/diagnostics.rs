//! Error fixtures: each bad project gives located diagnostics (snapshotted) and exit code 2,
//! and nothing is built.

use crate::util::TestProject;

fn check(name: &str, cmd: &str) -> String {
    let p = TestProject::fixture(name);
    let out = p.run(&[cmd]);
    assert_eq!(out.code, 2, "{name}: expected exit 2\nstderr:\n{}", out.stderr);
    assert!(!p.root.join("test.duckdb").exists() || cmd == "build", "{name}: a database was created");
    p.normalize(&out.stderr)
}

#[test]
fn malformed_yaml() {
    insta::assert_snapshot!(check("err_malformed_yaml", "parse"));
}

#[test]
fn jinja_syntax_error() {
    insta::assert_snapshot!(check("err_jinja_syntax", "parse"));
}

#[test]
fn unknown_ref() {
    insta::assert_snapshot!(check("err_unknown_ref", "parse"));
}

#[test]
fn unknown_source() {
    insta::assert_snapshot!(check("err_unknown_source", "parse"));
}

#[test]
fn cycle() {
    insta::assert_snapshot!(check("err_cycle", "build"));
}

#[test]
fn unknown_config_keys() {
    insta::assert_snapshot!(check("err_unknown_config_key", "parse"));
}

#[test]
fn unknown_model_key() {
    insta::assert_snapshot!(check("err_unknown_model_key", "parse"));
}

#[test]
fn missing_profile() {
    insta::assert_snapshot!(check("err_missing_profile", "run"));
}

/// dbt's parse runs to the end on a cyclic project and exits 0 (dbt-core 1.10: `dbt parse`
/// exits 0, `dbt compile` exits 2 with "Found a cycle"): strata's parse warns where the cycle
/// is, writes the manifest and exits 0; compile stops at it, as `cycle` above shows for build.
#[test]
fn parse_warns_of_a_cycle_and_writes_the_manifest() {
    let p = TestProject::fixture("err_cycle");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.root.join("target/manifest.json")).unwrap()).unwrap();
    let a = &manifest["nodes"]["model.p.a"];
    assert_eq!(a["depends_on"]["nodes"], serde_json::json!(["model.p.b"]), "{a}");
    insta::assert_snapshot!(p.normalize(&out.stderr));
    let out = p.run(&["compile"]);
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("error[E0203]: dependency cycle: a -> b -> c -> a"), "{}", out.stderr);
}

#[test]
fn missing_project_file() {
    let p = TestProject::fixture("err_cycle");
    std::fs::remove_file(p.root.join("dbt_project.yml")).unwrap();
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn missing_target_names_the_ones_that_exist() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["parse", "--target", "prd"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn bad_selector_points_at_the_method() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["ls", "--select", "events tga:nightly"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn bad_vars_is_a_usage_error() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["parse", "--vars", "[1, 2]"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--vars must be a mapping"), "{}", out.stderr);
}

#[test]
fn typo_in_file_config_is_a_located_warning() {
    let p = TestProject::fixture("compile_features");
    p.write("models/typo.sql", "{{ config(materialzed='table') }}\nselect 1 as x\n");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn unknown_doc_block_is_an_error_with_suggestion() {
    let p = TestProject::fixture("compile_features");
    p.write("models/docs.md", "{% docs user_id %}The user.{% enddocs %}\n");
    p.write("models/more.yml", "version: 2\nmodels:\n  - name: events\n    description: '{{ doc(\"user_idd\") }}'\n");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn a_generic_test_declared_twice_is_located_at_the_second() {
    // The same test on the same column twice has one unique id, as in dbt: the first is kept,
    // the second is the error. A disabled copy is no clash; other tests are unaffected.
    let p = TestProject::fixture("compile_features");
    p.write(
        "models/tests.yml",
        "version: 2\nmodels:\n  - name: events\n    columns:\n      - name: user_id\n        data_tests:\n          - not_null\n          - unique\n          - not_null\n  - name: base_users\n    columns:\n      - name: id\n        data_tests:\n          - not_null:\n              config:\n                enabled: false\n          - not_null\n",
    );
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn unreadable_file_is_a_diagnostic() {
    let p = TestProject::fixture("compile_features");
    std::fs::write(p.root.join("models/latin1.sql"), b"select '\xe9t\xe9' as x\n").unwrap();
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("error[E0007]: cannot read models/latin1.sql"), "{}", out.stderr);
}

#[test]
fn a_missing_profiles_file_names_the_profile_and_where_strata_looked() {
    let p = TestProject::fixture("err_missing_profile");
    std::fs::remove_file(p.root.join("profiles.yml")).unwrap();
    let out = p.run(&["run"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let err = p.normalize(&out.stderr);
    assert!(err.contains("error[E0307]: no profiles.yml found for profile 'p'"), "{err}");
    assert!(err.contains("= note: searched: [PROJECT], [TMP]/.dbt"), "{err}");
}

/// A dbt_project.yml that does not parse is reported alone: without a readable `profile:` there
/// is no profile to look for, and no "profile '' not found" to add.
#[test]
fn unreadable_project_file_is_the_only_error() {
    let p = TestProject::fixture("compile_features");
    let text = p.read("dbt_project.yml");
    p.write("dbt_project.yml", &format!("{text}\non-run-end:\n  - \"a \"b\" c\"\n"));
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[E0001]: invalid YAML"), "{}", out.stderr);
    assert!(!out.stderr.contains("E0302"), "{}", out.stderr);
}
