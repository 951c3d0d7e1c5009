//! Data tests and unit tests: test nodes from property YAML (generic tests) and test-paths
//! (singular tests, parsed with the models), their configs and checks, and how a test's query
//! becomes a pass / warn / fail with dbt's thresholds.
//! In: the parsed project. Out: test nodes in the [`Manifest`]; at run time, a [`Verdict`].

pub mod generic;
pub mod unit;

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use crate::parse::{yaml_span, Manifest, Node, ResourceType, TestInfo, TestMetadata};
use crate::project::config::Config;
use crate::project::properties::{ColumnDef, TestDecl};
use crate::project::yaml::YPath;
use crate::project::Project;
use crate::templating::relation::Relation;
use crate::templating::{Engine, Globals, NodeContext, Phase};
use generic::Target;
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Fill in dbt's defaults for a test's config.
pub fn set_test_defaults(c: &mut Config) {
    let defaults = [
        ("severity", json!("ERROR")),
        ("warn_if", json!("!= 0")),
        ("error_if", json!("!= 0")),
        ("fail_calc", json!("count(*)")),
        ("schema", json!("dbt_test__audit")),
        ("materialized", json!("test")),
    ];
    for (k, v) in defaults {
        if c.get(k).is_none_or(Json::is_null) {
            c.set(k, v);
        }
    }
}

/// Whether a threshold is one dbt accepts: a comparison and a number (`!= 0`, `>10`).
pub fn valid_threshold(s: &str) -> bool {
    let t = s.trim();
    let ops = ["!=", "<>", ">=", "<=", "==", "=", ">", "<"];
    let Some(op) = ops.iter().find(|o| t.starts_with(**o)) else { return false };
    let num = t[op.len()..].trim();
    !num.is_empty() && num.parse::<f64>().is_ok()
}

struct Declared<'a> {
    file: &'a Path,
    decl: &'a TestDecl,
    target: Target<'a>,
    target_id: String,
    column: Option<&'a ColumnDef>,
}

