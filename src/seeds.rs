//! Seed typing with dbt's rules (agate's type tester as dbt configures it): each column is the
//! first of integer/float (numbers; `float8` when any value has decimals), date (`%Y-%m-%d`),
//! timestamp (`%Y-%m-%d %H:%M:%S` or ISO 8601 with `T`), boolean (`true`/`false`) and text that
//! accepts every non-null value; `""` and `null` are NULL. `column_types` overrides a column.
//! In: CSV text + config. Out: [`SeedColumn`]s with the SQL expression that casts each one.

use crate::adapter::Dialect;
use crate::project::config::Config;

/// One column of a seed table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeedColumn {
    /// Header name.
    pub name: String,
    /// Name as written in SQL (quoted unless quote_columns is false).
    pub quoted_name: String,
    /// DuckDB type.
    pub r#type: String,
    /// SQL that turns the raw text column `column<i>` into the typed value.
    pub expr: String,
}

/// The cast from the raw text of column `i`: `""`/`null` become NULL, numbers lose `,` separators.
fn cast_expr(i: usize, ty: &str, inferred_number: bool, dialect: &Dialect) -> String {
    let raw = dialect.quote(&format!("column{i}"));
    let text = ["VARCHAR", "TEXT", "STRING"].iter().any(|t| ty.eq_ignore_ascii_case(t));
    let value = if text {
        raw.clone()
    } else if inferred_number {
        format!("cast(replace(trim({raw}), ',', '') as {ty})")
    } else {
        format!("cast(trim({raw}) as {ty})")
    };
    format!("case when {raw} is null or lower(trim({raw})) in ('', 'null') then null else {value} end")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number { decimals: bool },
    Date,
    DateTime,
    Boolean,
    Text,
}

fn is_null(v: &str) -> bool {
    let t = v.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null")
}

/// Whether agate's Number accepts `v`; returns whether it has decimals.
fn number(v: &str) -> Option<bool> {
    let t = v.trim().replace(',', "");
    let t = t.strip_prefix(['-', '+']).unwrap_or(&t);
    let (mantissa, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (t, None),
    };
    if let Some(e) = exp {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    if int.is_empty() && frac.is_none_or(str::is_empty) {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.unwrap_or("").chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(frac.is_some_and(|f| !f.is_empty()) || exp.is_some_and(|e| e.starts_with('-')))
}

fn date(v: &str) -> bool {
    chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").is_ok()
}

fn datetime(v: &str) -> bool {
    let t = v.trim();
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").is_ok()
        || chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::DateTime::parse_from_rfc3339(t).is_ok()
}

fn boolean(v: &str) -> bool {
    let t = v.trim();
    t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false")
}

fn infer(values: &[&str]) -> Kind {
    let vals: Vec<&&str> = values.iter().filter(|v| !is_null(v)).collect();
    let mut decimals = false;
    if vals.iter().all(|v| match number(v) {
        Some(d) => {
            decimals |= d;
            true
        }
        None => false,
    }) {
        return Kind::Number { decimals };
    }
    if vals.iter().all(|v| date(v)) {
        return Kind::Date;
    }
    if vals.iter().all(|v| datetime(v)) {
        return Kind::DateTime;
    }
    if vals.iter().all(|v| boolean(v)) {
        return Kind::Boolean;
    }
    Kind::Text
}

fn sql_type(k: Kind) -> &'static str {
    match k {
        Kind::Number { decimals: false } => "INTEGER",
        Kind::Number { decimals: true } => "DOUBLE",
        Kind::Date => "DATE",
        Kind::DateTime => "TIMESTAMP",
        Kind::Boolean => "BOOLEAN",
        Kind::Text => "VARCHAR",
    }
}

/// Whether a quoted field of the CSV holds a line break. DuckDB's parallel CSV reader cannot pad
/// short rows (`null_padding`) in such a file, so the seed is then read with `parallel = false`.
pub fn quoted_newlines(csv_text: &str) -> bool {
    let mut quoted = false;
    for b in csv_text.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if quoted => return true,
            _ => {}
        }
    }
    false
}

