//! Lineage snapshots over fixture SQL: joins, CTEs, subqueries, window functions, aggregations,
//! UNION, `select *` across refs, and DuckDB's EXCLUDE / REPLACE / QUALIFY, list and struct
//! functions.

use super::*;

struct TestCatalog(Vec<(&'static str, Vec<&'static str>)>);

impl Catalog for TestCatalog {
    fn lookup(&self, parts: &[String]) -> Option<Relation> {
        let name = parts.last()?;
        // A source the database does not have yet, with no columns declared: columns unknown.
        if name == "raw_orders" {
            return Some(Relation { node: "source.shop.raw.orders".into(), columns: None, exhaustive: false });
        }
        self.0.iter().find(|(n, _)| n == name).map(|(n, cols)| Relation {
            node: format!("model.shop.{n}").into(),
            columns: Some(cols.iter().map(|c| crate::sql::Name::from(*c)).collect()),
            exhaustive: *n != "events",
        })
    }
    fn complete(&self) -> bool {
        true
    }
}

fn catalog() -> TestCatalog {
    TestCatalog(vec![
        ("orders", vec!["order_id", "customer_id", "status", "amount", "ordered_at", "items"]),
        ("customers", vec!["customer_id", "name", "tier", "address"]),
        ("payments", vec!["payment_id", "order_id", "method", "amount"]),
        // A source with only some columns declared.
        ("events", vec!["event_id", "kind"]),
    ])
}

/// One line per output column: `name <- node.column (kind), ...`, then the problems.
fn render(sql: &str) -> String {
    let a = match analyze(sql, Flavor::DuckDb, &catalog()) {
        Ok(a) => a,
        Err(e) => return format!("parse error at {}:{}: {}", e.line, e.col, e.message),
    };
    let mut out = vec![];
    for c in &a.columns {
        let ups: Vec<String> = c
            .upstream
            .iter()
            .map(|u| format!("{}.{} ({:?})", u.node.trim_start_matches("model.shop."), u.column, u.kind).to_lowercase())
            .collect();
        out.push(format!("{} <- {}", c.name, ups.join(", ")));
    }
    if !a.complete {
        out.push("(incomplete)".into());
    }
    for p in &a.problems {
        out.push(format!(
            "problem {}:{} len {}: {} [{}]",
            p.line,
            p.col,
            p.len,
            p.message,
            p.help.clone().unwrap_or_default()
        ));
    }
    out.join("\n")
}

#[test]
fn lineage_of_fixture_queries() {
    let cases = [
        ("passthrough and rename", "select order_id, amount as total from orders"),
        (
            "join with on, where and aggregation",
            "select c.name, count(*) as n_orders, sum(o.amount) as revenue\nfrom orders o join customers c on o.customer_id = c.customer_id\nwhere o.status = 'placed'\ngroup by c.name",
        ),
        (
            "ctes chain to base columns",
            "with o as (select order_id, amount * 2 as doubled from orders),\nb as (select order_id as id, doubled from o)\nselect id, doubled from b",
        ),
        ("subquery in from and in where", "select x.order_id from (select order_id, status from orders) x where x.order_id in (select order_id from payments where method = 'card')"),
        ("window function and qualify", "select order_id, row_number() over (partition by customer_id order by ordered_at) as rn\nfrom orders\nqualify rn = 1"),
        ("union", "select order_id as id, amount from orders\nunion all\nselect payment_id, amount from payments"),
        ("star across a join", "select * from orders join customers using (customer_id)"),
        ("star exclude and replace", "select * exclude (items, ordered_at) replace (amount * 100 as amount) from orders"),
        ("qualified star and rename", "select c.*, o.amount from customers c join orders o on o.customer_id = c.customer_id"),
        ("list and struct functions with a lambda", "select order_id, list_transform(items, x -> x.sku) as skus, address.city as city, struct_pack(a := amount) as s\nfrom orders join customers using (customer_id)"),
        ("lateral alias", "select amount * 2 as doubled, doubled + 1 as plus_one from orders"),
        ("unknown column with suggestion", "select order_id, amout from orders"),
        ("declared source columns are not all of them", "select event_id, payload from events"),
        ("star over declared source columns", "select * from events"),
        ("unknown qualified column", "select o.statuz from orders o"),
        ("unknown relation", "select * from \"db\".\"main\".\"ordrs\""),
        ("table function has unknown columns", "select * from read_csv('x.csv')"),
        ("a file named by a string is read like a table function", "select e.event_id, kind from 'data/events.csv' e"),
        ("values", "select * from (values (1, 'a')) t(id, label)"),
        (
            "staging over a source of unknown columns: inferred, nothing reported",
            "with src as (select * from raw_orders)\nselect src.id, src.amount, status from src",
        ),
        (
            "a CTE chain over unknown columns",
            "with a as (select * from raw_orders), b as (select *, amount * 2 as doubled from a where region = 'eu')\nselect b.id, b.doubled from b",
        ),
        (
            "a join of a known and an unknown relation",
            "with r as (select * from raw_orders)\nselect c.name, r.total, c.tier, nope from customers c join r on r.customer_id = c.customer_id",
        ),
        (
            "star exclude over unknown columns",
            "with r as (select * exclude (secret) from raw_orders)\nselect id, r.created_at from r",
        ),
        ("a known column still reported through a closed CTE", "with o as (select order_id from orders)\nselect o.amount from o"),
        ("parse error", "select from where"),
    ];
    let mut out = String::new();
    for (title, sql) in cases {
        out.push_str(&format!("== {title}\n{sql}\n--\n{}\n\n", render(sql)));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn spark_analysis_points_at_duckdb_only_functions() {
    let sql =
        "select order_id,\n  strftime(ordered_at, '%Y') as y,\n  date_format(ordered_at, 'yyyy') as z\nfrom orders";
    let a = analyze(sql, Flavor::SparkSql, &catalog()).unwrap();
    let problems: Vec<(String, usize, usize, Option<String>)> =
        a.problems.iter().map(|p| (p.message.clone(), p.line, p.col, p.help.clone())).collect();
    assert_eq!(
        problems,
        vec![(
            "function strftime() is DuckDB's and does not exist on Spark".to_string(),
            2,
            3,
            Some("use date_format()".to_string())
        )]
    );
    // The same SQL analysed as DuckDB's has no such problem.
    assert!(analyze(sql, Flavor::DuckDb, &catalog()).unwrap().problems.is_empty());
}
