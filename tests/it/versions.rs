//! Model versions (tests/fixtures/versions): one node per version, `<name>_v<v>` files and
//! relations (or `defined_in`, `alias`), `ref()` to the latest or a pinned version, columns
//! with `include` / `exclude`, tests per version, `deprecation_date` warnings, the `version:`
//! selector, and bad versions as located diagnostics. The relations, unique ids, fqns, refs
//! and warnings are those dbt-core 1.10 produced for the same project.

use crate::util::TestProject;
use serde_json::json;

#[test]
fn versions_build_and_resolve_as_dbt_does() {
    let p = TestProject::fixture("versions");
    let out = p.run(&["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Done. PASS=7 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=7"), "{}", out.stderr);
    assert!(out.stderr.contains("warning[W0207]: Model dim_customers.v1 has passed its deprecation date of 2024-01-01T00:00:00+00:00. This model should be disabled or removed."));
    assert!(out.stderr.contains("warning[W0208]: While compiling 'consumer': Found a reference to dim_customers.v1, which was deprecated on '2024-01-01T00:00:00+00:00'. A new version of 'dim_customers' is available. Migrate now: {{ ref('vr', 'dim_customers', v='2') }}."));
    assert_eq!(
        p.query("vr.duckdb", "select table_name from information_schema.tables order by 1"),
        [["consumer"], ["dim_customers_old"], ["dim_customers_v2"], ["dim_customers_v3"]]
    );
    // ref() without a version is the latest (2), not the prerelease (3).
    assert_eq!(
        p.read("target/compiled/vr/models/consumer.sql").trim(),
        "select * from \"vr\".\"main\".\"dim_customers_v2\" join \"vr\".\"main\".\"dim_customers_old\" using (id) join \"vr\".\"main\".\"dim_customers_v3\" using (id)"
    );
    let m: serde_json::Value = serde_json::from_str(&p.read("target/manifest.json")).unwrap();
    let errors = crate::schema::validate(&crate::schema::dbt_schema("manifest-v12.json"), &m);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let v3 = &m["nodes"]["model.vr.dim_customers.v3"];
    assert_eq!((&v3["name"], &v3["version"], &v3["latest_version"]), (&json!("dim_customers"), &json!(3), &json!(2)));
    assert_eq!(v3["fqn"], json!(["vr", "dim_customers", "v3"]));
    assert_eq!(v3["original_file_path"], "models/customers_next.sql");
    // include: all, exclude: [country], plus the version's own column, in the YAML's order.
    assert_eq!(v3["columns"].as_object().unwrap().keys().collect::<Vec<_>>(), ["id", "name", "score"]);
    assert_eq!(m["nodes"]["model.vr.dim_customers.v1"]["deprecation_date"], "2024-01-01T00:00:00+00:00");
    assert_eq!(
        m["nodes"]["model.vr.consumer"]["refs"],
        json!([
            {"name": "dim_customers", "package": null, "version": null},
            {"name": "dim_customers", "package": null, "version": 1},
            {"name": "dim_customers", "package": null, "version": 3}
        ])
    );
    let t = &m["nodes"]["test.vr.unique_dim_customers_v1_id.f55d167630"];
    assert_eq!(t["test_metadata"]["kwargs"]["model"], "{{ get_where_subquery(ref('dim_customers', version='1')) }}");
    assert_eq!(t["file_key_name"], "models.dim_customers");

    let ls = |sel: &str| p.run(&["ls", "-s", sel, "--resource-type", "model"]).stdout;
    assert_eq!(ls("version:latest"), "vr.dim_customers.v2\n");
    assert_eq!(ls("version:prerelease"), "vr.dim_customers.v3\n");
    assert_eq!(ls("version:old"), "vr.dim_customers.v1\n");
    assert_eq!(ls("version:none"), "vr.consumer\n");
    assert_eq!(ls("dim_customers"), "vr.dim_customers.v1\nvr.dim_customers.v2\nvr.dim_customers.v3\n");
    assert_eq!(ls("dim_customers.v1"), "vr.dim_customers.v1\n");
    let out = p.run(&["ls", "-s", "dim_customers", "--output", "name", "--resource-type", "model"]);
    assert_eq!(out.stdout, "dim_customers.v1\ndim_customers.v2\ndim_customers.v3\n");
}

#[test]
fn bad_versions_are_located_diagnostics() {
    let p = TestProject::fixture("versions");
    let yaml = p.read("models/schema.yml");
    // Found while the property file is read: a latest_version that is not a version, a column
    // that include / exclude names but the model does not declare.
    p.write(
        "models/schema.yml",
        &yaml
            .replace("latest_version: 2", "latest_version: 5")
            .replace("exclude: [country]\n      - v: 3", "exclude: [contry]\n      - v: 3"),
    );
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("version_yaml_diagnostics", p.normalize(&out.stderr));
    // Found while parsing: a version whose file does not exist, a ref to a version that does not.
    p.write("models/schema.yml", &yaml.replace("defined_in: customers_next", "defined_in: customers_nxt"));
    let consumer = p.read("models/consumer.sql");
    p.write("models/consumer.sql", "select * from {{ ref('dim_customers', v=4) }}\n");
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("version_parse_diagnostics", p.normalize(&out.stderr));
    p.write("models/schema.yml", &yaml);
    p.write("models/consumer.sql", &consumer);
    let out = p.run(&["ls", "-s", "version:lastest"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown version selector 'lastest'") && out.stderr.contains("did you mean 'latest'?"),
        "{}",
        out.stderr
    );
}