/// A seed's rows as SQL row values `('a', 'b', NULL)` (every value a string literal, a missing
/// field NULL), in batches of at most `batch` rows joined by `, `: what an engine that loads
/// seeds with `insert ... values` inserts into the raw text columns.
pub fn value_batches(csv_text: &str, delimiter: u8, dialect: &Dialect, batch: usize) -> Result<Vec<String>, String> {
    let mut rdr = reader(csv_text, delimiter);
    let width = rdr.headers().map_err(|e| e.to_string())?.len();
    let mut rows = vec![];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let vals: Vec<String> =
            (0..width).map(|i| rec.get(i).map(|v| dialect.literal(v)).unwrap_or_else(|| "NULL".into())).collect();
        rows.push(format!("({})", vals.join(", ")));
    }
    Ok(rows.chunks(batch.max(1)).map(|c| c.join(",\n")).collect())
}

fn reader(csv_text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(csv_text.as_bytes())
}

fn header_of(rdr: &mut csv::Reader<&[u8]>) -> Result<Vec<String>, String> {
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err("the CSV file has no header row".into());
    }
    Ok(headers)
}

/// A seed's column names (its header row), without reading the rows: what static analysis needs.
pub fn column_names(csv_text: &str, delimiter: u8) -> Result<Vec<String>, String> {
    header_of(&mut reader(csv_text, delimiter))
}

/// Read a seed's header and rows and decide its columns.
pub fn columns(
    csv_text: &str,
    delimiter: u8,
    config: &Config,
    dialect: &Dialect,
) -> Result<(Vec<SeedColumn>, usize), String> {
    let mut rdr = reader(csv_text, delimiter);
    let headers = header_of(&mut rdr)?;
    let mut cols: Vec<Vec<String>> = vec![vec![]; headers.len()];
    let mut rows = 0;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        rows += 1;
        for (i, c) in cols.iter_mut().enumerate() {
            c.push(rec.get(i).unwrap_or("").to_string());
        }
    }
    let overrides = config.get("column_types").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    let quote_cols = config.get_bool("quote_columns").unwrap_or(true);
    let out = headers
        .iter()
        .zip(&cols)
        .enumerate()
        .map(|(i, (name, vals))| {
            let refs: Vec<&str> = vals.iter().map(String::as_str).collect();
            let kind = infer(&refs);
            let ty = match overrides.get(name).and_then(|v| v.as_str()) {
                Some(t) => t.to_string(),
                None => (dialect.seed_type)(sql_type(kind)).to_string(),
            };
            let expr = cast_expr(i, &ty, matches!(kind, Kind::Number { .. }), dialect);
            SeedColumn {
                name: name.clone(),
                quoted_name: if quote_cols { dialect.quote(name) } else { name.clone() },
                r#type: ty,
                expr,
            }
        })
        .collect();
    Ok((out, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_like_dbt() {
        let csv = "id,price,day,ts,flag,name,empty\n1,1.50,2024-01-02,2024-01-02 10:00:00,true,a,\n2,2,2024-01-03,2024-01-03T11:00:00,False,b,null\n";
        let (cols, rows) = columns(csv, b',', &Config::default(), &crate::adapter::duckdb::DIALECT).unwrap();
        let types: Vec<&str> = cols.iter().map(|c| c.r#type.as_str()).collect();
        assert_eq!(types, vec!["INTEGER", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN", "VARCHAR", "INTEGER"]);
        assert_eq!(rows, 2);
    }

    #[test]
    fn finds_line_breaks_inside_quotes_only() {
        assert!(quoted_newlines("a,b\r\n1,\"x\r\ny\"\r\n"));
        assert!(!quoted_newlines("a,b\r\n1,\"x \"\"y\"\"\"\r\n2,z\n"));
    }

    #[test]
    fn column_types_override() {
        let mut c = Config::default();
        c.set("column_types", serde_json::json!({"id": "VARCHAR"}));
        let (cols, _) = columns("id;x\n007;1\n", b';', &c, &crate::adapter::duckdb::DIALECT).unwrap();
        assert_eq!(cols[0].r#type, "VARCHAR");
        assert_eq!(cols[1].r#type, "INTEGER");
    }
}
