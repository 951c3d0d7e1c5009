//! Parse without rendering (dbt's "static parser"): what rendering a model at parse time
//! records (its `ref()`, `source()` and `config()` calls), read from the template's syntax tree
//! when the tree shows that rendering could record nothing else.
//!
//! In: a template source, the node's package and the invocation's vars. Out: the calls, or
//! `None`, and the caller renders as before. The rules are conservative, and each one mirrors
//! what the render would do (one failure can move: an operator or filter given a value of the
//! wrong type fails when the model compiles instead of at parse):
//! - `ref`, `source` and `config` are read only where they run exactly once, with constant
//!   arguments: not inside `{% if %}`, a loop, an `x if c else y`, or the right side of `and` /
//!   `or`, and never inside a macro (a macro that calls them is rendered).
//! - everything else evaluated must be known not to record a call or fail: constants,
//!   operators, loop and `set` variables, a few context values (`this`, `target`, ...) with at
//!   most one attribute, `var('name')` with a constant name that is defined (or has a default),
//!   `is_incremental()` (false at parse time), the filters and tests listed below, and project
//!   macros whose bodies follow the same rules (checked once per macro, transitively);
//! - anything else (method calls, `adapter`, `run_query`, `env_var`, imports, macro definitions,
//!   unknown names or filters) renders.
//!
//! `--no-static-parser` renders every model, as dbt's flag of that name does.

use super::{Engine, Globals, RefCall};
use crate::project::config::Config;
use minijinja::machinery::ast::{self, CallArg, Expr, Stmt};
use minijinja::machinery::{parse, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The calls a parse-time render records.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    /// `ref()` calls, in order, deduplicated.
    pub refs: Vec<RefCall>,
    /// `source()` calls, in order, deduplicated.
    pub sources: Vec<(String, String)>,
    /// Configs set by `config()` calls.
    pub config: Config,
}

/// What a macro needs to be called without rendering: its arguments, and the vars its body
/// (and the macros it calls) read without a default.
#[derive(Debug)]
struct MacroFacts {
    args: Vec<String>,
    variadic: bool,
    vars: Vec<String>,
}

/// (node package, macro package, macro name).
type MacroKey = (String, String, String);

/// Facts by [`MacroKey`]; `None`: the macro must be rendered.
#[derive(Debug, Default)]
pub struct MacroCache(Mutex<HashMap<MacroKey, Option<Arc<MacroFacts>>>>);

/// Context values a template may read without rendering (at most one attribute deep).
const CONTEXT: &[&str] =
    &["this", "target", "model", "project_name", "execute", "schema", "database", "invocation_id", "dbt_version"];

/// Filters that neither record calls nor fail on the values templates give them.
const FILTERS: &[&str] = &[
    "lower",
    "upper",
    "trim",
    "title",
    "capitalize",
    "replace",
    "join",
    "default",
    "d",
    "length",
    "count",
    "list",
    "string",
    "int",
    "float",
    "abs",
    "round",
    "first",
    "last",
    "reverse",
    "unique",
    "sort",
    "items",
    "safe",
    "e",
    "escape",
    "indent",
    "bool",
    "as_text",
    "as_bool",
    "as_number",
    "as_native",
    "tojson",
];

/// Tests (`is defined`) likewise.
const TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "string",
    "number",
    "integer",
    "float",
    "boolean",
    "true",
    "false",
    "mapping",
    "sequence",
    "iterable",
    "odd",
    "even",
    "eq",
    "ne",
    "lower",
    "upper",
    "startingwith",
    "endingwith",
    "in",
];

impl Engine {
    /// The `ref()`, `source()` and `config()` calls a parse-time render of `source` would record
    /// for a node of `package`, when they can be known without rendering; `None` otherwise.
    pub fn extract(&self, path: &str, source: &str, package: &str, globals: &Globals) -> Option<Extracted> {
        let tree = parse(source, path, SyntaxConfig, WhitespaceConfig::default()).ok()?;
        let Stmt::Template(t) = &tree else { return None };
        let mut w = Walk::new(self, package, None);
        w.stmts(&t.children)?;
        let all_vars = w.vars.iter().all(|v| globals.var(package, v).is_some());
        all_vars.then_some(w.out)
    }

