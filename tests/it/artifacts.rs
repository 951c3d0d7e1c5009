//! manifest.json, catalog.json and run_results.json checked against dbt's schemas, and the
//! lineage file they point to.

use crate::schema::{dbt_schema, validate};
use crate::util::TestProject;
use serde_json::Value as Json;

fn json(p: &TestProject, file: &str) -> Json {
    serde_json::from_str(&p.read(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn assert_valid(p: &TestProject, file: &str, schema: &str) {
    let errors = validate(&dbt_schema(schema), &json(p, file));
    assert!(errors.is_empty(), "{file} does not match dbt's {schema}:\n{}", errors.join("\n"));
}

#[test]
fn artifacts_of_the_example_project_match_dbts_schemas() {
    let p = TestProject::from_path(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example_project"),
        "example_project",
    );
    let out = p.run(&["build"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = p.run(&["docs", "generate"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_valid(&p, "target/manifest.json", "manifest-v12.json");
    assert_valid(&p, "target/catalog.json", "catalog-v1.json");
    assert_valid(&p, "target/run_results.json", "run-results-v6.json");
    let m = json(&p, "target/manifest.json");
    // The check is real: a field dbt's Model does not have, or a wrong resource type, fails it.
    let mut bad = m.clone();
    bad["nodes"]["model.shop.fct_orders"]["not_a_field"] = Json::from(1);
    assert!(!validate(&dbt_schema("manifest-v12.json"), &bad).is_empty());
    let mut bad = m.clone();
    bad["sources"]["source.shop.web.sessions"]["resource_type"] = Json::from("model");
    assert!(!validate(&dbt_schema("manifest-v12.json"), &bad).is_empty());
    // Unique ids and maps as dbt forms them.
    assert_eq!(m["nodes"]["model.shop.fct_orders"]["relation_name"], "\"shop\".\"main\".\"fct_orders\"");
    assert!(m["child_map"]["model.shop.stg_orders"].as_array().unwrap().iter().any(|c| c == "model.shop.fct_orders"));
    assert!(m["parent_map"]["model.shop.fct_orders"].as_array().unwrap().iter().any(|c| c == "model.shop.stg_orders"));
    assert!(m["macros"]["macro.dbt.default__concat"].is_object());
    // The exposure is in the graph.
    let e = &m["exposures"]["exposure.shop.revenue_dashboard"];
    assert_eq!(e["depends_on"]["nodes"], serde_json::json!(["model.shop.daily_revenue", "model.shop.dim_customers"]));
    assert!(m["child_map"]["model.shop.daily_revenue"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "exposure.shop.revenue_dashboard"));
    assert_eq!(m["metadata"]["env"]["STRATA_COLUMN_LINEAGE"], "lineage.json");
    // The catalog has the database's types and row counts.
    let c = json(&p, "target/catalog.json");
    assert_eq!(c["nodes"]["model.shop.fct_orders"]["columns"]["order_id"]["type"], "INTEGER");
    assert_eq!(c["nodes"]["model.shop.fct_orders"]["stats"]["row_count"]["value"], 1500);
    // Column lineage: fct_orders.order_amount sums int_order_lines' amounts (ephemeral, so
    // traced to stg_order_items and stg_products).
    let l = json(&p, "target/lineage.json");
    let cols = l["nodes"]["model.shop.fct_orders"]["columns"].as_array().unwrap();
    let amount = cols.iter().find(|c| c["name"] == "order_amount").unwrap();
    let ups: Vec<String> = amount["upstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!("{}.{} {}", u["node"].as_str().unwrap(), u["column"].as_str().unwrap(), u["kind"].as_str().unwrap())
        })
        .collect();
    assert!(ups.contains(&"model.shop.stg_order_items.quantity aggregate".to_string()), "{ups:#?}");
    assert!(ups.contains(&"model.shop.stg_orders.order_id join".to_string()), "{ups:#?}");
}
