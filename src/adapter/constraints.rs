//! Constraint DDL for tables whose contract is enforced, as dbt-duckdb renders it
//! (`adapter.render_raw_columns_constraints` / `render_raw_model_constraints`). DuckDB enforces
//! every constraint type dbt knows; a foreign key's target loses its database part, which
//! DuckDB does not accept.

use serde_json::Value as Json;

fn text<'a>(c: &'a Json, key: &str) -> Option<&'a str> {
    c.get(key).and_then(Json::as_str).filter(|s| !s.is_empty())
}

fn list(c: &Json, key: &str) -> Vec<String> {
    c.get(key).and_then(Json::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

/// `"db"."schema"."table"` → `"schema"."table"` (dbt-duckdb's `_constraint_target_without_database`).
fn without_database(to: &str) -> String {
    let pieces: Vec<&str> = to.split('.').collect();
    if pieces.len() > 2 {
        pieces[1..].join(".")
    } else {
        to.to_string()
    }
}

/// One column constraint, or None when it renders nothing (a check without an expression).
fn column_constraint(c: &Json) -> Option<String> {
    let expr = text(c, "expression").unwrap_or_default();
    let out = match text(c, "type")? {
        "check" if !expr.is_empty() => format!("check ({expr})"),
        "not_null" => format!("not null {expr}"),
        "unique" => format!("unique {expr}"),
        "primary_key" => format!("primary key {expr}"),
        "foreign_key" => match (text(c, "to"), list(c, "to_columns")) {
            (Some(to), cols) if !cols.is_empty() => {
                format!("references {} ({})", without_database(to), cols.join(", "))
            }
            _ => format!("references {expr}"),
        },
        "custom" if !expr.is_empty() => expr.to_string(),
        _ => return None,
    };
    Some(out.trim().to_string())
}

/// `<name> <data_type> <constraints...>` for each column of a model's `columns` mapping.
pub fn render_columns(columns: &Json) -> Vec<String> {
    let Some(map) = columns.as_object() else { return vec![] };
    map.values()
        .map(|v| {
            let name = text(v, "name").unwrap_or_default();
            let name = if v.get("quote").and_then(Json::as_bool) == Some(true) {
                super::duckdb::quote_ident(name)
            } else {
                name.to_string()
            };
            let mut parts = vec![format!("{name} {}", text(v, "data_type").unwrap_or_default())];
            for c in v.get("constraints").and_then(Json::as_array).into_iter().flatten() {
                parts.extend(column_constraint(c));
            }
            parts.join(" ")
        })
        .collect()
}

/// The model-level constraints (`constraint <name> primary key (a, b)`, ...).
pub fn render_model(constraints: &Json) -> Vec<String> {
    let mut out = vec![];
    for c in constraints.as_array().into_iter().flatten() {
        let prefix = text(c, "name").map(|n| format!("constraint {n} ")).unwrap_or_default();
        let cols = list(c, "columns").join(", ");
        let expr = text(c, "expression");
        let with_expr = expr.map(|e| format!(" {e}")).unwrap_or_default();
        let rendered = match text(c, "type") {
            Some("check") => expr.map(|e| format!("{prefix}check ({e})")),
            Some("unique") => Some(format!("{prefix}unique{with_expr} ({cols})")),
            Some("primary_key") => Some(format!("{prefix}primary key{with_expr} ({cols})")),
            Some("foreign_key") => match (text(c, "to"), list(c, "to_columns")) {
                (Some(to), tc) if !tc.is_empty() => Some(format!(
                    "{prefix}foreign key ({cols}) references {} ({})",
                    without_database(to),
                    tc.join(", ")
                )),
                _ => expr.map(|e| format!("{prefix}foreign key ({cols}) references {e}")),
            },
            Some("custom") => expr.map(|e| format!("{prefix}{e}")),
            _ => None,
        };
        out.extend(rendered);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What dbt-duckdb 1.11 wrote for the same YAML (target/run of a dbt build).
    #[test]
    fn renders_as_dbt_duckdb() {
        let cols = json!({
            "order_id": {"name": "order_id", "data_type": "integer", "constraints": [{"type": "unique"}]},
            "customer_id": {"name": "customer_id", "data_type": "integer", "constraints": [
                {"type": "foreign_key", "to": "\"ct\".\"main\".\"customers\"", "to_columns": ["customer_id"]}]},
            "amount": {"name": "amount", "data_type": "numeric(10,2)", "constraints": []},
        });
        assert_eq!(
            render_columns(&cols),
            [
                "order_id integer unique",
                "customer_id integer references \"main\".\"customers\" (customer_id)",
                "amount numeric(10,2)"
            ]
        );
        let model = json!([
            {"type": "check", "name": "positive_amount", "expression": "amount >= 0", "columns": []},
            {"type": "primary_key", "columns": ["a", "b"]},
            {"type": "check", "columns": []},
        ]);
        assert_eq!(render_model(&model), ["constraint positive_amount check (amount >= 0)", "primary key (a, b)"]);
    }
}
