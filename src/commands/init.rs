//! `strata init`: create a new project with a working DuckDB profile.

use super::context::printer_for;
use crate::diagnostics::Diagnostic;
use crate::settings::Settings;

pub(super) fn init(settings: &Settings, name: Option<&str>, skip_profile: bool) -> i32 {
    let printer = printer_for(settings, None);
    let Some(name) = name else {
        printer
            .diagnostics(&[Diagnostic::error("E0010", "`strata init` needs a project name")
                .with_help("run `strata init my_project`")]);
        return 2;
    };
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        printer.diagnostics(&[Diagnostic::error("E0011", format!("'{name}' is not a valid project name"))
            .with_help("use letters, digits and underscores, starting with a letter")]);
        return 2;
    }
    let root = settings.project_dir.join(name);
    if root.exists() {
        printer.diagnostics(&[Diagnostic::error("E0012", format!("{} already exists", root.display()))
            .with_help("choose another name or folder")]);
        return 2;
    }
    let files: Vec<(&str, String)> = vec![
        ("dbt_project.yml", format!(
            "name: {name}\nversion: '1.0.0'\nconfig-version: 2\nprofile: {name}\n\nmodel-paths: [\"models\"]\nseed-paths: [\"seeds\"]\nmacro-paths: [\"macros\"]\ntest-paths: [\"tests\"]\nsnapshot-paths: [\"snapshots\"]\nanalysis-paths: [\"analyses\"]\n\nclean-targets:\n  - target\n\nmodels:\n  {name}:\n    example:\n      +materialized: view\n"
        )),
        ("models/example/my_first_model.sql", "{{ config(materialized='table') }}\n\nselect 1 as id\nunion all\nselect 2 as id\n".into()),
        ("models/example/my_second_model.sql", "select *\nfrom {{ ref('my_first_model') }}\nwhere id = 1\n".into()),
        ("models/example/schema.yml", "version: 2\n\nmodels:\n  - name: my_first_model\n    description: \"A starter table model\"\n    columns:\n      - name: id\n        description: \"The primary key\"\n  - name: my_second_model\n    description: \"A starter view on my_first_model\"\n".into()),
        ("seeds/.gitkeep", String::new()),
        ("macros/.gitkeep", String::new()),
        ("tests/.gitkeep", String::new()),
        ("snapshots/.gitkeep", String::new()),
        ("analyses/.gitkeep", String::new()),
        (".gitignore", "target/\ndbt_packages/\nlogs/\n*.duckdb\n*.duckdb.wal\n".into()),
    ];
    let mut files = files;
    if !skip_profile {
        files.push(("profiles.yml", format!("{name}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {name}.duckdb\n      schema: main\n      threads: 4\n")));
    }
    for (rel, text) in files {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                printer.diagnostics(&[Diagnostic::error("E0013", format!("cannot create {}: {e}", parent.display()))]);
                return 2;
            }
        }
        if let Err(e) = std::fs::write(&p, text) {
            printer.diagnostics(&[Diagnostic::error("E0013", format!("cannot write {}: {e}", p.display()))]);
            return 2;
        }
    }
    printer.info(&format!("Created project '{name}' in {}", root.display()));
    printer.info(&format!("Next: cd {} && strata build", root.display()));
    0
}
