//! Running data tests and unit tests: how a test's query becomes a pass / warn / fail with dbt's
//! thresholds, the checks before a run, and store_failures. Test nodes themselves are made when
//! the project is parsed (`parse::data_tests`, `parse::unit_tests`).
//! In: a test node. Out: a [`Verdict`] or a result.

pub mod unit;

use crate::diagnostics::{did_you_mean, Diagnostic};
use crate::parse::{Node, ResourceType};
use crate::project::yaml::YPath;
use crate::templating::relation::Relation;
use serde_json::Value as Json;
use std::path::Path;

/// How a data test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Below both thresholds.
    Pass,
    /// warn_if met (and not a Fail).
    Warn,
    /// error_if met with severity error.
    Fail,
}

/// A test's fail_calc, thresholds and limit, with dbt's defaults.
struct Thresholds {
    fail_calc: String,
    warn_if: String,
    error_if: String,
    /// `\n      limit N`, or empty.
    limit: String,
}

impl Thresholds {
    fn of(node: &Node) -> Thresholds {
        let c = &node.config;
        let or = |k: &str, d: &str| c.get_str(k).unwrap_or_else(|| d.to_string());
        let limit = match c.get("limit") {
            Some(Json::Number(n)) => format!("\n      limit {n}"),
            Some(Json::String(s)) if !s.is_empty() => format!("\n      limit {s}"),
            _ => String::new(),
        };
        Thresholds {
            fail_calc: or("fail_calc", "count(*)"),
            warn_if: or("warn_if", "!= 0"),
            error_if: or("error_if", "!= 0"),
            limit,
        }
    }
}

const SIGNAL: &str = "strata-test-result:";

/// The test's count as one statement that returns nothing when the test passes cleanly and
/// raises `strata-test-result:<failures>[:<should_warn>:<should_error>]` otherwise. The duckdb
/// crate reads results only through prepared statements, which cost DuckDB about twice the
/// planning of a plain statement for queries this small; most tests pass, so most tests then
/// cost one plain statement. dbt's equivalent returns `fail_calc as failures` and the two flags.
pub fn signalling_sql(node: &Node, main_sql: &str) -> String {
    let Thresholds { fail_calc, warn_if, error_if, limit } = Thresholds::of(node);
    let plain = |t: &str| t.split_whitespace().collect::<String>() == "!=0";
    let error = node.relation.dialect.raise_error;
    if fail_calc.trim() == "count(*)" && plain(&warn_if) && plain(&error_if) {
        // The usual test: both flags are `failures != 0`, so the count alone is the signal.
        return format!(
            "select {error}('{SIGNAL}' || count(*))\n    from (\n{}{limit}\n    ) dbt_internal_test\n    having count(*) != 0",
            main_sql.trim_end()
        );
    }
    let v = |e: &str| format!("coalesce(cast({e} as string), 'null')");
    format!(
        "select {error}('{SIGNAL}' || {} || ':' || {} || ':' || {})\n    from (\n{}{limit}\n    ) dbt_internal_test\n    having coalesce(({fail_calc}) != 0 or (({fail_calc}) {warn_if}) or (({fail_calc}) {error_if}), false)",
        v(&fail_calc),
        v(&format!("(({fail_calc}) {warn_if})")),
        v(&format!("(({fail_calc}) {error_if})")),
        main_sql.trim_end()
    )
}

/// The (failures, should_warn, should_error) a [`signalling_sql`] error carries, if it is one.
pub fn read_signal(message: &str) -> Option<(i64, bool, bool)> {
    // The signal is one word; the engine may add to the message after it (Spark: ` SQLSTATE: P0001`).
    let rest = message[message.find(SIGNAL)? + SIGNAL.len()..].split_whitespace().next().unwrap_or_default();
    let mut parts = rest.splitn(3, ':');
    let failures = parts.next()?.trim();
    let failures = failures.parse::<i64>().ok().or_else(|| failures.parse::<f64>().ok().map(|f| f as i64)).unwrap_or(0);
    let flag = |s: Option<&str>| s.is_some_and(|x| x.trim_start().starts_with("true"));
    match (parts.next(), parts.next()) {
        (None, _) => Some((failures, failures != 0, failures != 0)),
        (w, e) => Some((failures, flag(w), flag(e))),
    }
}

