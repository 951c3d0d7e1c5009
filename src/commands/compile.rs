//! `strata compile` (and `--inline`): load -> select -> compile the selected nodes against the
//! database -> static analysis -> print the compiled SQL of one node or the count.

use super::context::{
    check_compiled, compile_each, compile_globals, connect, free_later, inline_node, plan_for, Loaded,
};
use crate::compile::Compiler;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::output::Printer;
use crate::parse::ResourceType;
use crate::settings::Settings;
use crate::templating::Phase;
use std::collections::HashMap;

pub(super) fn compile(settings: &Settings, l: &Loaded, printer: &Printer) -> i32 {
    let (db, _conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let globals = compile_globals(l);
    let compiler = Compiler::new(&l.engine, globals, &l.manifest).with_log(&l.compiled);
    if let Some(sql) = &settings.inline {
        let node = inline_node(l, sql);
        return match compiler.compile(&node, Phase::Compile, db.connect().ok(), false) {
            Ok(c) => {
                println!("{}", c.sql.trim_end());
                0
            }
            Err(d) => {
                printer.diagnostics(&[d]);
                2
            }
        };
    }
    let plan = match plan_for(settings, l, &[ResourceType::Model, ResourceType::Analysis, ResourceType::Test], printer)
    {
        Ok(p) => p,
        Err(c) => return c,
    };
    let results = compile_each(l, &compiler, db.as_ref(), &plan, true);
    // Everything is compiled: manifest.json is written while the SQL is checked.
    l.compiled.finish();
    let mut diags = Diagnostics::default();
    for (_, r) in &results {
        if let Err(d) = r {
            diags.push(d.clone());
        }
    }
    diags.sort();
    if diags.has_errors() {
        printer.diagnostics(&diags.items);
        return 2;
    }
    let count = results.len();
    // `-s` naming one node prints its SQL after the check.
    let single = match results.as_slice() {
        [(id, Ok(sql))] if !settings.select.is_empty() => Some((l.manifest.nodes[id].name.clone(), sql.clone())),
        _ => None,
    };
    // The models' SQL moves into what the check reads: no second copy of every model's SQL.
    let models: HashMap<String, String> = results
        .into_iter()
        .filter(|(id, _)| !l.manifest.nodes[id].is_test())
        .filter_map(|(id, r)| r.ok().map(|sql| (id, sql)))
        .collect();
    let conn = match db.connect() {
        Ok(c) => c,
        Err(e) => {
            printer.diagnostics(&[Diagnostic::error("E0801", format!("cannot connect: {e}"))]);
            return 2;
        }
    };
    match check_compiled(settings, l, &models, conn.as_ref(), printer) {
        Ok(lineage) => free_later((lineage, models)),
        Err(code) => return code,
    }
    if let Some((name, sql)) = single {
        printer.info(&format!("Compiled node '{name}' is:"));
        println!("{}", sql.trim_end());
    } else {
        printer.info(&format!("Compiled {count} nodes to {}", l.target_dir.join("compiled").display()));
    }
    0
}