/// Create a node for every generic test declared on models, seeds and source tables.
pub fn add_generic_tests(
    project: &Project,
    package: &crate::project::Package,
    engine: &Engine,
    globals: &Arc<Globals>,
    manifest: &mut Manifest,
    diags: &mut Diagnostics,
) {
    let pkg = package.name.clone();
    let props = &package.properties;
    let mut declared: Vec<Declared> = vec![];
    // A node's model-level tests and its columns' tests.
    fn declare<'a>(
        out: &mut Vec<Declared<'a>>,
        file: &'a Path,
        target: Target<'a>,
        target_id: String,
        tests: &'a [TestDecl],
        columns: &'a [ColumnDef],
    ) {
        for d in tests {
            out.push(Declared { file, decl: d, target, target_id: target_id.clone(), column: None });
        }
        for c in columns {
            for d in &c.tests {
                out.push(Declared { file, decl: d, target, target_id: target_id.clone(), column: Some(c) });
            }
        }
    }
    for (rt, patches) in [("model", &props.models), ("seed", &props.seeds), ("snapshot", &props.snapshots)] {
        for (name, patch) in patches {
            // Each version of a versioned model has the tests of its own columns.
            for v in &patch.versions {
                let target_id = format!("{rt}.{pkg}.{name}.v{}", v.v);
                if manifest.nodes.contains_key(&target_id) {
                    let target = Target::Version(name, &v.v);
                    declare(&mut declared, &patch.file, target, target_id, &v.tests, &v.columns);
                }
            }
            let target_id = format!("{rt}.{pkg}.{name}");
            if manifest.nodes.contains_key(&target_id) {
                declare(&mut declared, &patch.file, Target::Node(name), target_id, &patch.tests, &patch.columns);
            }
        }
    }
    for t in &props.sources {
        let target_id = format!("source.{pkg}.{}.{}", t.source_name, t.name);
        if !manifest.sources.contains_key(&target_id) {
            continue;
        }
        let target = Target::Source(&t.source_name, &t.name);
        for d in &t.tests {
            declared.push(Declared { file: &t.file, decl: d, target, target_id: target_id.clone(), column: None });
        }
        for c in &t.columns {
            for d in &c.tests {
                declared.push(Declared {
                    file: &t.file,
                    decl: d,
                    target,
                    target_id: target_id.clone(),
                    column: Some(c),
                });
            }
        }
    }

    let test_macros: Vec<String> =
        engine.macros.keys().filter_map(|k| k.strip_prefix("test_").map(str::to_string)).collect();
    for d in declared {
        let column_name = d.column.map(|c| c.name.as_str());
        let t = match generic::interpret(d.decl, d.target, column_name) {
            Ok(t) => t,
            Err((msg, yp, help)) => {
                diags.push(
                    Diagnostic::error("E0208", msg).with_span(yaml_span(project, d.file, &yp)).with_opt_help(help),
                );
                continue;
            }
        };
        let macro_name = format!("test_{}", t.test_name);
        let found = match &t.namespace {
            Some(ns) => engine.by_package.get(ns).is_some_and(|m| m.contains_key(&macro_name)),
            None => engine.ns.resolve(&macro_name, &pkg, None).is_some(),
        };
        if !found {
            let candidates: Vec<String> = match &t.namespace {
                Some(ns) => engine
                    .by_package
                    .get(ns)
                    .map(|m| m.keys().filter_map(|k| k.strip_prefix("test_").map(str::to_string)).collect())
                    .unwrap_or_default(),
                None => test_macros.clone(),
            };
            let help = did_you_mean(&t.test_name, candidates.iter().map(String::as_str)).unwrap_or_else(|| {
                match &t.namespace {
                    Some(ns) if !engine.by_package.contains_key(ns) && !engine.ns.names.contains_key(ns) => {
                        format!("no installed package is named '{ns}'; add it to packages.yml and run `strata deps`")
                    }
                    _ => "define it with {% test name(model, column_name) %} in tests/generic/ or a macro file".into(),
                }
            });
            let mut span = yaml_span(project, d.file, &t.name_path);
            // `- not_nul`: point at the name, not the dash.
            let written = match &t.namespace {
                Some(ns) => format!("{ns}.{}", t.test_name),
                None => t.test_name.clone(),
            };
            if let Some(line) = &span.source_line {
                let from: String = line.chars().skip(span.col.saturating_sub(1)).collect();
                if let Some(rest) = from.strip_prefix('-') {
                    let pad = rest.len() - rest.trim_start().len();
                    if rest.trim_start().starts_with(&written) {
                        span.col += 1 + pad;
                        span.len = written.chars().count();
                    }
                }
            }
            diags.push(
                Diagnostic::error("E0209", format!("unknown generic test '{written}'")).with_span(span).with_help(help),
            );
            continue;
        }
        let mut kwargs = t.args.clone();
        kwargs.insert("model".into(), Json::String(generic::model_arg(d.target)));
        let hash = generic::unique_id_hash(&t.name, &t.test_name, t.namespace.as_deref(), &kwargs);
        let unique_id = format!("test.{pkg}.{}.{hash}", t.name);
        let file = crate::parse::package_relative(package, project, d.file);
        let mut fqn = vec![pkg.clone()];
        fqn.extend(crate::parse::property_file_folders(&file));
        fqn.push(t.name.clone());
        let column_quoted = d.column.and_then(|c| c.quote).unwrap_or(false);
        if let (true, Some(c)) = (column_quoted, d.column) {
            kwargs.insert("column_name".into(), Json::String(crate::templating::relation::quote(&c.name)));
        }
        let raw_code =
            generic::raw_code(&generic::GenericTest { args: kwargs_without_model(&kwargs), ..t.clone() }, d.target);
        // dbt's order for a generic test: dbt_project.yml, then config() inside the test's
        // definition (dbt_utils.equality sets its fail_calc there), then the YAML entry.
        let mut config = crate::parse::folder_config(project, package, "tests", &fqn);
        if t.namespace.is_some() || !engine.is_builtin(&macro_name) {
            let ctx = NodeContext { package: pkg.clone(), name: t.name.clone(), ..Default::default() };
            // A definition that fails to render here fails, located, when the test runs.
            if let Ok(r) = engine.render(&file, &raw_code, Phase::Parse, globals, ctx, None) {
                config.merge(&r.config);
            }
        }
        config.merge(&t.config);
        if t.short_name != t.name && config.get("alias").is_none() {
            config.set("alias", Json::String(t.short_name.clone()));
        }
        set_test_defaults(&mut config);
        // Arguments that are calls (`to: ref('customers')`) add dependencies.
        let mut refs = vec![];
        let mut sources = vec![];
        match d.target {
            Target::Node(n) => refs.push(crate::templating::RefCall::new(None, n.to_string())),
            Target::Version(n, v) => refs.push(crate::templating::RefCall {
                package: None,
                name: n.to_string(),
                version: Some(v.to_string()),
            }),
            Target::Source(s, tb) => sources.push((s.to_string(), tb.to_string())),
        }
        for v in t.args.values() {
            let Some(expr) = v.as_str().filter(|s| generic::looks_like_call(s)) else { continue };
            let src = format!("{{{{ {} }}}}", expr.trim());
            match engine.render(&file, &src, Phase::Parse, globals, NodeContext::default(), None) {
                Ok(r) => {
                    refs.extend(r.refs);
                    sources.extend(r.sources);
                }
                Err(mut e) => {
                    e.span = Some(Box::new(yaml_span(project, d.file, &t.name_path)));
                    diags.push(e);
                }
            }
        }
        let node = Node {
            unique_id: unique_id.clone(),
            name: t.name.clone(),
            resource_type: ResourceType::Test,
            package_name: pkg.clone(),
            path: format!("{}.sql", t.short_name),
            original_file_path: file.clone(),
            raw_code,
            fqn,
            config,
            description: t.description.clone(),
            columns: vec![],
            patch_path: None,
            refs,
            sources,
            depends_on: vec![],
            relation: Relation::new(&globals.target_database, &globals.target_schema, &t.short_name),
            file_path: project.root.join(d.file),
            test: Some(Box::new(TestInfo {
                metadata: Some(TestMetadata { name: t.test_name.clone(), namespace: t.namespace.clone(), kwargs }),
                column_name: column_name.map(str::to_string),
                attached_node: Some(d.target_id.clone()),
                decl: Some((d.file.to_path_buf(), d.decl.ypath.clone())),
                unit: None,
            })),
            language: crate::parse::Language::Sql,
            constraints: vec![],
            version: None,
        };
        if !node.config.enabled() {
            manifest.disabled.insert(unique_id);
            continue;
        }
        if manifest.nodes.contains_key(&unique_id) {
            diags.push(
                Diagnostic::error("E0210", format!("test '{}' is declared twice", t.name))
                    .with_span(yaml_span(project, d.file, &t.name_path))
                    .with_help("give one of them a distinct `name:`"),
            );
            continue;
        }
        manifest.nodes.insert(unique_id, node);
    }
    check_thresholds(project, manifest, diags);
}

