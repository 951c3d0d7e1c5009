//! `strata debug`: where the project and profile were found, and whether the target connects.

use super::context::{load_options, printer_for};
use crate::diagnostics::Diagnostic;
use crate::settings::Settings;

pub(super) fn debug(settings: &Settings) -> i32 {
    let printer = printer_for(settings, None);
    printer.info(&format!("strata version: {}", env!("CARGO_PKG_VERSION")));
    let (project, _) = match crate::project::load(&load_options(settings, true)) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d.items);
            printer.info("Checks failed: fix the errors above.");
            return 2;
        }
    };
    printer.info(&format!("project: {} ({})", project.config.name, project.root.join("dbt_project.yml").display()));
    let Some(t) = &project.target else { return 2 };
    printer.info(&format!("profiles.yml: {} [OK found and valid]", t.profiles_file.display()));
    let engine = project.engine();
    printer.info(&format!(
        "profile: {}, target: {}, type: {}, path: {}, schema: {}, threads: {}",
        t.profile_name,
        t.name,
        t.adapter_type,
        (engine.location)(t),
        t.schema,
        t.threads
    ));
    match (engine.open)(t).and_then(|db| db.connect()).and_then(|c| c.query("select 1 as ok", None)) {
        Ok(_) => {
            printer.info("Connection test: [OK connection ok]");
            printer.info("All checks passed!");
            0
        }
        Err(e) => {
            printer
                .diagnostics(&[Diagnostic::error("E0801", format!("cannot connect to {}: {e}", engine.describe(t)))]);
            1
        }
    }
}
