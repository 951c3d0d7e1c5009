//! The Rust fast path for built-in generic tests must produce exactly what the Jinja templates
//! produce. In-process, on tests/fixtures/data_tests, no database.

use std::path::Path;
use std::sync::Arc;
use strata::compile::Compiler;
use strata::parse::{parse, parse_globals, ResourceType};
use strata::project::LoadOptions;
use strata::templating::{relation::Relation, Overrides, Phase};

/// (test name, fast path SQL, template SQL) for every generic test of the project.
fn both_ways(root: &Path, store_failures: bool, staged: bool) -> Vec<(String, Option<String>, String)> {
    let opts = LoadOptions {
        project_dir: root.to_path_buf(),
        profiles_dir: None,
        profiles_env_dir: None,
        home: None,
        target: None,
        cli_vars: Default::default(),
        require_profile: false,
        packages_required: true,
    };
    let (project, _) = strata::project::load(&opts).unwrap();
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