/// pass / warn / fail from the counting query's row.
pub fn verdict(node: &Node, should_warn: bool, should_error: bool) -> Verdict {
    if node.severity() == "error" && should_error {
        Verdict::Fail
    } else if should_warn {
        Verdict::Warn
    } else {
        Verdict::Pass
    }
}

/// dbt's message for a warn or fail: `Got 3 results, configured to fail if != 0`.
pub fn verdict_message(node: &Node, v: Verdict, failures: i64) -> Option<String> {
    let plural = if failures == 1 { "result" } else { "results" };
    match v {
        Verdict::Pass => None,
        Verdict::Fail => {
            Some(format!("Got {failures} {plural}, configured to fail if {}", Thresholds::of(node).error_if))
        }
        Verdict::Warn => {
            Some(format!("Got {failures} {plural}, configured to warn if {}", Thresholds::of(node).warn_if))
        }
    }
}

/// Whether failing rows are stored in the audit schema.
pub fn stores_failures(node: &Node) -> bool {
    node.config.get_bool("store_failures").unwrap_or(false)
        || node.config.get_str("store_failures_as").is_some_and(|s| s == "table" || s == "view")
}

/// Checks before anything runs: every unit test's inputs and expected columns against the
/// schemas, and every column test's column against its model's columns. Problems are located
/// diagnostics; the caller exits 2 and builds nothing.
pub fn preflight(
    compiler: &crate::compile::Compiler,
    adapter: &dyn crate::adapter::Adapter,
    plan: &[String],
    root: &Path,
    trusted: &(dyn Fn(&str) -> bool + Sync),
    known: &crate::lineage::Lineage,
) -> Vec<Diagnostic> {
    let m = compiler.manifest();
    // A column the static analysis finds among the output columns of a model about to be built
    // (when it knows all of them) needs no query; any other, and every column of a relation
    // read from the catalog, is checked against the engine's own answer.
    let confirmed = |target: &str, col: &str| {
        let bare = col.trim_matches('"');
        !trusted(target)
            && known
                .nodes
                .get(target)
                .is_some_and(|l| l.complete && l.columns.iter().any(|c| c.name.eq_ignore_ascii_case(bare)))
    };
    let conn = match adapter.connect() {
        Ok(c) => c,
        Err(e) => return vec![Diagnostic::error("E0801", format!("cannot connect to the database: {e}"))],
    };
    let mut schemas = unit::Schemas::new(compiler, conn);
    let tables: Vec<&Relation> = plan
        .iter()
        .filter_map(|id| m.nodes.get(id)?.test.as_ref()?.attached_node.clone())
        .filter(|t| trusted(t))
        .filter_map(|t| m.nodes.get(&t).map(|n| &n.relation).or_else(|| m.sources.get(&t).map(|s| &s.relation)))
        .collect();
    if !tables.is_empty() {
        schemas = schemas.with_catalog(&tables);
    }
    // Infer the tested nodes' columns on every core first (in dependency order, so most
    // upstream schemas are known by the time their children need them); the checks below then
    // read the shared results.
    let order: std::collections::HashMap<&str, usize> =
        plan.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let mut targets: Vec<String> = plan
        .iter()
        .filter_map(|id| {
            let t = m.nodes.get(id)?.test.as_ref()?;
            let target = t.attached_node.clone()?;
            (!confirmed(&target, t.column_name.as_ref()?)).then_some(target)
        })
        .collect();
    targets.sort_by_key(|t| order.get(t.as_str()).copied().unwrap_or(usize::MAX));
    targets.dedup();
    {
        use rayon::prelude::*;
        targets.par_iter().for_each_init(
            || adapter.connect().ok().map(|c| schemas.sibling(c)),
            |s, t| {
                if let Some(s) = s {
                    s.of(t);
                }
            },
        );
    }
    let mut out = vec![];
    for id in plan {
        let Some(n) = m.nodes.get(id) else { continue };
        let Some(info) = n.test.as_ref() else { continue };
        let Some((file, decl)) = info.decl.clone() else { continue };
        if n.resource_type == ResourceType::UnitTest {
            if let Err((msg, rel, help)) = unit::prepare(&schemas, n, root) {
                let yp = YPath([decl.0.clone(), rel.0].concat());
                out.push(
                    Diagnostic::error("E0214", format!("unit test '{}': {msg}", n.name))
                        .with_span(crate::project::yaml::span_at(root, &file, &yp))
                        .with_opt_help(help),
                );
            }
            continue;
        }
        let (Some(col), Some(target)) = (&info.column_name, &info.attached_node) else { continue };
        if confirmed(target, col) {
            continue;
        }
        let Some(cols) = schemas.of(target) else { continue };
        let bare = col.trim_matches('"');
        if cols.iter().any(|(c, _)| c.eq_ignore_ascii_case(bare)) {
            continue;
        }
        // The column's `name:` is two levels above the test entry (columns[i].data_tests[j]).
        let mut segs = decl.0.clone();
        segs.truncate(segs.len().saturating_sub(2));
        let at = YPath(segs).key("name");
        let target_name = target.rsplit('.').next().unwrap_or(target);
        out.push(
            Diagnostic::error(
                "E0215",
                format!("test '{}' checks column '{bare}', which '{target_name}' does not have", n.name),
            )
            .with_span(crate::project::yaml::span_at(root, &file, &at))
            .with_help(did_you_mean(bare, cols.iter().map(|(c, _)| c.as_str())).unwrap_or_else(|| {
                format!("its columns are {}", cols.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", "))
            })),
        );
    }
    out
}

