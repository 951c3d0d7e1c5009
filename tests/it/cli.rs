//! The command line as a user meets it: help, version, init, debug, clean, JSON logs.

use crate::util::TestProject;

#[test]
fn help_lists_the_commands() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["--help"]);
    assert_eq!(out.code, 0);
    for c in ["init", "debug", "parse", "compile", "run", "seed", "build", "ls", "show", "clean"] {
        assert!(out.stdout.contains(&format!("  {c}")), "missing {c} in\n{}", out.stdout);
    }
}

#[test]
fn unknown_flag_is_exit_2() {
    let p = TestProject::fixture("compile_features");
    assert_eq!(p.run(&["build", "--no-such-flag"]).code, 2);
}

#[test]
fn init_creates_a_project_that_builds() {
    let p = TestProject::fixture("compile_features");
    let parent = p.root.parent().unwrap().to_path_buf();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["init", "fresh_project"])
        .current_dir(&parent)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let fresh = TestProject::from_path(&parent.join("fresh_project"), "fresh_project");
    let build = fresh.run(&["build"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert_eq!(
        fresh.query("fresh_project.duckdb", "select count(*) from main.my_second_model"),
        vec![vec!["1".to_string()]]
    );
    let debug = fresh.run(&["debug"]);
    assert_eq!(debug.code, 0, "{}", debug.stderr);
    assert!(debug.stderr.contains("All checks passed!"));
}

#[test]
fn clean_removes_target() {
    let p = TestProject::fixture("compile_features");
    assert_eq!(p.run(&["compile"]).code, 0);
    assert!(p.root.join("target/compiled").exists());
    let out = p.run(&["clean"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!p.root.join("target").exists());
}

#[test]
fn json_log_format_emits_json_lines() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["parse", "--log-format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for line in out.stderr.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["info"]["msg"].is_string());
    }
}

#[test]
fn json_log_lines_carry_each_nodes_data() {
    let p = TestProject::fixture("rebuild_keeps_table");
    let out = p.run(&["seed", "--log-format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> = out.stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let data = |status: &str| lines.iter().find(|v| v["data"]["status"] == status).map(|v| v["data"].clone());
    let started = data("started").unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(started["node"].as_str().unwrap().starts_with("seed."), "{started}");
    assert!(started["index"] == 1 && started["total"].as_u64() > Some(0), "{started}");
    let done = data("success").unwrap_or_else(|| panic!("{}", out.stderr));
    assert_eq!(done["node"], started["node"]);
    assert!(done["message"].as_str().unwrap().starts_with("INSERT "), "{done}");
    assert!(done["execution_time"].is_number(), "{done}");
}

#[test]
fn target_path_and_log_path_flags() {
    let p = TestProject::fixture("compile_features");
    let out = p.run(&["compile", "--target-path", "elsewhere", "--log-path", "mylogs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Relative to the project folder, as dbt runs from there.
    assert!(p.root.join("elsewhere/compiled/feat/models/events.sql").exists());
    assert!(p.root.join("mylogs/dbt.log").exists());
}

/// The database's columns are read for the static analysis only when a model reads a relation
/// the project does not build, such as a source: a project whose models read only its seeds and
/// models never asks.
#[test]
fn the_database_columns_are_read_only_when_a_model_needs_them() {
    let p = TestProject::fixture("rebuild_keeps_table");
    let out = p.run(&["build", "--debug"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("compiled and analysed: "), "{}", out.stderr);
    assert!(!out.stderr.contains("database columns read:"), "{}", out.stderr);
    assert_eq!(p.query("rebuild.duckdb", "select count(*) from facts_view"), vec![vec!["3".to_string()]]);

    let p = TestProject::fixture("open_sources");
    std::fs::remove_file(p.root.join("models/bad.sql")).unwrap();
    let out = p.run(&["build", "--debug"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("database columns read: "), "{}", out.stderr);
    assert_eq!(p.query("open.duckdb", "select count(*) from fct_orders"), vec![vec!["3".to_string()]]);
}

/// A run opens its database while the project parses, a new file included. A command that stops
/// before it connects (here at an unknown selector, found after parsing) leaves no file behind;
/// one that connects keeps it.
#[test]
fn a_build_that_stops_before_connecting_leaves_no_new_database() {
    let p = TestProject::fixture("data_tests");
    assert!(!p.root.join("dt.duckdb").exists());
    let out = p.run(&["build", "--selector", "nope"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("error[E0603]: no selector named 'nope'"), "{}", out.stderr);
    assert!(!p.root.join("dt.duckdb").exists(), "the database opened early was left behind");
    assert!(!p.root.join("dt.duckdb.wal").exists());
    let out = p.run(&["build", "-s", "greetings", "+calendar_days"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(p.root.join("dt.duckdb").exists());
}

#[test]
fn debug_lines_go_to_the_log_file_and_to_stderr_under_debug() {
    let p = TestProject::fixture("rebuild_keeps_table");
    let out = p.run(&["seed"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("catalog read:"), "{}", out.stderr);
    let log = std::fs::read_to_string(p.root.join("logs/dbt.log")).unwrap();
    assert!(log.contains("catalog read: "), "{log}");
    assert!(log.contains("on-run-start: "), "{log}");
    let out = p.run(&["seed", "--debug"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("catalog read: "), "{}", out.stderr);
    let out = p.run(&["-d", "seed"]);
    assert!(out.stderr.contains("connected: "), "{}", out.stderr);
}