    /// The facts of macro `name` of `macro_pkg` as called for a node of `node_pkg`.
    fn macro_facts(&self, node_pkg: &str, macro_pkg: &str, name: &str, depth: usize) -> Option<Arc<MacroFacts>> {
        let key = (node_pkg.to_string(), macro_pkg.to_string(), name.to_string());
        if let Some(f) = self.extract_cache.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return f.clone();
        }
        // Deep or recursive macro chains render (a recursive call finds no facts yet).
        let facts = if depth > 16 { None } else { self.compute_macro_facts(node_pkg, macro_pkg, name, depth) };
        self.extract_cache.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key, facts.clone());
        facts
    }

    fn compute_macro_facts(
        &self,
        node_pkg: &str,
        macro_pkg: &str,
        name: &str,
        depth: usize,
    ) -> Option<Arc<MacroFacts>> {
        let def = self.by_package.get(macro_pkg)?.get(name)?;
        let tree = parse(&def.source, &def.path, SyntaxConfig, WhitespaceConfig::default()).ok()?;
        let Stmt::Template(t) = &tree else { return None };
        let mut found = None;
        for s in &t.children {
            match s {
                Stmt::EmitRaw(_) => {}
                Stmt::Macro(m) if m.name == name && found.is_none() => found = Some(m),
                _ => return None,
            }
        }
        let m = found?;
        let mut ids = vec![];
        for a in &m.args {
            let Expr::Var(v) = a else { return None };
            ids.push(v.id);
        }
        let args = ids.iter().map(|a| a.to_string()).collect();
        let mut w = Walk::new(self, node_pkg, Some((macro_pkg, depth)));
        w.scopes.push(ids.into_iter().chain(["varargs", "kwargs"]).collect());
        for d in &m.defaults {
            w.expr(d)?;
        }
        w.stmts(&m.body)?;
        let variadic = w.used_variadic;
        Some(Arc::new(MacroFacts { args, variadic, vars: w.vars }))
    }
}

struct Walk<'e, 's> {
    engine: &'e Engine,
    node_pkg: &'e str,
    /// In a macro body: its package, and how deep in macro calls.
    in_macro: Option<(&'e str, usize)>,
    /// Names bound by `set`, loops, `with` and macro arguments, innermost last.
    scopes: Vec<HashSet<&'s str>>,
    /// How many enclosing constructs may run their contents other than exactly once.
    conditional: usize,
    /// Vars read without a default, here and in the macros called.
    vars: Vec<String>,
    used_variadic: bool,
    out: Extracted,
}

impl<'e, 's> Walk<'e, 's> {
    fn new(engine: &'e Engine, node_pkg: &'e str, in_macro: Option<(&'e str, usize)>) -> Self {
        Walk {
            engine,
            node_pkg,
            in_macro,
            scopes: vec![HashSet::new()],
            conditional: 0,
            vars: vec![],
            used_variadic: false,
            out: Extracted::default(),
        }
    }

    fn bound(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.contains(name))
    }

    fn bind(&mut self, target: &Expr<'s>) -> Option<()> {
        match target {
            Expr::Var(v) => {
                self.scopes.last_mut()?.insert(v.id);
                Some(())
            }
            Expr::List(l) => l.items.iter().try_for_each(|t| self.bind(t)),
            _ => None,
        }
    }

