//! Generic and singular data tests as nodes: test nodes from property YAML with the names and
//! unique ids dbt gives them ([`super::generic_tests`]), their configs with dbt's defaults, and
//! malformed thresholds reported where they are written.
//! In: the parsed project. Out: test nodes in the [`Manifest`].

use super::generic_tests::{self as generic, Target};
use super::{yaml_span, Manifest, Node, ResourceType, TestInfo, TestMetadata};
use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};
use crate::project::config::Config;
use crate::project::properties::{ColumnDef, TestDecl};
use crate::project::yaml::YPath;
use crate::project::Project;
use crate::templating::relation::Relation;
use crate::templating::{Engine, Globals, NodeContext, Phase};
use rayon::prelude::*;
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

/// A declared test's node with the path of its name in the YAML (for a duplicate's
/// diagnostic) and its threshold problems (reported if it is added), or nothing; and the
/// diagnostics it gave.
type Made = (Option<(Box<Node>, YPath, Vec<Diagnostic>)>, Vec<Diagnostic>);

struct Declared<'a> {
    file: &'a Path,
    decl: &'a TestDecl,
    target: Target<'a>,
    target_id: String,
    column: Option<&'a ColumnDef>,
}

/// The generic tests one package's property YAML declares, each made into its node (or the
/// diagnostics that stop it), whether or not what it is attached to exists: that is checked
/// when they are added ([`add_generic_tests`]), so they can be made while the nodes are.
pub struct GenericTests<'a> {
    declared: Vec<Declared<'a>>,
    made: Vec<Made>,
}

/// Make a node for every generic test declared on models, seeds, snapshots and source tables
/// of `package` (on every core).
pub fn make_generic_tests<'a>(
    project: &Project,
    package: &'a crate::project::Package,
    engine: &Engine,
    globals: &Arc<Globals>,
) -> GenericTests<'a> {
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
                let target = Target::Version(name, &v.v);
                declare(&mut declared, &patch.file, target, target_id, &v.tests, &v.columns);
            }
            let target_id = format!("{rt}.{pkg}.{name}");
            declare(&mut declared, &patch.file, Target::Node(name), target_id, &patch.tests, &patch.columns);
        }
    }
    for t in &props.sources {
        let target_id = format!("source.{pkg}.{}.{}", t.source_name, t.name);
        let target = Target::Source(&t.source_name, &t.name);
        declare(&mut declared, &t.file, target, target_id, &t.tests, &t.columns);
    }

    let test_macros: Vec<String> =
        engine.macros.keys().filter_map(|k| k.strip_prefix("test_").map(str::to_string)).collect();
    let made: Vec<Made> =
        declared.par_iter().map(|d| test_node(project, package, engine, globals, &test_macros, d)).collect();
    GenericTests { declared, made }
}

/// Add the tests of [`make_generic_tests`] whose model, seed, snapshot or source is in the
/// manifest, in declaration order, so duplicates and diagnostics come out as they are written.
pub fn add_generic_tests(project: &Project, tests: GenericTests, manifest: &mut Manifest, diags: &mut Diagnostics) {
    let GenericTests { declared, made } = tests;
    // On every core: whether each test's model, seed, snapshot or source is there (a test of
    // nothing is dropped with its diagnostics), and whether the test is enabled; the
    // declarations are freed there too.
    type Checked<'a> = (&'a Path, Vec<Diagnostic>, Option<(Box<Node>, YPath, Vec<Diagnostic>, bool)>);
    let checked: Vec<Option<Checked>> = declared
        .into_par_iter()
        .zip(made.into_par_iter())
        .map(|(d, (node, ds))| {
            let attached = match d.target {
                Target::Source(..) => manifest.sources.contains_key(&d.target_id),
                Target::Node(_) | Target::Version(..) => manifest.nodes.contains_key(&d.target_id),
            };
            attached.then(|| {
                let node = node.map(|(n, name_path, thresholds)| {
                    let enabled = n.config.enabled();
                    (n, name_path, thresholds, enabled)
                });
                (d.file, ds, node)
            })
        })
        .collect();
    for (file, ds, node) in checked.into_iter().flatten() {
        diags.extend(ds);
        let Some((node, name_path, thresholds, enabled)) = node else { continue };
        if !enabled {
            manifest.disabled.insert(node.unique_id.clone());
            continue;
        }
        match manifest.nodes.entry(node.unique_id.clone()) {
            std::collections::btree_map::Entry::Occupied(_) => diags.push(
                Diagnostic::error("E0210", format!("test '{}' is declared twice", node.name))
                    .with_span(yaml_span(project, file, &name_path))
                    .with_help("give one of them a distinct `name:`"),
            ),
            std::collections::btree_map::Entry::Vacant(slot) => {
                diags.extend(thresholds);
                slot.insert(node);
            }
        }
    }
}

