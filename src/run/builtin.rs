//! The built-in `view` and `table` materializations without Jinja: when the project and its
//! packages override none of the macros they call, the statement is the text the templates
//! render (templates/materializations/view.sql and table.sql, with `create_view_as`,
//! `create_table_as` and `swap_relation` from templates/macros/adapter.sql), built directly.
//! The `materializations_match_the_templates` integration test renders both ways. A build of
//! many small models then spends its time in the database rather than in the template engine
//! (as `crate::testing::fast_sql` does for generic tests).

use crate::parse::Node;
use crate::templating::relation::Relation;
use crate::templating::Engine;
use serde_json::Value as Json;
use std::fmt::Write;

/// What the materialization writes: its context's `this`, `existing` (the relation's type
/// before the build, if it exists), `tmp_relation` and `sql`.
pub struct Target<'a> {
    pub this: &'a Relation,
    pub existing: Option<&'a str>,
    pub tmp: &'a Relation,
    pub sql: &'a str,
}

/// The statement the built-in materialization `mat` runs for `node` into `t`, or None when the
/// templates must render it: another materialization, a macro it calls defined by the project
/// or a package, an enforced contract, or a table built in place (foreign keys).
pub fn statement(engine: &Engine, node: &Node, mat: &str, build_in_place: bool, t: &Target) -> Option<String> {
    let dialect = engine.dialect;
    let [own, default] = dialect.materialization_macros(mat);
    // `adapter.dispatch(m)` picks `<engine>__m` when any package defines it, else `default__m`.
    let dispatched = |m: &str| {
        engine.only_builtin(m)
            && engine.only_builtin(&format!("default__{m}"))
            && !engine.defined_anywhere(&format!("{}__{m}", dialect.name))
    };
    let builtin =
        !engine.defined_anywhere(&own) && engine.only_builtin(&default) && !engine.defined_anywhere("statement");
    if !builtin || t.this.external.is_some() || t.tmp.external.is_some() {
        return None;
    }
    let (this, sql) = (t.this.render(), t.sql);
    let mut s = String::with_capacity(sql.len() + 400);
    match mat {
        "view" if dispatched("create_view_as") => {
            s.push_str("begin transaction;\n        ");
            if t.existing.is_some_and(|k| k != "view") {
                let _ = write!(s, "drop table if exists {this};\n        ");
            }
            let _ = write!(s, "create or replace view {this} as (\n{sql}\n    );\n        commit;");
        }
        "table" if !build_in_place && !contract_may_be_enforced(node) && dispatched("create_table_as") => {
            let identifier = t.this.identifier.as_deref()?;
            if !engine.only_builtin("swap_relation") {
                return None;
            }
            let tmp = t.tmp.render();
            let _ = write!(s, "begin transaction;\n        drop table if exists {tmp};\n        ");
            let _ = write!(s, "create table {tmp} as (\n{sql}\n    );\n        ");
            if let Some(kind) = t.existing {
                let kind = if kind == "view" { "view" } else { "table" };
                let _ = write!(s, "drop {kind} if exists {this};\n    ");
            }
            let _ = write!(s, "alter table {tmp} rename to {};\n        commit;", dialect.quote(identifier));
        }
        _ => return None,
    }
    // `statement` runs its body trimmed: this text starts with `begin` and ends with `commit;`.
    Some(s)
}

/// Whether `create_table_as` could take its contract branch: `config.get('contract').enforced`
/// anything but absent or false.
fn contract_may_be_enforced(node: &Node) -> bool {
    match node.config.get("contract") {
        None | Some(Json::Null) => false,
        Some(Json::Object(c)) => !matches!(c.get("enforced"), None | Some(Json::Null) | Some(Json::Bool(false))),
        Some(_) => true,
    }
}
