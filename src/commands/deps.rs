//! `strata deps`: install the packages of packages.yml (see the `deps` module) and report.

use super::context::printer_for;
use crate::settings::Settings;
use std::path::PathBuf;

pub(super) fn deps(settings: &Settings, upgrade: bool, lock_only: bool) -> i32 {
    let printer = printer_for(settings, None);
    printer.info(&format!("Running with strata={}", env!("CARGO_PKG_VERSION")));
    let root = std::fs::canonicalize(&settings.project_dir).unwrap_or_else(|_| settings.project_dir.clone());
    let mut diags = crate::diagnostics::Diagnostics::default();
    let no_target = crate::project::profiles::target_value(None);
    let Some(config) = crate::project::read_project_file(&root, &root, &settings.vars, &no_target, &mut diags) else {
        printer.diagnostics(&diags.items);
        return 2;
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let cache = env("STRATA_PACKAGE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        settings.home.clone().unwrap_or_else(|| root.clone()).join(".cache").join("strata").join("packages")
    });
    let opts = crate::deps::DepsOptions {
        hub_url: env("DBT_PACKAGE_HUB_URL").unwrap_or_else(|| "https://hub.getdbt.com/".into()),
        cache,
        upgrade,
        lock_only,
        cli_vars: settings.vars.clone(),
    };
    match crate::deps::install(&root, &config, &opts) {
        Ok(report) => {
            if report.installed.is_empty() && !lock_only {
                printer.warn("No packages were found in packages.yml");
            }
            for (name, from) in &report.installed {
                printer.info(&format!("Installing {name}"));
                printer.info(&format!("Installed from {from}"));
            }
            if lock_only {
                printer.info("Wrote package-lock.yml");
            } else if report.from_lock {
                printer.info("Installed the versions in package-lock.yml");
            }
            0
        }
        Err(d) => {
            printer.diagnostics(&d.items);
            2
        }
    }
}
