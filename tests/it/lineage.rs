//! Static analysis before running, the lineage command and its CI check, on
//! tests/fixtures/static_analysis; docs generate on bad input (tests/fixtures/err_docs).

use crate::util::TestProject;

fn with_mistakes() -> TestProject {
    let p = TestProject::fixture("static_analysis");
    p.write("models/typo.sql", "select id, nmae\nfrom {{ ref('people_clean') }}\n");
    p.write("models/ghost.sql", "select * from main.nowhere\n");
    p
}

#[test]
fn unknown_columns_and_relations_are_located_in_the_compiled_sql() {
    let p = with_mistakes();
    // The catalog of an existing database makes unknown relations errors too.
    assert_eq!(p.run(&["seed"]).code, 0);
    let out = p.run(&["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
    let lineage: serde_json::Value = serde_json::from_str(&p.read("target/lineage.json")).unwrap();
    assert_eq!(lineage["nodes"]["model.sa.report"]["columns"][2]["name"], "first_name");
}

#[test]
fn strict_static_analysis_runs_nothing_and_warn_runs_everything() {
    let p = with_mistakes();
    let out = p.run(&["build", "--static-analysis", "strict"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("error[E1001]: typo: column 'nmae' does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was run"), "{}", out.stderr);
    assert!(!out.stderr.contains("START"), "{}", out.stderr);
    // warn (the default): reported first, then the build goes on; DuckDB rejects the typo.
    let out = p.run(&["build"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let warned = out.stderr.find("warning[W1001]").unwrap();
    let started = out.stderr.find("START").unwrap();
    assert!(warned < started, "{}", out.stderr);
    assert!(out.stderr.contains("Done. PASS=5 WARN=0 ERROR=2 SKIP=0"), "{}", out.stderr);
    // off: nothing is analysed.
    let out = p.run(&["compile", "--static-analysis", "off"]);
    assert!(!out.stderr.contains("W1001"), "{}", out.stderr);
}

/// A compile with nothing changed reuses the analyses in target/strata_analysis.bin and reports
/// the same; a model whose SQL did not change is analysed again when what it reads did.
#[test]
fn analyses_are_reused_only_while_what_they_read_is_unchanged() {
    let p = with_mistakes();
    p.write("models/wide.sql", "select * from {{ ref('people') }}\n");
    p.write("models/emails.sql", "select id, email from {{ ref('wide') }}\n");
    assert_eq!(p.run(&["seed"]).code, 0);
    let columns = |p: &TestProject, id: &str| -> Vec<String> {
        let lineage: serde_json::Value = serde_json::from_str(&p.read("target/lineage.json")).unwrap();
        lineage["nodes"][id]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let cold = p.run(&["compile"]);
    assert_eq!(cold.code, 0, "{}", cold.stderr);
    assert!(cold.stderr.contains("emails: column 'email' does not exist"), "{}", cold.stderr);
    let memo = std::fs::read(p.root.join("target/strata_analysis.bin")).unwrap();
    let inode =
        || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p.root.join("target/strata_analysis.bin")).unwrap());
    let first = inode();
    let cold_lineage: serde_json::Value = serde_json::from_str(&p.read("target/lineage.json")).unwrap();
    let warm = p.run(&["compile"]);
    assert_eq!(p.normalize(&warm.stderr), p.normalize(&cold.stderr));
    let warm_lineage: serde_json::Value = serde_json::from_str(&p.read("target/lineage.json")).unwrap();
    assert_eq!(warm_lineage["nodes"], cold_lineage["nodes"]);
    // Everything was reused: the memo was not rewritten (a write replaces the file).
    assert_eq!(inode(), first);
    // The seed gains a column; no model's SQL changes.
    p.write("seeds/people.csv", "id,name,city,email\n1,Ann,Oslo,a@x\n2,Bob,Rome,b@x\n3,Cy,Oslo,c@x\n");
    let out = p.run(&["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(columns(&p, "model.sa.wide"), ["id", "name", "city", "email"]);
    assert!(!out.stderr.contains("'email'"), "{}", out.stderr);
    assert!(out.stderr.contains("typo: column 'nmae' does not exist"), "{}", out.stderr);
    assert_ne!(inode(), first);
    assert_ne!(std::fs::read(p.root.join("target/strata_analysis.bin")).unwrap(), memo);
}

#[test]
fn lineage_command_walks_columns_and_tables() {
    let p = TestProject::fixture("static_analysis");
    assert_eq!(p.run(&["build"]).code, 0);
    let up = p.run(&["lineage", "report.first_name", "--upstream"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    insta::assert_snapshot!("report_first_name_upstream", up.stdout);
    let down = p.run(&["lineage", "people_clean.city", "--downstream", "--output", "json"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    insta::assert_snapshot!("people_clean_city_downstream", down.stdout);
    let dot = p.run(&["lineage", "people", "--downstream", "--depth", "1", "--output", "dot"]);
    assert_eq!(dot.code, 0, "{}", dot.stderr);
    insta::assert_snapshot!("people_dot", dot.stdout);
    let bad = p.run(&["lineage", "peple_clean"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("did you mean 'people_clean'?"), "{}", bad.stderr);
}

#[test]
fn lineage_check_fails_when_a_used_column_is_removed() {
    let p = TestProject::fixture("static_analysis");
    assert_eq!(p.run(&["build"]).code, 0);
    let ok = p.run(&["lineage", "--check"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    // A change drops `city`, which city_counts and report read.
    p.write("models/people_clean.sql", "select id, upper(name) as name from {{ ref('people') }}\n");
    let out = p.run(&["lineage", "--check"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
}

#[test]
fn docs_generate_reports_bad_input_and_still_writes_the_site() {
    let p = TestProject::fixture("err_docs");
    let out = p.run(&["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!(p.normalize(&out.stderr));
    assert!(p.root.join("target/index.html").is_file());
    let index = p.read("target/docs/index.js");
    assert!(index.contains("exposure.ed.weekly_report"), "{index}");
    assert!(index.contains("model.ed.people_clean"), "{index}");
}

/// A source the database does not have yet (a fresh checkout: on-run-start loads it) has
/// unknown columns: `*` over it is open, references through CTEs, joins and `exclude` are
/// inferred as its columns, lineage reaches it, and only a column of a relation whose columns
/// are all known is reported.
#[test]
fn unknown_source_columns_are_inferred_not_reported() {
    let p = TestProject::fixture("open_sources");
    let out = p.run(&["compile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("warning[")).collect();
    assert_eq!(warnings, vec!["warning[W1001]: bad: column 'amout' does not exist in any relation the query reads"]);
    assert!(out.stderr.contains("did you mean 'amount'?"), "{}", out.stderr);

    let out = p.run(&["lineage", "fct_orders.amount", "--upstream"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("source.open.raw.orders.amount -> model.open.stg_orders.amount (passthrough)"),
        "{}",
        out.stdout
    );
    let out = p.run(&["lineage", "fct_orders.doubled", "--upstream"]);
    assert!(
        out.stdout.contains("source.open.raw.orders.amount -> model.open.stg_orders_wide.doubled (transform)"),
        "{}",
        out.stdout
    );

    std::fs::remove_file(p.root.join("models/bad.sql")).unwrap();
    let out = p.run(&["build", "--static-analysis", "strict"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        p.query("open.duckdb", "select order_id, name, cast(amount as varchar), cast(doubled as varchar), region from fct_orders order by 1"),
        vec![
            vec!["1".to_string(), "Ann".into(), "12.5".into(), "25.0".into(), "eu".into()],
            vec!["2".to_string(), "Bo".into(), "7.0".into(), "14.0".into(), "us".into()],
            vec!["3".to_string(), "Ann".into(), "3.5".into(), "7.0".into(), "eu".into()],
        ]
    );
}
