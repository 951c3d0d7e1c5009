//! Model contracts at run time, as dbt enforces them: before a contracted model is built, the
//! columns its SQL returns (names and DuckDB types) must be the ones its YAML declares, with each
//! declared `data_type` read through DuckDB (so `int`, `integer` and `int4` are one type, as with
//! dbt's `alias_types`). A mismatch fails the node with dbt's message and table, before anything
//! is built. The table DDL with constraints is the materialization's (`create_table_as`).

use crate::adapter::Connection;
use crate::parse::Node;

/// One column: its name and its DuckDB type.
type Col = (String, String);

/// Check a contracted model's compiled SQL against its declared columns. `Err` is the node's
/// failure message (dbt's), or the database's error when the SQL or a declared type is invalid.
pub fn check(conn: &dyn Connection, node: &Node, sql: &str) -> Result<(), String> {
    let describe = |q: &str| -> Result<Vec<Col>, String> {
        let cols = conn.describe(q).map_err(|e| {
            format!(
                "Database Error in model {} ({})\n  {}",
                node.name,
                node.original_file_path,
                e.to_string().trim_start_matches("database error: ")
            )
        })?;
        Ok(cols.into_iter().map(|c| (c.name, c.data_type)).collect())
    };
    let sql_cols = describe(&format!("select * from (\n{}\n) as __dbt_sbq", sql.trim_end().trim_end_matches(';')))?;
    let declared: Vec<String> = node
        .columns
        .iter()
        .map(|c| {
            format!(
                "cast(null as {}) as {}",
                c.data_type.as_deref().unwrap_or("varchar"),
                node.relation.dialect.quote(&c.name)
            )
        })
        .collect();
    let yaml_cols = if declared.is_empty() { vec![] } else { describe(&format!("select {}", declared.join(", ")))? };
    match mismatches(&sql_cols, &yaml_cols) {
        None => Ok(()),
        Some(table) => Err(format!(
            "Compilation Error in model {} ({})\n  This model has an enforced contract that failed.\n  Please ensure the name, data_type, and number of columns in your contract match the columns in your model's definition.\n  \n{}",
            node.name,
            node.original_file_path,
            table.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
        )),
    }
}

/// dbt's comparison (`assert_columns_equivalent`): the same number of columns, each SQL column
/// declared under its name with the same type. On a mismatch, dbt's table of mismatches.
fn mismatches(sql_cols: &[Col], yaml_cols: &[Col]) -> Option<String> {
    let formatted = |c: &Col| format!("{} {}", c.0.to_lowercase(), c.1);
    let same = sql_cols.len() == yaml_cols.len()
        && sql_cols.iter().all(|s| yaml_cols.iter().find(|y| y.0 == s.0).is_some_and(|y| formatted(y) == formatted(s)));
    if same {
        return None;
    }
    // dbt's ContractError.get_mismatches: rows sorted by their Python dict's text.
    let mut rows: Vec<[String; 4]> = vec![];
    for s in sql_cols {
        match yaml_cols.iter().find(|y| y.0 == s.0) {
            Some(y) if y.1 == s.1 => {}
            Some(y) => rows.push([s.0.clone(), s.1.clone(), y.1.clone(), "data type mismatch".into()]),
            None => rows.push([s.0.clone(), s.1.clone(), String::new(), "missing in contract".into()]),
        }
    }
    for y in yaml_cols.iter().filter(|y| !sql_cols.iter().any(|s| s.0 == y.0)) {
        rows.push([y.0.clone(), String::new(), y.1.clone(), "missing in definition".into()]);
    }
    let key = |r: &[String; 4]| {
        format!(
            "{{'column_name': '{}', 'definition_type': '{}', 'contract_type': '{}', 'mismatch_reason': '{}'}}",
            r[0], r[1], r[2], r[3]
        )
    };
    rows.sort_by_key(key);
    Some(markdown_table(&["column_name", "definition_type", "contract_type", "mismatch_reason"], &rows))
}

/// A table as agate's `print_table` writes it (what dbt's message shows).
fn markdown_table(header: &[&str; 4], rows: &[[String; 4]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().iter().map(String::as_str).collect()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(v: &[(&str, &str)]) -> Vec<Col> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn the_same_columns_in_another_order_pass() {
        let sql = cols(&[("id", "INTEGER"), ("name", "VARCHAR")]);
        let yaml = cols(&[("name", "VARCHAR"), ("id", "INTEGER")]);
        assert_eq!(mismatches(&sql, &yaml), None);
    }

    /// The table dbt-core 1.10 printed for this model (id typed varchar, label declared,
    /// missing_col declared but not returned, extra returned but not declared).
    #[test]
    fn mismatches_are_dbts_table() {
        let sql = cols(&[("id", "INTEGER"), ("label", "VARCHAR"), ("extra", "INTEGER")]);
        let yaml = cols(&[("id", "VARCHAR"), ("label", "VARCHAR"), ("missing_col", "INTEGER")]);
        assert_eq!(
            mismatches(&sql, &yaml).unwrap(),
            "| column_name | definition_type | contract_type | mismatch_reason       |\n\
             | ----------- | --------------- | ------------- | --------------------- |\n\
             | extra       | INTEGER         |               | missing in contract   |\n\
             | id          | INTEGER         | VARCHAR       | data type mismatch    |\n\
             | missing_col |                 | INTEGER       | missing in definition |\n"
        );
    }
}
