//! The Rust fast paths for built-in generic tests and for the built-in `view` and `table`
//! materializations must produce exactly what the Jinja templates produce. In-process, on
//! fixture projects, no database.

use std::path::Path;
use std::sync::Arc;
use strata::compile::Compiler;
use strata::parse::{parse, parse_globals, ResourceType};
use strata::project::LoadOptions;
use strata::templating::{relation::Relation, Overrides, Phase};

fn load_options(root: &Path) -> LoadOptions {
    LoadOptions {
        project_dir: root.to_path_buf(),
        profiles_dir: None,
        profiles_env_dir: None,
        home: None,
        target: None,
        cli_vars: Default::default(),
        require_profile: false,
        packages_required: true,
    }
}

/// (test name, fast path SQL, template SQL) for every generic test of the project.
fn both_ways(root: &Path, store_failures: bool, staged: bool) -> Vec<(String, Option<String>, String)> {
    let (project, _) = strata::project::load(&load_options(root)).unwrap();
    let (engine, _) = strata::parse::build_engine(&project);
    let inv = strata::Invocation::new("compile", false);
    let (mut manifest, _) = parse(&project, &engine, &Arc::new(parse_globals(&project, &inv))).unwrap();
    for n in manifest.nodes.values_mut().filter(|n| n.resource_type == ResourceType::Test) {
        if store_failures {
            n.config.set("store_failures", serde_json::json!(true));
        }
    }
    let mut g = parse_globals(&project, &inv);
    g.resolver = manifest.resolver();
    let manifest = Arc::new(manifest);
    let compiler = Compiler::new(&engine, Arc::new(g), &manifest);
    let mut out = vec![];
    for n in manifest.nodes.values() {
        let Some(target) = n.test.as_ref().filter(|t| t.metadata.is_some()).and_then(|t| t.attached_node.clone())
        else {
            continue;
        };
        let overrides = staged.then(|| {
            let mut rel: Relation = manifest
                .nodes
                .get(&target)
                .map(|t| t.relation.clone())
                .unwrap_or_else(|| Relation::new(&strata::adapter::duckdb::DIALECT, "d", "s", "x"));
            rel.identifier = Some(format!("{}__strata_audit", rel.identifier.unwrap_or_default()));
            Arc::new(Overrides { relations: [(target.clone(), rel)].into_iter().collect(), ..Default::default() })
        });
        let fast = strata::testing::fast_sql(&compiler, n, overrides.as_deref());
        let mut ctx = compiler.node_context(n, false);
        ctx.overrides = overrides;
        let jinja = compiler.compile_in(n, ctx, Phase::Compile, None).unwrap().sql;
        out.push((n.name.clone(), fast, jinja));
    }
    out
}

#[test]
fn fast_path_matches_the_templates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data_tests");
    let copy = crate::util::TestProject::from_path(&root, "data_tests");
    // As the fixture is (it overrides not_null), then with the built-in not_null.
    for (drop_override, store_failures, staged) in
        [(false, false, false), (true, false, false), (true, true, false), (true, false, true)]
    {
        if drop_override {
            let _ = std::fs::remove_file(copy.root.join("tests/generic/not_null.sql"));
        }
        let all = both_ways(&copy.root, store_failures, staged);
        assert_eq!(all.len(), 15);
        let fast: Vec<_> = all.iter().filter(|(_, f, _)| f.is_some()).collect();
        // The custom tests (and the overridden not_null) go through Jinja.
        let expected_fast = if drop_override { 13 } else { 8 };
        assert_eq!(fast.len(), expected_fast, "{all:#?}");
        for (name, f, j) in fast {
            assert_eq!(f.as_deref(), Some(j.as_str()), "{name} (store_failures {store_failures}, staged {staged})");
        }
    }
}

/// A connection that records what it is asked to run and runs nothing.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl strata::adapter::Connection for Recorder {
    fn execute(&self, sql: &str) -> Result<strata::adapter::AdapterResponse, strata::adapter::DbError> {
        self.0.lock().unwrap().push(sql.to_string());
        Ok(strata::adapter::AdapterResponse { message: "OK".into(), rows_affected: None })
    }
    fn query(&self, sql: &str, _: Option<usize>) -> Result<strata::adapter::Table, strata::adapter::DbError> {
        Err(strata::adapter::DbError(format!("not recorded: {sql}")))
    }
    fn relation_kind(&self, _: &str, _: &str, _: &str) -> Result<Option<String>, strata::adapter::DbError> {
        Ok(None)
    }
    fn relations(
        &self,
    ) -> Result<std::collections::HashMap<(String, String, String), String>, strata::adapter::DbError> {
        Ok(Default::default())
    }
    fn columns(&self, _: &str, _: &str, _: &str) -> Result<Vec<strata::adapter::Column>, strata::adapter::DbError> {
        Ok(vec![])
    }
    fn columns_by_name(
        &self,
        _: &[&str],
    ) -> Result<Vec<(strata::adapter::RelationName, Vec<strata::adapter::Column>)>, strata::adapter::DbError> {
        Ok(vec![])
    }
    fn all_columns(
        &self,
    ) -> Result<Vec<(strata::adapter::RelationName, Vec<strata::adapter::Column>)>, strata::adapter::DbError> {
        Ok(vec![])
    }
    fn relation_types(&self) -> Result<Vec<(strata::adapter::RelationName, String)>, strata::adapter::DbError> {
        Ok(vec![])
    }
    fn describe(&self, _: &str) -> Result<Vec<strata::adapter::Column>, strata::adapter::DbError> {
        Ok(vec![])
    }
    fn rollback(&self) {}
}

