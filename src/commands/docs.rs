//! `strata docs generate`: load -> compile every model -> catalog from the database -> write the
//! static site and catalog.json. (`docs serve` is `crate::docs::serve`.)

use super::context::{compile_models, connect, free_later, node_ids, Loaded};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::Settings;
use std::collections::HashMap;

/// `docs generate`: compile, analyse, read the catalog, write catalog.json, lineage.json and
/// the site.
pub(super) fn docs_generate(settings: &Settings, l: &Loaded, printer: &Printer, no_compile: bool) -> i32 {
    let (db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let ids = node_ids(l, &[ResourceType::Model, ResourceType::Analysis]);
    let (compiled, errors) = printer.timed("compiled", || {
        if no_compile {
            (HashMap::new(), vec![])
        } else {
            compile_models(l, db.as_ref(), &ids, true)
        }
    });
    // Nothing more is compiled: manifest.json is written while the rest runs.
    l.compiled.finish();
    let mut diags = Diagnostics::default();
    for e in errors {
        // A model that does not compile is documented without its compiled SQL.
        let mut w = e;
        w.severity = crate::diagnostics::Severity::Warning;
        diags.push(w);
    }
    let mode = match settings.static_analysis {
        crate::lineage::Mode::Strict => crate::lineage::Mode::Warn,
        m => m,
    };
    // One read of the catalog: catalog.json's relations, and the columns the analysis asks for.
    let tables = printer.timed("catalog read", || crate::artifacts::catalog::collect(&l.manifest, conn.as_ref()));
    let db_cols = crate::lineage::DbColumns::given(
        tables
            .iter()
            .filter(|(_, t)| !t.columns.is_empty())
            .map(|(k, t)| (k.clone(), t.columns.iter().map(|(n, _)| crate::sql::Name::from(n.as_str())).collect()))
            .collect(),
    );
    let lineage = printer.timed("analysed", || {
        crate::lineage::analyze(
            &l.manifest,
            &l.dag,
            &compiled,
            Some(&db_cols),
            &l.project.root,
            &l.target_dir,
            l.analysis(mode),
        )
    });
    diags.extend(lineage.diagnostics.clone());
    printer.timed("catalog.json written", || {
        let catalog = crate::artifacts::catalog::catalog_json(&l.manifest, &tables, &l.invocation);
        if let Err(e) = crate::artifacts::write_json(&l.target_dir, "catalog.json", &catalog) {
            printer.warn(&format!("cannot write catalog.json: {e}"));
        }
    });
    let input = crate::docs::SiteInput {
        manifest: &l.manifest,
        lineage: &lineage,
        compiled: &compiled,
        catalog: &tables,
        project: &l.project.config.name,
        generated_at: l.invocation.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        root: &l.project.root,
        run_results: std::fs::read_to_string(l.target_dir.join("run_results.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok()),
        macros: l
            .engine
            .by_package
            .iter()
            .flat_map(|(package, defs)| defs.iter().map(move |(name, d)| (package, name, d)))
            .map(|(package, name, d)| {
                let patch = l.project.macro_patch(package, name);
                crate::docs::MacroDoc {
                    package: package.clone(),
                    name: name.clone(),
                    path: d.path.clone(),
                    args: d.args.clone(),
                    source: d.source.clone(),
                    description: patch.map(|p| p.description.clone()).unwrap_or_default(),
                    arguments: patch.map(|p| p.arguments.clone()).unwrap_or_default(),
                }
            })
            .collect(),
    };
    // lineage.json is written while the site is.
    let site = std::thread::scope(|s| {
        s.spawn(|| {
            printer.timed("lineage.json written", || {
                if let Err(e) = lineage.write(&l.target_dir, &l.invocation) {
                    printer.warn(&format!("cannot write lineage.json: {e}"));
                }
            })
        });
        printer.timed("site written", || crate::docs::generate(&input, &l.target_dir))
    });
    match site {
        Ok(w) => diags.extend(w),
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E1203", format!("cannot write the docs site: {e}"))]);
            return 2;
        }
    }
    drop(input);
    free_later((lineage, compiled, db_cols, tables));
    diags.sort();
    printer.diagnostics(&diags.items);
    printer.info(&format!("Catalog written to {}", l.target_dir.join("catalog.json").display()));
    printer.info(&format!("Docs site written to {}", l.target_dir.join("index.html").display()));
    0
}