    fn stmts(&mut self, body: &[Stmt<'s>]) -> Option<()> {
        body.iter().try_for_each(|s| self.stmt(s))
    }

    /// Run `f` in a new scope of names, counted as conditional when `conditional`.
    fn scoped(&mut self, conditional: bool, f: impl FnOnce(&mut Self) -> Option<()>) -> Option<()> {
        self.scopes.push(HashSet::new());
        self.conditional += usize::from(conditional);
        let r = f(self);
        self.conditional -= usize::from(conditional);
        self.scopes.pop();
        r
    }

    fn stmt(&mut self, s: &Stmt<'s>) -> Option<()> {
        match s {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => Some(()),
            Stmt::EmitExpr(e) => self.expr(&e.expr),
            Stmt::ForLoop(f) => {
                if f.recursive {
                    return None;
                }
                self.expr(&f.iter)?;
                self.scoped(true, |w| {
                    w.scopes.last_mut()?.insert("loop");
                    w.bind(&f.target)?;
                    if let Some(e) = &f.filter_expr {
                        w.expr(e)?;
                    }
                    w.stmts(&f.body)?;
                    w.stmts(&f.else_body)
                })
            }
            Stmt::IfCond(c) => {
                self.expr(&c.expr)?;
                self.scoped(true, |w| w.stmts(&c.true_body))?;
                self.scoped(true, |w| w.stmts(&c.false_body))
            }
            Stmt::WithBlock(b) => self.scoped(false, |w| {
                for (target, value) in &b.assignments {
                    w.expr(value)?;
                    w.bind(target)?;
                }
                w.stmts(&b.body)
            }),
            Stmt::Set(set) => {
                self.expr(&set.expr)?;
                self.bind(&set.target)
            }
            Stmt::SetBlock(set) if set.filter.is_none() => {
                self.scoped(false, |w| w.stmts(&set.body))?;
                self.bind(&set.target)
            }
            Stmt::AutoEscape(a) => {
                self.expr(&a.enabled)?;
                self.scoped(false, |w| w.stmts(&a.body))
            }
            Stmt::Do(d) => self.call(&d.call),
            _ => None,
        }
    }

    fn exprs<'a>(&mut self, es: impl IntoIterator<Item = &'a Expr<'s>>) -> Option<()>
    where
        's: 'a,
    {
        es.into_iter().try_for_each(|e| self.expr(e))
    }

    fn expr(&mut self, e: &Expr<'s>) -> Option<()> {
        match e {
            Expr::Const(_) => Some(()),
            Expr::Var(v) => self.var(v.id),
            Expr::Slice(s) => {
                self.expr(&s.expr)?;
                self.exprs(s.start.iter().chain(&s.stop).chain(&s.step))
            }
            Expr::UnaryOp(u) => self.expr(&u.expr),
            Expr::BinOp(b) => {
                self.expr(&b.left)?;
                // `a and ref('x')` calls ref only when a is true.
                let short = matches!(b.op, ast::BinOpKind::ScAnd | ast::BinOpKind::ScOr);
                self.scoped(short, |w| w.expr(&b.right))
            }
            Expr::Compare(c) => {
                self.expr(&c.expr)?;
                self.exprs(c.ops.iter().map(|o| &o.expr))
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr)?;
                self.scoped(true, |w| {
                    w.expr(&i.true_expr)?;
                    w.exprs(&i.false_expr)
                })
            }
            Expr::Filter(f) => {
                if !FILTERS.contains(&f.name) {
                    return None;
                }
                self.exprs(&f.expr)?;
                self.args(&f.args)
            }
            Expr::Test(t) => {
                if !TESTS.contains(&t.name) {
                    return None;
                }
                self.expr(&t.expr)?;
                self.args(&t.args)
            }
            // One attribute or item of a name (`loop.last`, `this.schema`, `row['x']`): a
            // missing one is undefined, which prints empty; a second level could fail.
            Expr::GetAttr(a) => match &a.expr {
                Expr::Var(v) => self.var(v.id),
                _ => None,
            },
            Expr::GetItem(g) => match &g.expr {
                Expr::Var(v) => {
                    self.var(v.id)?;
                    self.expr(&g.subscript_expr)
                }
                _ => None,
            },
            Expr::Call(c) => self.call(c),
            Expr::List(l) => self.exprs(&l.items),
            Expr::Map(m) => {
                for (k, v) in m.keys.iter().zip(&m.values) {
                    self.expr(k)?;
                    self.expr(v)?;
                }
                Some(())
            }
        }
    }

    fn var(&mut self, id: &str) -> Option<()> {
        if self.bound(id) {
            if matches!(id, "varargs" | "kwargs") {
                self.used_variadic = true;
            }
            return Some(());
        }
        CONTEXT.contains(&id).then_some(())
    }