/// The compiled SQL of a built-in generic test (not_null, unique, accepted_values,
/// relationships), built without Jinja when the project overrides none of the macros involved;
/// None when the Jinja templates must render it. The result is the same text the templates in
/// templates/tests/generic.sql produce (checked by the `fast_path_matches_the_templates`
/// integration test). A project with many tests then spends `strata test` in DuckDB.
pub fn fast_sql(
    compiler: &crate::compile::Compiler,
    node: &Node,
    overrides: Option<&crate::templating::Overrides>,
) -> Option<String> {
    let info = node.test.as_ref()?;
    let md = info.metadata.as_ref()?;
    if md.namespace.is_some() || !["not_null", "unique", "accepted_values", "relationships"].contains(&md.name.as_str())
    {
        return None;
    }
    let engine = compiler.engine();
    // Only strata's built-ins define them (a package's would win for its own nodes), as for
    // the materializations (`run::builtin`).
    let builtin = |m: &str| engine.only_builtin(m);
    let test = format!("test_{}", md.name);
    if !builtin(&test)
        || !builtin(&format!("default__{test}"))
        || engine.defined_anywhere(&format!("{}__{test}", engine.dialect.name))
        || !builtin("get_where_subquery")
        || !builtin("should_store_failures")
    {
        return None;
    }
    let m = compiler.manifest();
    let resolve = |id: &str| -> Option<String> {
        if let Some(r) = overrides.and_then(|o| o.relations.get(id)) {
            return Some(r.render());
        }
        match (m.nodes.get(id), m.sources.get(id)) {
            (Some(n), _) if n.materialized() != "ephemeral" => Some(n.relation.render()),
            (_, Some(s)) => Some(s.relation.render()),
            _ => None,
        }
    };
    let mut model = resolve(info.attached_node.as_deref()?)?;
    match node.config.get("where") {
        None | Some(Json::Null) => {}
        Some(Json::String(w)) if !w.contains("{{") && !w.contains("{%") => {
            model = format!("(select * from {model} where {w}) dbt_subquery");
        }
        _ => return None,
    }
    let kw = &md.kwargs;
    let s = |k: &str| kw.get(k).and_then(Json::as_str).map(str::to_string);
    let col = s("column_name")?;
    let stores = matches!(node.config.get("store_failures"), Some(Json::Bool(true)))
        || node.config.get("store_failures").and_then(Json::as_str) == Some("true")
        || matches!(node.config.get_str("store_failures_as").as_deref(), Some("table" | "view"));
    Some(match md.name.as_str() {
        "not_null" => format!("select {}\nfrom {model}\nwhere {col} is null", if stores { "*" } else { col.as_str() }),
        "unique" => format!(
            "select {col} as unique_field, count(*) as n_records\nfrom {model}\nwhere {col} is not null\ngroup by {col}\nhaving count(*) > 1"
        ),
        "accepted_values" => {
            let quote = match kw.get("quote") {
                None => true,
                Some(Json::Bool(b)) => *b,
                _ => return None,
            };
            let mut items = vec![];
            for v in kw.get("values")?.as_array()? {
                let text = match v {
                    Json::String(x) => x.clone(),
                    Json::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                    _ => return None,
                };
                items.push(if quote { format!("'{text}'") } else { text });
            }
            format!(
                "with all_values as (\n    select {col} as value_field, count(*) as n_records\n    from {model}\n    group by {col}\n)\nselect *\nfrom all_values\nwhere value_field not in ({})",
                items.join(", ")
            )
        }
        _ => {
            let field = s("field")?;
            let (refs, sources) = unit::calls_in(&s("to")?);
            let globals = compiler.globals();
            let to_id = match (refs.first(), sources.first()) {
                (Some(r), _) => globals.resolver.node(r, &node.package_name)?.unique_id.clone(),
                (None, Some((a, b))) => globals.resolver.sources.get(&(a.clone(), b.clone()))?.unique_id.clone(),
                _ => return None,
            };
            let to = resolve(&to_id)?;
            format!(
                "with child as (\n    select {col} as from_field\n    from {model}\n    where {col} is not null\n),\nparent as (\n    select {field} as to_field\n    from {to}\n)\nselect from_field\nfrom child\nleft join parent on child.from_field = parent.to_field\nwhere parent.to_field is null"
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::data_tests::set_test_defaults;
    use crate::project::config::Config;
    use crate::templating::relation::Relation;
    use serde_json::json;
    use std::path::PathBuf;

    fn test_node(config: &[(&str, Json)]) -> Node {
        let mut c = Config::default();
        for (k, v) in config {
            c.set(k, v.clone());
        }
        set_test_defaults(&mut c);
        Node {
            unique_id: "test.p.t".into(),
            name: "t".into(),
            resource_type: ResourceType::Test,
            package_name: "p".into(),
            path: "t.sql".into(),
            original_file_path: "tests/t.sql".into(),
            raw_code: "".into(),
            fqn: vec![],
            config: c,
            description: String::new(),
            columns: vec![],
            patch_path: None,
            refs: vec![],
            sources: vec![],
            depends_on: vec![],
            relation: Relation::new(&crate::adapter::duckdb::DIALECT, "d", "s", "t"),
            file_path: PathBuf::new(),
            test: Some(Box::default()),
            language: crate::parse::Language::Sql,
            constraints: vec![],
            version: None,
        }
    }

    #[test]
    fn counting_query_applies_fail_calc_thresholds_and_limit() {
        let n = test_node(&[("warn_if", json!(">0")), ("error_if", json!(">5")), ("limit", json!(3))]);
        let sql = signalling_sql(&n, "select 1");
        assert!(sql.contains("((count(*)) >0)"), "{sql}");
        assert!(sql.contains("((count(*)) >5)"), "{sql}");
        assert!(sql.contains("select 1\n      limit 3\n"), "{sql}");
    }

    #[test]
    fn signal_carries_the_counts() {
        let n = test_node(&[("warn_if", json!(">0"))]);
        let sql = signalling_sql(&n, "select 1");
        assert!(sql.contains("having coalesce((count(*)) != 0 or ((count(*)) >0)"), "{sql}");
        let msg = "Invalid Input Error: strata-test-result:3:true:false";
        assert_eq!(read_signal(msg), Some((3, true, false)));
        assert_eq!(read_signal("Binder Error: column x not found"), None);
        let plain = signalling_sql(&test_node(&[]), "select 1");
        assert!(plain.contains("error('strata-test-result:' || count(*))") && plain.ends_with("having count(*) != 0"));
        assert_eq!(read_signal("Invalid Input Error: strata-test-result:2"), Some((2, true, true)));
        // Spark's raise_error adds the SQL state after the signal.
        let spark = "[USER_RAISED_EXCEPTION] strata-test-result:2 SQLSTATE: P0001";
        assert_eq!(read_signal(spark), Some((2, true, true)));
        assert_eq!(
            read_signal("[USER_RAISED_EXCEPTION] strata-test-result:0:false:false SQLSTATE: P0001"),
            Some((0, false, false))
        );
    }

    #[test]
    fn verdicts_follow_severity() {
        let err = test_node(&[]);
        assert_eq!(verdict(&err, true, true), Verdict::Fail);
        assert_eq!(verdict(&err, true, false), Verdict::Warn);
        assert_eq!(verdict(&err, false, false), Verdict::Pass);
        let warn = test_node(&[("severity", json!("warn"))]);
        assert_eq!(verdict(&warn, true, true), Verdict::Warn);
        assert_eq!(verdict_message(&warn, Verdict::Warn, 3).unwrap(), "Got 3 results, configured to warn if != 0");
        assert_eq!(verdict_message(&err, Verdict::Fail, 1).unwrap(), "Got 1 result, configured to fail if != 0");
    }
}