fn kwargs_without_model(k: &serde_json::Map<String, Json>) -> serde_json::Map<String, Json> {
    k.iter().filter(|(key, _)| key.as_str() != "model").map(|(a, b)| (a.clone(), b.clone())).collect()
}

/// Malformed `warn_if` / `error_if` are errors, located where they are written.
fn check_thresholds(project: &Project, manifest: &Manifest, diags: &mut Diagnostics) {
    for n in manifest.nodes.values().filter(|n| n.resource_type == ResourceType::Test) {
        for key in ["warn_if", "error_if"] {
            let Some(v) = n.config.get_str(key) else { continue };
            if valid_threshold(&v) {
                continue;
            }
            let span = match n.test.as_ref().and_then(|t| t.decl.clone()) {
                Some((file, yp)) => {
                    let md = n.test.as_ref().and_then(|t| t.metadata.as_ref());
                    let test = md
                        .map(|m| match &m.namespace {
                            Some(ns) => format!("{ns}.{}", m.name),
                            None => m.name.clone(),
                        })
                        .unwrap_or_default();
                    locate_config_key(project, &file, &yp, &test, key)
                }
                None => {
                    let at = n.raw_code.find(key).unwrap_or(0);
                    crate::diagnostics::Span::from_offsets(
                        &n.original_file_path,
                        &n.raw_code,
                        at,
                        at + if at == 0 { 0 } else { key.len() },
                    )
                }
            };
            diags.push(
                Diagnostic::error("E0211", format!("{key} of test '{}' is not a threshold: '{v}'", n.name))
                    .with_span(span)
                    .with_help("write a comparison and a number, as in \"!= 0\", \">10\" or \">=5\""),
            );
        }
    }
}