/// One declared generic test as a node, or the diagnostics that stop it.
fn test_node(
    project: &Project,
    package: &crate::project::Package,
    engine: &Engine,
    globals: &Arc<Globals>,
    test_macros: &[String],
    d: &Declared,
) -> Made {
    let pkg = package.name.clone();
    let mut diags = vec![];
    let column_name = d.column.map(|c| c.name.as_str());
    let t = match generic::interpret(d.decl, d.target, column_name) {
        Ok(t) => t,
        Err((msg, yp, help)) => {
            let d = Diagnostic::error("E0208", msg).with_span(yaml_span(project, d.file, &yp)).with_opt_help(help);
            return (None, vec![d]);
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
            None => test_macros.to_vec(),
        };
        let help =
            did_you_mean(&t.test_name, candidates.iter().map(String::as_str)).unwrap_or_else(|| match &t.namespace {
                Some(ns) if !engine.by_package.contains_key(ns) && !engine.ns.names.contains_key(ns) => {
                    format!("no installed package is named '{ns}'; add it to packages.yml and run `strata deps`")
                }
                _ => "define it with {% test name(model, column_name) %} in tests/generic/ or a macro file".into(),
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
        let d = Diagnostic::error("E0209", format!("unknown generic test '{written}'")).with_span(span).with_help(help);
        return (None, vec![d]);
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
        kwargs.insert("column_name".into(), Json::String(engine.dialect.quote(&c.name)));
    }
    let raw_code = generic::raw_code(&t, &kwargs, d.target);
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
        Target::Version(n, v) => {
            refs.push(crate::templating::RefCall { package: None, name: n.to_string(), version: Some(v.to_string()) })
        }
        Target::Source(s, tb) => sources.push((s.to_string(), tb.to_string())),
    }
    let static_parser = globals.flags.get("STATIC_PARSER").and_then(Json::as_bool).unwrap_or(true);
    for v in t.args.values() {
        let Some(expr) = v.as_str().filter(|s| generic::looks_like_call(s)) else { continue };
        let src = format!("{{{{ {} }}}}", expr.trim());
        // `to: ref('customers')` is read without rendering when the static parser can, as a
        // model's calls are.
        if let Some(x) = static_parser.then(|| engine.extract(&file, &src, "", globals)).flatten() {
            refs.extend(x.refs);
            sources.extend(x.sources);
            continue;
        }
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
    let node = Box::new(Node {
        unique_id: unique_id.clone(),
        name: t.name.clone(),
        resource_type: ResourceType::Test,
        package_name: pkg.clone(),
        path: format!("{}.sql", t.short_name),
        original_file_path: file.clone(),
        raw_code: raw_code.into(),
        fqn,
        config,
        description: t.description.clone(),
        columns: vec![],
        patch_path: None,
        refs,
        sources,
        depends_on: vec![],
        relation: Relation::new(globals.dialect, &globals.target_database, &globals.target_schema, &t.short_name),
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
    });
    let thresholds = threshold_problems(project, &node);
    (Some((node, t.name_path, thresholds)), diags)
}

/// A test's malformed `warn_if` / `error_if`: errors, located where they are written. Checked
/// as each test is added to the manifest (its config is final by then).
pub(super) fn threshold_problems(project: &Project, n: &Node) -> Vec<Diagnostic> {
    let mut problems = vec![];
    for key in ["warn_if", "error_if"] {
        // (A string, the usual case, is checked without a copy.)
        if let Some(Json::String(s)) = n.config.get(key) {
            if valid_threshold(s) {
                continue;
            }
        }
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
        problems.push(
            Diagnostic::error("E0211", format!("{key} of test '{}' is not a threshold: '{v}'", n.name))
                .with_span(span)
                .with_help("write a comparison and a number, as in \"!= 0\", \">10\" or \">=5\""),
        );
    }
    problems
}

/// The span of a config key of a test entry, wherever it is written (inline or under config:).
fn locate_config_key(project: &Project, file: &Path, decl: &YPath, test: &str, key: &str) -> crate::diagnostics::Span {
    let text = std::fs::read_to_string(project.root.join(file)).unwrap_or_default();
    let doc = crate::project::yaml::YamlDoc {
        path: PathBuf::from(file),
        source: text.into(),
        value: serde_yaml::Value::Null,
    };
    let entry = decl.key(test);
    for p in [entry.key("config").key(key), entry.key(key)] {
        if crate::project::yaml::locate(&doc.source, &p.0).is_some() {
            return doc.span(&p);
        }
    }
    doc.span(decl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        for ok in ["!= 0", ">10", ">= 5", "=0", "<> 1", "< 2.5"] {
            assert!(valid_threshold(ok), "{ok}");
        }
        for bad in ["more than 0", ">", "10", "!= x", ""] {
            assert!(!valid_threshold(bad), "{bad}");
        }
    }
}
