//! `strata clean`: delete the clean-targets (target/ and dbt_packages/ by default), as dbt does.

use super::context::{load_options, printer_for};
use crate::settings::Settings;

pub(super) fn clean(settings: &Settings) -> i32 {
    let printer = printer_for(settings, None);
    let (project, _) = match crate::project::load(&load_options(settings, false)) {
        Ok(x) => x,
        Err(d) => {
            printer.diagnostics(&d.items);
            return 2;
        }
    };
    let mut targets = project.config.clean_targets.clone();
    if let Some(tp) = &settings.target_path {
        targets.push(tp.to_string_lossy().to_string());
    }
    for t in targets {
        let p = project.root.join(&t);
        let inside =
            std::fs::canonicalize(&p).map(|c| c.starts_with(&project.root) && c != project.root).unwrap_or(false);
        if !inside {
            if p.exists() {
                printer.warn(&format!("not removing {t}: it is outside the project folder"));
            }
            continue;
        }
        match std::fs::remove_dir_all(&p) {
            Ok(()) => printer.info(&format!("Cleaned {t}/")),
            Err(e) => printer.warn(&format!("cannot remove {t}: {e}")),
        }
    }
    printer.info("Finished cleaning all paths.");
    0
}
