//! Model contracts (tests/fixtures/contracts): columns and types checked before a contracted
//! model is built, constraints applied as dbt-duckdb applies them (DuckDB enforces all of
//! them), foreign keys across rebuilds, and the located diagnostics of bad contracts. The
//! expected tables, types, constraints and messages are dbt-core 1.10 + dbt-duckdb 1.11's on
//! the same fixture.

use crate::util::TestProject;

const DB: &str = "contracts.duckdb";

fn rows(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

fn constraints(p: &TestProject) -> Vec<Vec<String>> {
    p.query(DB, "select table_name, constraint_type, constraint_text from duckdb_constraints() order by all")
}

/// The part of the output from the summary on: what failed and why.
fn summary(p: &TestProject, stderr: &str) -> String {
    let text = p.normalize(stderr);
    let from = text.find("Completed with").expect("a summary");
    text[from..].to_string()
}

#[test]
fn contracts_are_enforced_as_dbt_enforces_them() {
    let p = TestProject::fixture("contracts");
    let out = p.run(&["build"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("Done. PASS=6 WARN=0 ERROR=1 SKIP=1 NO-OP=0 TOTAL=8"), "{}", out.stderr);
    // dbt's message and table of mismatches; nothing built for the model, its child skipped.
    insta::assert_snapshot!("contract_failure", summary(&p, &out.stderr));
    assert!(
        p.query(DB, "select count(*) from information_schema.tables where table_name in ('bad', 'after_bad')")
            == [["0"]]
    );
    // Constraints on a view are ignored, with dbt's warning.
    assert!(out.stderr.contains("warning[W0205]: Constraint types are not supported for view materializations"));
    // The tables dbt-duckdb creates: the contract's column order, its types and constraints.
    assert_eq!(
        constraints(&p),
        rows(&[
            &["customers", "NOT NULL", "NOT NULL"],
            &["customers", "PRIMARY KEY", "PRIMARY KEY(customer_id)"],
            &["order_events", "NOT NULL", "NOT NULL"],
            &["orders", "CHECK", "CHECK((amount >= 0))"],
            &["orders", "FOREIGN KEY", "FOREIGN KEY (customer_id) REFERENCES customers(customer_id)"],
            &["orders", "UNIQUE", "UNIQUE(order_id)"],
        ])
    );
    assert_eq!(
        p.query(DB, "select column_name, column_type from (describe orders)"),
        rows(&[&["order_id", "INTEGER"], &["customer_id", "INTEGER"], &["amount", "DECIMAL(10,2)"]])
    );
    assert_eq!(
        p.query(DB, "select order_id, customer_id, amount::varchar from orders order by all"),
        rows(&[&["10", "1", "2.50"], &["11", "2", "4.00"]])
    );

    // manifest.json: constraints, the contract, and the foreign key's table as a resolved
    // relation and a dependency (orders.sql never refs customers).
    let m: serde_json::Value = serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    let orders = &m["nodes"]["model.contracts.orders"];
    assert_eq!(orders["contract"]["enforced"], true);
    assert!(orders["contract"]["checksum"].is_string());
    assert_eq!(orders["depends_on"]["nodes"], serde_json::json!(["model.contracts.customers"]));
    assert_eq!(orders["columns"]["customer_id"]["constraints"][0]["to"], "\"contracts\".\"main\".\"customers\"");
    assert_eq!(orders["constraints"][0]["name"], "positive_amount");
    let errors = crate::schema::validate(&crate::schema::dbt_schema("manifest-v12.json"), &m);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// DuckDB will not replace a table a foreign key points at: the referencing tables this run
/// rebuilds are set aside and rebuilt; one it does not rebuild stops the build, with nothing lost.
#[test]
fn tables_with_foreign_keys_are_rebuilt_in_place() {
    let p = TestProject::fixture("contracts");
    std::fs::remove_file(p.root.join("models/bad.sql")).unwrap();
    std::fs::remove_file(p.root.join("models/after_bad.sql")).unwrap();
    let yaml = p.read("models/schema.yml");
    p.write("models/schema.yml", &yaml[..yaml.find("  - name: bad").unwrap()]);
    assert_eq!(p.run(&["build"]).code, 0);
    // Audited again (staged without its foreign key) and rebuilt, with customers under it.
    let out = p.run(&["build", "--full-refresh", "-s", "+orders"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(constraints(&p).len(), 6);
    let out = p.run(&["run", "--full-refresh", "-s", "customers"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("Cannot replace \"contracts\".\"main\".\"customers\" because DuckDB does not allow replacing a table that a foreign key references")
            && out.stderr.contains("Problem tables: orders (model orders is not selected in this run)"),
        "{}",
        out.stderr
    );
    assert_eq!(p.query(DB, "select count(*) from orders"), [["2"]]);
    assert_eq!(constraints(&p).len(), 6);
    // A row that breaks a constraint fails the model; the table keeps its rows.
    p.write(
        "models/orders.sql",
        "{{ config(materialized='table') }}\nselect -1.00::decimal(10,2) as amount, 12 as order_id, 1 as customer_id\n",
    );
    let out = p.run(&["run", "-s", "orders"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("CHECK constraint failed"), "{}", out.stderr);
    assert_eq!(p.query(DB, "select order_id from orders order by 1"), [["10"], ["11"]]);
}

/// An incremental model's later runs are checked too: a new column breaks the contract.
#[test]
fn an_incremental_models_new_rows_are_checked() {
    let p = TestProject::fixture("contracts");
    assert_eq!(p.run(&["run", "-s", "+order_events"]).code, 0);
    p.write(
        "models/order_events.sql",
        "{{ config(materialized='incremental', on_schema_change='fail') }}\nselect order_id, 'placed' as event, 1 as n from {{ ref('orders') }}\n",
    );
    let out = p.run(&["run", "-s", "order_events"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("| n           | INTEGER         |               | missing in contract |"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_contracts_are_located_diagnostics() {
    let p = TestProject::fixture("contracts");
    let yaml = p.read("models/schema.yml");
    // A constraint type dbt does not know: found while the property file is read.
    p.write("models/schema.yml", &yaml.replace("constraints: [{type: unique}]", "constraints: [{type: uniq}]"));
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("constraint_type_diagnostic", p.normalize(&out.stderr));
    // A column without a data_type, a model constraint on an undeclared column, an incremental
    // model whose on_schema_change cannot keep a contract: all reported at once.
    let yaml = yaml.replace("      - name: label\n        data_type: text\n", "      - name: label\n").replace(
        "        expression: \"amount >= 0\"\n",
        "        expression: \"amount >= 0\"\n      - type: primary_key\n        columns: [order_idd]\n",
    );
    p.write("models/schema.yml", &yaml);
    p.write(
        "models/order_events.sql",
        "{{ config(materialized='incremental') }}\nselect 1 as order_id, 'x' as event\n",
    );
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("contract_diagnostics", p.normalize(&out.stderr));
}

/// `state:modified.contract`, as dbt's same_contract: a changed type or constraint of an
/// enforced contract selects the model; a description does not; enforcing one does.
#[test]
fn contract_changes_are_state_modified_contract() {
    let p = TestProject::fixture("contracts");
    assert_eq!(p.run(&["parse", "--target-path", "state"]).code, 0);
    let state = p.root.join("state").to_string_lossy().to_string();
    let ls = |p: &TestProject| {
        let out = p.run(&["ls", "-s", "state:modified.contract", "--state", &state, "--resource-type", "model"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    assert_eq!(ls(&p), "");
    let yaml = p.read("models/schema.yml");
    p.write("models/schema.yml", &yaml.replace("data_type: numeric(10,2)", "data_type: numeric(12,2)"));
    assert_eq!(ls(&p), "contracts.orders\n");
    // dbt's warning for a breaking change to an unversioned model's contract.
    let out = p.run(&["ls", "-s", "state:modified", "--state", &state]);
    assert!(
        out.stderr
            .contains("warning[W0606]: Breaking change to contracted, unversioned model orders (models/orders.sql)")
            && out.stderr.contains("Columns with data_type changes: \n    - amount (numeric(10,2) -> numeric(12,2))"),
        "{}",
        out.stderr
    );
    p.write("models/schema.yml", &yaml.replace("constraints: [{type: unique}]", "constraints: []"));
    assert_eq!(ls(&p), "contracts.orders\n");
    p.write(
        "models/schema.yml",
        &yaml.replace("      - name: name\n", "      - name: name\n        description: the name\n"),
    );
    assert_eq!(ls(&p), "");
    p.write(
        "models/schema.yml",
        &yaml.replace(
            "  - name: customers\n    config:\n      contract: {enforced: true}\n",
            "  - name: customers\n    config:\n      contract: {enforced: false}\n",
        ),
    );
    assert_eq!(ls(&p), "contracts.customers\n");
}