/// For every model of the project, every (materialization, what exists, staged or not): the
/// fast path's statement and the statements the materialization macro ran.
fn materialized_both_ways(root: &Path) -> Vec<(String, Option<String>, Vec<String>)> {
    let (project, _) = strata::project::load(&load_options(root)).unwrap();
    let (engine, _) = strata::parse::build_engine(&project);
    let inv = strata::Invocation::new("run", false);
    let (manifest, _) = parse(&project, &engine, &Arc::new(parse_globals(&project, &inv))).unwrap();
    let mut g = parse_globals(&project, &inv);
    g.resolver = manifest.resolver();
    let manifest = Arc::new(manifest);
    let compiler = Compiler::new(&engine, Arc::new(g), &manifest);
    let mut out = vec![];
    for n in manifest.nodes.values().filter(|n| n.resource_type == ResourceType::Model) {
        for mat in ["view", "table"] {
            for existing in [None, Some("view"), Some("table")] {
                for staged in [false, true] {
                    let mut this = n.relation.clone();
                    if staged {
                        this.identifier = Some(format!("{}__strata_audit", n.name));
                        this.kind = Some("table".into());
                    }
                    let mut tmp = this.clone();
                    tmp.identifier = Some(format!("{}__strata_tmp", this.identifier.clone().unwrap()));
                    let sql = format!("\nselect 1 as id -- {}\n", n.name);
                    let target = strata::run::builtin::Target { this: &this, existing, tmp: &tmp, sql: &sql };
                    let fast = strata::run::builtin::statement(&engine, n, mat, false, &target);
                    let mut ctx = compiler.node_context(n, false);
                    let existing_rel = existing
                        .map(|k| Relation { kind: Some(k.into()), ..this.clone() }.into_value())
                        .unwrap_or(minijinja::Value::from(()));
                    ctx.this = Some(this.clone());
                    ctx.extra = vec![
                        ("sql".into(), minijinja::Value::from(sql.as_str())),
                        ("existing".into(), existing_rel),
                        ("tmp_relation".into(), tmp.clone().into_value()),
                        ("full_refresh".into(), minijinja::Value::from(false)),
                        ("build_in_place".into(), minijinja::Value::from(false)),
                        ("defer_constraints".into(), minijinja::Value::from(false)),
                    ];
                    let recorder = Arc::new(Recorder::default());
                    let [own, default] = engine.dialect.materialization_macros(mat);
                    let mac = if engine.has_macro(&own) { own } else { default };
                    engine
                        .call_macro(&mac, vec![], Phase::Run, compiler.globals(), ctx, Some(recorder.clone()))
                        .unwrap();
                    let ran = recorder.0.lock().unwrap().clone();
                    out.push((format!("{} as {mat}, existing {existing:?}, staged {staged}", n.name), fast, ran));
                }
            }
        }
    }
    out
}

#[test]
fn materializations_match_the_templates() {
    // Models with and without enforced contracts.
    for fixture in ["data_tests", "contracts"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixture);
        let all = materialized_both_ways(&root);
        let fast: Vec<_> = all.iter().filter(|(_, f, _)| f.is_some()).collect();
        for (what, f, ran) in &fast {
            assert_eq!(ran, &vec![f.clone().unwrap()], "{fixture}: {what}");
        }
        // Every model's view is built without Jinja; a table only when its contract is not
        // enforced (create_table_as then creates the declared columns first).
        let views = all.iter().filter(|(w, _, _)| w.contains(" as view")).count();
        assert!(fast.iter().filter(|(w, _, _)| w.contains(" as view")).count() == views && views > 0, "{all:#?}");
        let contracted =
            all.iter().filter(|(w, _, ran)| w.contains(" as table") && ran.iter().any(|s| s.contains("insert into")));
        assert!(contracted.clone().all(|(_, f, _)| f.is_none()), "{all:#?}");
        assert_eq!(contracted.count() > 0, fixture == "contracts", "{all:#?}");
        assert!(fast.iter().any(|(w, _, _)| w.contains(" as table")), "{all:#?}");
    }
}

#[test]
fn a_project_macro_sends_materializations_through_the_templates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data_tests");
    for (file, text, overridden) in [
        (
            "create_view_as.sql",
            "{% macro duckdb__create_view_as(relation, sql) %}create view {{ relation }} as ({{ sql }}){% endmacro %}",
            " as view",
        ),
        (
            "swap.sql",
            "{% macro swap_relation(existing, tmp_relation, target) %}alter table {{ tmp_relation }} rename to {{ target.identifier }};{% endmacro %}",
            " as table",
        ),
        (
            "statement.sql",
            "{% macro statement(name=none, fetch_result=false, auto_begin=true) %}{{ caller() }}{% endmacro %}",
            " as ",
        ),
    ] {
        let copy = crate::util::TestProject::from_path(&root, "data_tests");
        std::fs::create_dir_all(copy.root.join("macros")).unwrap();
        std::fs::write(copy.root.join("macros").join(file), text).unwrap();
        let all = materialized_both_ways(&copy.root);
        assert!(!all.is_empty());
        for (what, fast, ran) in &all {
            if what.contains(overridden) {
                assert_eq!(fast, &None, "{file}: {what}");
            } else {
                assert_eq!(ran, &vec![fast.clone().unwrap()], "{file}: {what}");
            }
        }
    }
}