    /// Arguments as evaluated: positional first, then keyword arguments; no splats.
    fn args(&mut self, args: &[CallArg<'s>]) -> Option<()> {
        for a in args {
            match a {
                CallArg::Pos(e) => self.expr(e)?,
                CallArg::Kwarg(..) => {}
                CallArg::PosSplat(_) | CallArg::KwargSplat(_) => return None,
            }
        }
        for a in args {
            if let CallArg::Kwarg(_, e) = a {
                self.expr(e)?;
            }
        }
        Some(())
    }

    fn call(&mut self, c: &ast::Call<'s>) -> Option<()> {
        let Expr::Var(callee) = &c.expr else { return None };
        let name = callee.id;
        if self.bound(name) {
            return None;
        }
        let ns = &self.engine.ns;
        let is_macro = ns.names.values().any(|n| n.contains(name));
        if is_macro {
            return self.macro_call(name, &c.args);
        }
        match name {
            "ref" | "source" | "config" => {
                if self.conditional > 0 || self.in_macro.is_some() {
                    return None;
                }
                match name {
                    "ref" => self.record_ref(&c.args),
                    "source" => self.record_source(&c.args),
                    _ => self.record_config(&c.args),
                }
            }
            "var" => {
                let (first, rest) = c.args.split_first()?;
                let CallArg::Pos(Expr::Const(n)) = first else { return None };
                let n = n.value.as_str()?;
                if rest.is_empty() {
                    // Looked up for the node's package once the whole template is known.
                    self.vars.push(n.to_string());
                    Some(())
                } else {
                    self.args(rest)
                }
            }
            "is_incremental" if c.args.is_empty() => Some(()),
            "return" if self.in_macro.is_some() => self.args(&c.args),
            _ => None,
        }
    }

    fn macro_call(&mut self, name: &str, args: &[CallArg<'s>]) -> Option<()> {
        self.args(args)?;
        let ns = &self.engine.ns;
        let (macro_pkg, depth) = match self.in_macro {
            Some((p, d)) => (ns.resolve(name, self.node_pkg, Some(p))?, d + 1),
            None => (ns.resolve(name, self.node_pkg, None)?, 1),
        };
        let facts = self.engine.macro_facts(self.node_pkg, macro_pkg, name, depth)?;
        // Too many arguments, or an unknown keyword, fail the call.
        let positional = args.iter().filter(|a| matches!(a, CallArg::Pos(_))).count();
        if !facts.variadic {
            let known_kw =
                args.iter().all(|a| !matches!(a, CallArg::Kwarg(k, _) if !facts.args.iter().any(|x| x == k)));
            if positional > facts.args.len() || !known_kw {
                return None;
            }
        }
        self.vars.extend(facts.vars.iter().cloned());
        Some(())
    }

    fn record_ref(&mut self, args: &[CallArg<'s>]) -> Option<()> {
        let mut names = vec![];
        let (mut v, mut version) = (None, None);
        for a in args {
            match a {
                CallArg::Pos(e) => names.push(const_value(e)?.as_str()?.to_string()),
                CallArg::Kwarg("v", e) => v = Some(const_value(e)?),
                CallArg::Kwarg("version", e) => version = Some(const_value(e)?),
                _ => return None,
            }
        }
        // `v=`, else `version=`, as the render reads them.
        let version = v.filter(|v| !v.is_none()).or(version);
        let call = RefCall::from_args(&names, version.as_ref())?;
        if !self.out.refs.contains(&call) {
            self.out.refs.push(call);
        }
        Some(())
    }

    fn record_source(&mut self, args: &[CallArg<'s>]) -> Option<()> {
        let [CallArg::Pos(a), CallArg::Pos(b)] = args else { return None };
        let key = (const_value(a)?.as_str()?.to_string(), const_value(b)?.as_str()?.to_string());
        if !self.out.sources.contains(&key) {
            self.out.sources.push(key);
        }
        Some(())
    }

    fn record_config(&mut self, args: &[CallArg<'s>]) -> Option<()> {
        let mut sets: Vec<(String, Json)> = vec![];
        for a in args {
            match a {
                CallArg::Pos(e) => {
                    if let Json::Object(m) = serde_json::to_value(const_value(e)?).ok()? {
                        sets.extend(m);
                    }
                }
                CallArg::Kwarg(..) => {}
                _ => return None,
            }
        }
        for a in args {
            if let CallArg::Kwarg(k, e) = a {
                sets.push((k.to_string(), serde_json::to_value(const_value(e)?).ok()?));
            }
        }
        for (k, v) in sets {
            self.out.config.set(&k, v);
        }
        Some(())
    }
}

/// A constant expression's value: constants, and lists and maps of them.
fn const_value(e: &Expr) -> Option<Value> {
    match e {
        Expr::Const(c) => Some(c.value.clone()),
        Expr::List(l) => l.items.iter().map(const_value).collect::<Option<Vec<_>>>().map(Value::from),
        Expr::Map(m) => {
            let mut pairs = vec![];
            for (k, v) in m.keys.iter().zip(&m.values) {
                pairs.push((const_value(k)?, const_value(v)?));
            }
            Some(Value::from_iter(pairs))
        }
        _ => e.as_const(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::*;
    use super::*;

    const MACROS: &str = "{% macro coalesce_sum(columns) -%}{%- for column in columns -%}coalesce({{ column }}, 0){{ ' + ' if not loop.last }}{%- endfor -%}{%- endmacro %}
{% macro threshold(c) %}{{ c }} >= {{ var('g') }}{% endmacro %}
{% macro needs_cli() %}{{ var('cli') }}{% endmacro %}
{% macro needs_missing() %}{{ var('missing') }}{% endmacro %}
{% macro uses_ref() %}{{ ref('hidden') }}{% endmacro %}
{% macro queries() %}{{ run_query('select 1') }}{% endmacro %}
{% macro calls_pure() %}{{ coalesce_sum(['a', 'b']) }}{% endmacro %}
{% macro calls_impure() %}{{ uses_ref() }}{% endmacro %}
{% macro recursive(n) %}{% if n > 0 %}{{ recursive(n - 1) }}{% endif %}{% endmacro %}
{% macro spread() %}{{ varargs | length }}{% endmacro %}";

    /// What the parse-time render records.
    fn rendered(e: &Engine, sql: &str) -> Extracted {
        let r = e.render("models/m.sql", sql, Phase::Parse, &globals(), node(), None).unwrap();
        Extracted { refs: r.refs, sources: r.sources, config: r.config }
    }

    #[test]
    fn reads_what_the_render_records() {
        let e = engine(MACROS);
        let g = globals();
        let templates = [
            "select * from {{ ref('a') }} join {{ ref('p', 'b') }} join {{ source('s', 't') }} join {{ ref('a') }}",
            "{{ config(materialized='table', tags=['x', 'y'], meta={'owner': 'me'}) }}select 1",
            "{{ config({'materialized': 'incremental', 'unique_key': ['id']}) }}{{ config(tags='z') }}select 1",
            "select * from {{ ref('a', v=2) }} join {{ ref('b', version='3') }} join {{ ref('c', v=none) }}",
            "select * from {{ ref('d', v=none, version=4) }} join {{ ref('e', version=5, v='6') }}",
            "select {% for s in var('g') %}x_{{ s }}{{ ',' if not loop.last }}{% endfor %} from {{ ref('a') }}",
            "{% set base = ref('a') %}{% set cols = ['x', 'y'] %}select {{ coalesce_sum(cols) }} from {{ base }}",
            "select {{ coalesce_sum(['t.a_' ~ 'x', 't.b']) }}, {{ threshold('amount') }} from {{ ref('a') }} t",
            "select * from {{ ref('a') }}{% if is_incremental() %} where x > (select max(x) from {{ this }}){% endif %}",
            "select {{ var('missing', 'fallback') }}, {{ var('cli') }}, {{ calls_pure() }} from {{ this.schema }}.t",
            "{% set q %}select 1 from {{ ref('in_block') }}{% endset %}{{ q | upper }} {{ target.name }} {{ needs_cli() }}",
            "{# a comment with {{ ref('not_a_call') }} #}select {{ 1 + 2 * 3 }} {{ 'a' if execute else 'b' }}",
        ];
        for sql in templates {
            let x = e.extract("models/m.sql", sql, "pkg", &g);
            assert_eq!(x.as_ref(), Some(&rendered(&e, sql)), "{sql}");
        }
    }

    #[test]
    fn renders_whatever_it_cannot_be_sure_of() {
        let e = engine(MACROS);
        let g = globals();
        let templates = [
            // Calls that may run other than once.
            "{% if execute %}{{ ref('a') }}{% endif %}",
            "{% for t in ['a', 'b'] %}{{ ref(t) }}{% endfor %}",
            "{{ ref('a') if execute else ref('b') }}",
            "{{ execute and ref('a') }}",
            "{% if execute %}{{ config(materialized='table') }}{% endif %}",
            // Arguments that are not constants.
            "{% set n = 'a' %}{{ ref(n) }}",
            "{{ source('s') }}",
            "{{ ref('a', other=1) }}",
            // Macros that record calls, query, recurse, read undefined vars or get bad arguments.
            "{{ uses_ref() }}",
            "{{ calls_impure() }}",
            "{{ queries() }}",
            "{{ recursive(2) }}",
            "{{ needs_missing() }}",
            "{{ coalesce_sum(['a'], ['b']) }}",
            "{{ coalesce_sum(cols=['a']) }}",
            // Names, filters, methods and statements outside the known set.
            "{{ var('missing') }}",
            "{{ env_var('HOME') }}",
            "{{ unknown_name }}",
            "{{ this.a.b }}",
            "{{ 'x' | some_filter }}",
            "{{ 'x'.upper() }}",
            "{{ adapter.dispatch('x')() }}",
            "{{ run_query('select 1') }}",
            "{% macro local() %}{{ ref('a') }}{% endmacro %}{{ local() }}",
            "{% import 'x' as y %}",
            "{{ ref('a') ",
        ];
        for sql in templates {
            assert_eq!(e.extract("models/m.sql", sql, "pkg", &g), None, "{sql}");
        }
        // A variadic macro takes any arguments.
        assert!(e.extract("models/m.sql", "{{ spread(1, 2, 3) }}", "pkg", &g).is_some());
    }

    #[test]
    fn a_project_macro_named_like_a_builtin_is_a_macro() {
        let e = engine("{% macro ref(name) %}{{ return(builtins.ref(name)) }}{% endmacro %}");
        assert_eq!(e.extract("models/m.sql", "{{ ref('a') }}", "pkg", &globals()), None);
    }
}