/// The span of a config key of a test entry, wherever it is written (inline or under config:).
fn locate_config_key(project: &Project, file: &Path, decl: &YPath, test: &str, key: &str) -> crate::diagnostics::Span {
    let text = std::fs::read_to_string(project.root.join(file)).unwrap_or_default();
    let doc = crate::project::yaml::YamlDoc { path: PathBuf::from(file), source: text, value: serde_yaml::Value::Null };
    let entry = decl.key(test);
    for p in [entry.key("config").key(key), entry.key(key)] {
        if crate::project::yaml::locate(&doc.source, &p.0).is_some() {
            return doc.span(&p);
        }
    }
    doc.span(decl)
}

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
    if fail_calc.trim() == "count(*)" && plain(&warn_if) && plain(&error_if) {
        // The usual test: both flags are `failures != 0`, so the count alone is the signal.
        return format!(
            "select error('{SIGNAL}' || count(*))\n    from (\n{}{limit}\n    ) dbt_internal_test\n    having count(*) != 0",
            main_sql.trim_end()
        );
    }
    let v = |e: &str| format!("coalesce(cast({e} as varchar), 'null')");
    format!(
        "select error('{SIGNAL}' || {} || ':' || {} || ':' || {})\n    from (\n{}{limit}\n    ) dbt_internal_test\n    having coalesce(({fail_calc}) != 0 or (({fail_calc}) {warn_if}) or (({fail_calc}) {error_if}), false)",
        v(&fail_calc),
        v(&format!("(({fail_calc}) {warn_if})")),
        v(&format!("(({fail_calc}) {error_if})")),
        main_sql.trim_end()
    )
}

/// The (failures, should_warn, should_error) a [`signalling_sql`] error carries, if it is one.
pub fn read_signal(message: &str) -> Option<(i64, bool, bool)> {
    let rest = &message[message.find(SIGNAL)? + SIGNAL.len()..];
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
) -> Vec<Diagnostic> {
    let m = compiler.manifest();
    let conn = match adapter.connect() {
        Ok(c) => c,
        Err(e) => return vec![Diagnostic::error("E0801", format!("cannot connect to DuckDB: {e}"))],
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
            t.column_name.as_ref()?;
            t.attached_node.clone()
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
    let builtin = |m: &str| engine.is_builtin(m);
    let test = format!("test_{}", md.name);
    if !builtin(&test)
        || !builtin(&format!("default__{test}"))
        || engine.has_macro(&format!("duckdb__{test}"))
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
            raw_code: String::new(),
            fqn: vec![],
            config: c,
            description: String::new(),
            columns: vec![],
            patch_path: None,
            refs: vec![],
            sources: vec![],
            depends_on: vec![],
            relation: Relation::new("d", "s", "t"),
            file_path: PathBuf::new(),
            test: Some(Box::default()),
            language: crate::parse::Language::Sql,
            constraints: vec![],
            version: None,
        }
    }

    #[test]
    fn thresholds() {
        for ok in ["!= 0", ">10", ">= 5", "=0", "<> 1", "< 2.5"] {
            assert!(valid_threshold(ok), "{ok}");
        }
        for bad in ["more than 0", ">", "10", "!= x", ""] {
            assert!(!valid_threshold(bad), "{bad}");
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
