//! `strata run-operation`: call a macro with `--args`, with on-run-start/end, and report.

use super::context::{compile_globals, connect, Loaded};
use crate::diagnostics::Diagnostic;
use crate::output::Printer;
use crate::templating::Phase;

/// `run-operation`: call a macro with `--args` as keyword arguments, with the database open.
pub(super) fn run_operation(
    l: &Loaded,
    printer: &Printer,
    name: &str,
    args: &serde_json::Map<String, serde_json::Value>,
) -> i32 {
    let (package, short) = match name.split_once('.') {
        Some((p, n)) => (Some(p), n),
        None => (None, name),
    };
    let found = match package {
        Some(p) => l.engine.by_package.get(p).and_then(|m| m.get(short)),
        None => l.engine.macros.get(short),
    };
    let Some(def) = found.cloned() else {
        let names: Vec<String> = l
            .engine
            .by_package
            .iter()
            .filter(|(p, _)| package.is_none_or(|want| want == p.as_str()))
            .flat_map(|(_, m)| m.keys().cloned())
            .collect();
        printer.diagnostics(&[Diagnostic::error("E0408", format!("no macro named '{name}' in any package"))
            .with_help(
                crate::diagnostics::did_you_mean(short, names.iter().map(String::as_str))
                    .unwrap_or_else(|| "define it in a file under macros/".into()),
            )]);
        return 2;
    };
    let (_db, conn) = match connect(l, printer) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let globals = compile_globals(l);
    let node = crate::templating::NodeContext {
        unique_id: format!("macro.{}.{}", def.package, def.name),
        name: def.name.clone(),
        package: def.package.clone(),
        ..Default::default()
    };
    let kwargs =
        minijinja::value::Kwargs::from_iter(args.iter().map(|(k, v)| (k.clone(), minijinja::Value::from_serialize(v))));
    let call_args = if args.is_empty() { vec![] } else { vec![minijinja::Value::from(kwargs)] };
    let qualified = format!("{}.{}", def.package, def.name);
    match l.engine.call_macro(&qualified, call_args, Phase::Run, &globals, node, Some(conn)) {
        Ok(_) => 0,
        Err(d) => {
            printer.diagnostics(&[d]);
            printer.info(&format!("Encountered an error while running operation {name}"));
            1
        }
    }
}
