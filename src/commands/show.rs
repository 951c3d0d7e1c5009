//! `strata show` (and `--inline`): compile a node or inline SQL and print its first rows.

use super::context::{compile_globals, connect, inline_node, plan_for, Loaded};
use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::Settings;
use crate::templating::Phase;

pub(super) fn show(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    let (_db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let globals = compile_globals(l);
    let compiler = Compiler::new(&l.engine, globals, &l.manifest).with_log(&l.compiled);
    let node = match &settings.inline {
        Some(sql) => inline_node(l, sql),
        None => {
            let plan = match plan_for(
                settings,
                l,
                &[ResourceType::Model, ResourceType::Seed, ResourceType::Analysis],
                printer,
            ) {
                Ok(p) => p,
                Err(c) => return c,
            };
            match plan.as_slice() {
                [one] => (*l.manifest.nodes[one]).clone(),
                _ => {
                    printer.diagnostics(&[Diagnostic::error(
                        "E0602",
                        format!("`show` needs exactly one node; the selection matched {}", plan.len()),
                    )
                    .with_help("pass --select with one model name, or --inline \"select ...\"")]);
                    return 2;
                }
            }
        }
    };
    let sql = if node.resource_type == ResourceType::Seed {
        format!("select * from {}", node.relation.render())
    } else {
        match compiler.compile(&node, Phase::Compile, Some(conn.clone()), false) {
            Ok(c) => c.sql,
            Err(d) => {
                printer.diagnostics(&[d]);
                return 2;
            }
        }
    };
    let limited = if settings.limit >= 0 {
        format!("select * from (\n{}\n) as strata_show limit {}", sql.trim_end().trim_end_matches(';'), settings.limit)
    } else {
        sql
    };
    match conn.query(&limited, None) {
        Ok(t) => {
            printer.info(&format!(
                "Previewing {}:",
                if settings.inline.is_some() { "inline node".to_string() } else { format!("node '{}'", node.name) }
            ));
            print!("{}", t.format());
            0
        }
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E0501", format!("database error: {e}"))
                .with_note(format!("while running the SQL of '{}'", node.name))]);
            1
        }
    }
}
