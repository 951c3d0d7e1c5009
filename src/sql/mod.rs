//! Everything sqlparser: static analysis of compiled SQL (DuckDB dialect). For a model's query it
//! finds the output columns (with `*`, `* EXCLUDE`, `* REPLACE` and `* RENAME` expanded from the
//! upstream relations' columns) and, for each output column, the upstream (node, column) pairs it
//! comes from and how: passed through, renamed, transformed, aggregated, or used in a filter or a
//! join. References to columns or relations that do not exist are [`Problem`]s located in the SQL.
//! In: compiled SQL + a [`Catalog`] of the relations it may read. Out: [`Analysis`].

use serde::Serialize;
use sqlparser::ast::{
    visit_expressions, Expr, GroupByExpr, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, Query, Select,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Spanned, Statement, TableFactor, TableWithJoins,
    WildcardAdditionalOptions,
};
use sqlparser::dialect::{DatabricksDialect, DuckDbDialect, GenericDialect};
use sqlparser::parser::Parser;
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

/// A node id or column name in an analysis. Shared: every output column that reads an upstream
/// column holds the same string as the upstream's own column (lineage at 10,000 models has
/// hundreds of thousands of upstream entries, mostly the same few thousand names).
pub type Name = Arc<str>;

/// How an output column depends on an upstream column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The same value under the same name.
    Passthrough,
    /// The same value under another name.
    Rename,
    /// Computed from it.
    Transform,
    /// Aggregated from it.
    Aggregate,
    /// It decides which rows there are (WHERE, HAVING, QUALIFY).
    Filter,
    /// It decides how rows are matched (JOIN ... ON / USING).
    Join,
}

impl Kind {
    fn is_direct(self) -> bool {
        !matches!(self, Kind::Filter | Kind::Join)
    }
}

/// One upstream column of an output column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Upstream {
    /// The node (unique id), or the relation's name when it is not a node.
    pub node: Name,
    /// The upstream column.
    pub column: Name,
    /// How it is used.
    pub kind: Kind,
}

/// An output column and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Its name as the query outputs it.
    pub name: Name,
    /// Its upstream columns, sorted, each once per kind.
    pub upstream: Vec<Upstream>,
}

/// A reference the analysis found wrong, with its place in the SQL (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// Line and column of the reference.
    pub line: usize,
    /// Column.
    pub col: usize,
    /// Length of the reference.
    pub len: usize,
    /// A suggestion.
    pub help: Option<String>,
}

/// The result of analysing one query.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Output columns, in order.
    pub columns: Vec<Column>,
    /// Whether every output column is known (false when a `*` reads a relation of unknown columns).
    pub complete: bool,
    /// The relations whose unknown columns a `*` passes through (when not complete): a column
    /// not listed in `columns` is one of theirs, by the same name.
    pub open: Vec<Name>,
    /// Unknown columns and relations.
    pub problems: Vec<Problem>,
}

/// SQL the parser rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    /// sqlparser's message.
    pub message: String,
    /// Line and column, when the message names them.
    pub line: usize,
    /// Column.
    pub col: usize,
}

/// A relation the query may read.
#[derive(Debug, Clone)]
pub struct Relation {
    /// The node it is, or the relation's name.
    pub node: Name,
    /// Its columns, when known.
    pub columns: Option<Vec<Name>>,
    /// Whether `columns` are all of them (false for columns a property file declares: often
    /// only some), so that a name not among them is an error.
    pub exhaustive: bool,
}

/// The relations a query may read, by name.
pub trait Catalog {
    /// A relation by its name parts as written (lowercased): `[db, schema, name]`, `[schema, name]`
    /// or `[name]`.
    fn lookup(&self, parts: &[String]) -> Option<Relation>;
    /// Whether every existing relation is known, so that an unknown name is an error.
    fn complete(&self) -> bool;
}

/// The SQL dialects queries are parsed in (an engine names its own in its `Dialect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// DuckDB's.
    DuckDb,
    /// Spark SQL (sqlparser's Databricks dialect).
    SparkSql,
    /// ANSI-ish SQL.
    Generic,
}

/// Parse and analyse one query.
pub fn analyze(sql: &str, flavor: Flavor, catalog: &dyn Catalog) -> Result<Analysis, ParseFailure> {
    let parsed = match flavor {
        Flavor::DuckDb => Parser::parse_sql(&DuckDbDialect {}, sql),
        Flavor::SparkSql => Parser::parse_sql(&DatabricksDialect {}, sql),
        Flavor::Generic => Parser::parse_sql(&GenericDialect {}, sql),
    };
    let statements = parsed.map_err(|e| parse_failure(&e.to_string()))?;
    let mut a = Analyzer { catalog, problems: vec![], complete: true };
    let mut columns = vec![];
    for st in &statements {
        if let Statement::Query(q) = st {
            columns = a.query(q, &HashMap::new(), None);
        }
    }
    if flavor == Flavor::SparkSql {
        a.problems.extend(foreign_functions(&statements, DUCKDB_ONLY, "DuckDB's", "Spark"));
    }
    let marked = columns.iter().any(|c| &*c.name == OPEN);
    let (columns, open) = split_open(columns);
    let columns =
        columns.into_iter().map(|c| Column { name: c.name.clone(), upstream: finish(&c.name, c.upstream) }).collect();
    let open: Vec<Name> = open.into_iter().collect();
    Ok(Analysis { columns, complete: a.complete && !marked, open, problems: a.problems })
}

/// Functions DuckDB has and Spark SQL does not, with Spark's way of doing the same where there
/// is one: a model written for DuckDB that calls one fails on Spark.
const DUCKDB_ONLY: &[(&str, &str)] = &[
    ("arbitrary", "use first() or any_value()"),
    ("array_length", "use size()"),
    ("epoch", "use unix_seconds()"),
    ("epoch_ms", "use unix_millis()"),
    ("epoch_us", "use unix_micros()"),
    ("list_aggr", "use aggregate() over the array"),
    ("list_value", "use array()"),
    ("len", "use length() or size()"),
    ("read_csv", "read files with a table `using csv location '...'`"),
    ("read_csv_auto", "read files with a table `using csv location '...'`"),
    ("read_json", "read files with a table `using json location '...'`"),
    ("read_parquet", "read files with a table `using parquet location '...'` or parquet.`path`"),
    ("regexp_matches", "use rlike or regexp()"),
    ("strftime", "use date_format()"),
    ("strptime", "use to_timestamp()"),
    ("string_split", "use split()"),
    ("str_split", "use split()"),
    ("struct_pack", "use named_struct()"),
    ("to_seconds", "use make_interval(0, 0, 0, 0, 0, 0, n) or timestampadd(SECOND, n, ts)"),
    ("to_days", "use make_interval(0, 0, 0, n) or date_add()"),
    ("today", "use current_date()"),
];

/// Every call of a function in `table` (name, help), as a problem: `<whose> function <name>
/// does not exist on <engine>`.
fn foreign_functions(statements: &[Statement], table: &[(&str, &str)], whose: &str, engine: &str) -> Vec<Problem> {
    let mut out = vec![];
    for st in statements {
        let _ = visit_expressions(st, |x| {
            if let Expr::Function(f) = x {
                let name = f.name.to_string().to_lowercase();
                if let Some((_, help)) = table.iter().find(|(n, _)| *n == name) {
                    let s = f.name.span().start;
                    out.push(Problem {
                        message: format!("function {name}() is {whose} and does not exist on {engine}"),
                        line: s.line as usize,
                        col: s.column as usize,
                        len: name.len(),
                        help: Some(help.to_string()),
                    });
                }
            }
            ControlFlow::Continue::<()>(())
        });
    }
    out
}

fn parse_failure(msg: &str) -> ParseFailure {
    // sqlparser: "sql parser error: Expected: ..., found: x at Line: 3, Column: 7"
    let num = |key: &str| -> usize {
        msg.find(key)
            .map(|i| msg[i + key.len()..].chars().take_while(char::is_ascii_digit).collect::<String>())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let message = msg.trim_start_matches("sql parser error: ").to_string();
    let message = match message.find(" at Line: ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    ParseFailure { message, line: num("Line: "), col: num("Column: ") }
}

/// Sort, deduplicate, and call a passthrough under another name a rename.
fn finish(name: &str, ups: Vec<Upstream>) -> Vec<Upstream> {
    let set: BTreeSet<Upstream> = ups
        .into_iter()
        .map(|mut u| {
            if u.kind == Kind::Passthrough && !u.column.eq_ignore_ascii_case(name) {
                u.kind = Kind::Rename;
            }
            u
        })
        .collect();
    set.into_iter().collect()
}

/// A column of a relation in scope, with its lineage to base relations.
#[derive(Debug, Clone)]
struct Col {
    name: Name,
    upstream: Vec<Upstream>,
}

/// The name of the marker column a `*` over a relation of unknown columns leaves in a query's
/// output: its upstream names the relations those columns come from, so that a later reference
/// to one of them (through a CTE or subquery) is inferred as theirs instead of reported missing.
const OPEN: &str = "*";

/// A query's columns without the open marker, and the relations the marker names.
fn split_open(cols: Vec<Col>) -> (Vec<Col>, BTreeSet<Name>) {
    let mut open = BTreeSet::new();
    let cols = cols
        .into_iter()
        .filter(|c| {
            if &*c.name == OPEN {
                open.extend(c.upstream.iter().map(|u| u.node.clone()).filter(|n| !n.is_empty()));
                false
            } else {
                true
            }
        })
        .collect();
    (cols, open)
}

/// A relation in a FROM clause.
#[derive(Debug, Clone)]
struct Source {
    alias: String,
    columns: Option<Vec<Col>>,
    /// Whether `columns` are all of them.
    exhaustive: bool,
    /// When not exhaustive: the relations its other columns come from (a column not among
    /// `columns` is inferred to be theirs).
    open: Vec<Name>,
    /// Columns an unqualified `*` leaves out (the right side's `USING` columns, as DuckDB does).
    hidden: Vec<String>,
}

struct Analyzer<'a> {
    catalog: &'a dyn Catalog,
    problems: Vec<Problem>,
    complete: bool,
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn name_parts(n: &ObjectName) -> Vec<String> {
    n.0.iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => lower(&i.value),
            ObjectNamePart::Function(f) => lower(&f.name.value),
        })
        .collect()
}

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "any_value",
    "arbitrary",
    "first",
    "last",
    "list",
    "array_agg",
    "string_agg",
    "listagg",
    "group_concat",
    "median",
    "mode",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "count_if",
    "countif",
    "approx_count_distinct",
    "approx_quantile",
    "quantile",
    "quantile_cont",
    "quantile_disc",
    "percentile_cont",
    "percentile_disc",
    "arg_max",
    "arg_min",
    "max_by",
    "min_by",
    "histogram",
    "product",
    "fsum",
    "favg",
    "corr",
    "covar_pop",
    "covar_samp",
    "entropy",
    "kurtosis",
    "skewness",
    "mad",
    "regr_slope",
    "regr_intercept",
    "bitstring_agg",
    "geomean",
];

fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(e, |x| {
        if let Expr::Function(f) = x {
            let n = f.name.to_string().to_lowercase();
            if f.over.is_none() && AGGREGATES.contains(&n.rsplit('.').next().unwrap_or("")) {
                found = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// The name DuckDB gives an unaliased select item (close enough for lineage).
fn expr_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()).unwrap_or_default(),
        Expr::Nested(inner) => expr_name(inner),
        Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("count") && f.args.to_string() == "(*)" => {
            "count_star()".into()
        }
        other => other.to_string(),
    }
}

/// Identifier references in an expression, leaving out those inside nested subqueries (analysed
/// on their own) and lambda parameters.
fn refs_in(e: &Expr) -> (Vec<Vec<sqlparser::ast::Ident>>, Vec<Query>) {
    let mut idents = vec![];
    let mut subqueries: Vec<Query> = vec![];
    let mut lambda_params: BTreeSet<String> = BTreeSet::new();
    let _ = visit_expressions(e, |x| {
        match x {
            Expr::Subquery(q) | Expr::Exists { subquery: q, .. } | Expr::InSubquery { subquery: q, .. } => {
                subqueries.push((**q).clone());
            }
            Expr::Lambda(l) => {
                let ps: Vec<&sqlparser::ast::LambdaFunctionParameter> = match &l.params {
                    sqlparser::ast::OneOrManyWithParens::One(p) => vec![p],
                    sqlparser::ast::OneOrManyWithParens::Many(v) => v.iter().collect(),
                };
                lambda_params.extend(ps.into_iter().map(|p| lower(&p.name.value)));
            }
            Expr::Identifier(i) => idents.push(vec![i.clone()]),
            Expr::CompoundIdentifier(parts) => idents.push(parts.clone()),
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    let inside = |id: &sqlparser::ast::Ident| {
        let s = id.span.start;
        subqueries.iter().any(|q| {
            let qs = q.span();
            (qs.start.line, qs.start.column) <= (s.line, s.column) && (s.line, s.column) <= (qs.end.line, qs.end.column)
        })
    };
    let idents = idents
        .into_iter()
        .filter(|p| !inside(&p[0]))
        .filter(|p| !lambda_params.contains(&lower(&p[0].value)))
        .collect();
    (idents, subqueries)
}

fn join_constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c) => Some(c),
        JoinOperator::AsOf { constraint, .. } => Some(constraint),
        _ => None,
    }
}

impl Analyzer<'_> {
    fn problem(&mut self, id: &sqlparser::ast::Ident, len: usize, message: String, help: Option<String>) {
        let s = id.span.start;
        self.problems.push(Problem { message, line: s.line as usize, col: s.column as usize, len, help });
    }

    fn query(&mut self, q: &Query, ctes: &HashMap<String, Vec<Col>>, outer: Option<&[Source]>) -> Vec<Col> {
        // Only a query with its own WITH copies the CTEs in scope (a CTE's body usually has none).
        let Some(with) = &q.with else { return self.set_expr(&q.body, ctes, outer) };
        let mut ctes = ctes.clone();
        for cte in &with.cte_tables {
            let mut cols = self.query(&cte.query, &ctes, outer);
            for (c, a) in cols.iter_mut().zip(&cte.alias.columns) {
                c.name = a.name.value.as_str().into();
            }
            ctes.insert(lower(&cte.alias.name.value), cols);
        }
        self.set_expr(&q.body, &ctes, outer)
    }

    fn set_expr(&mut self, e: &SetExpr, ctes: &HashMap<String, Vec<Col>>, outer: Option<&[Source]>) -> Vec<Col> {
        match e {
            SetExpr::Select(s) => self.select(s, ctes, outer),
            SetExpr::Query(q) => self.query(q, ctes, outer),
            SetExpr::SetOperation { left, right, .. } => {
                let mut l = self.set_expr(left, ctes, outer);
                let r = self.set_expr(right, ctes, outer);
                for (a, b) in l.iter_mut().zip(r) {
                    a.upstream.extend(b.upstream);
                }
                l
            }
            SetExpr::Values(v) => {
                let n = v.rows.first().map(|r| r.len()).unwrap_or(0);
                (0..n).map(|i| Col { name: format!("col{i}").into(), upstream: vec![] }).collect()
            }
            _ => {
                self.complete = false;
                vec![]
            }
        }
    }

    fn table_factor(
        &mut self,
        t: &TableFactor,
        ctes: &HashMap<String, Vec<Col>>,
        outer: Option<&[Source]>,
        out: &mut Vec<Source>,
        joins: &mut Vec<Expr>,
    ) {
        let alias_of = |a: &Option<sqlparser::ast::TableAlias>| a.as_ref().map(|a| lower(&a.name.value));
        let with_alias_columns = |mut cols: Option<Vec<Col>>, a: &Option<sqlparser::ast::TableAlias>| {
            if let (Some(cols), Some(a)) = (cols.as_mut(), a) {
                for (c, n) in cols.iter_mut().zip(&a.columns) {
                    c.name = n.name.value.as_str().into();
                }
            }
            cols
        };
        match t {
            TableFactor::Table { name, alias, args, .. } => {
                let parts = name_parts(name);
                let last = parts.last().cloned().unwrap_or_default();
                // DuckDB reads a file named by a string (`from 'data/orders.parquet'`, what a
                // dbt-duckdb source with an `external_location` renders to) like a table function.
                let file = matches!(name.0.as_slice(), [ObjectNamePart::Identifier(i)] if i.quote_style == Some('\''));
                if args.is_some() || file {
                    // A table function (read_csv, range, ...) or a file: columns unknown.
                    out.push(Source {
                        alias: alias_of(alias).unwrap_or(last),
                        columns: None,
                        exhaustive: false,
                        open: vec![],
                        hidden: vec![],
                    });
                    return;
                }
                let mut exhaustive = true;
                let mut open = vec![];
                let cols = if parts.len() == 1 && ctes.contains_key(&last) {
                    // A CTE that passes on a `*` of unknown columns is open.
                    let (cols, marks) = split_open(ctes[&last].clone());
                    if !marks.is_empty() || ctes[&last].iter().any(|c| &*c.name == OPEN) {
                        exhaustive = false;
                        open = marks.into_iter().collect();
                    }
                    Some(cols)
                } else {
                    match self.catalog.lookup(&parts) {
                        Some(rel) => {
                            exhaustive = rel.exhaustive;
                            if !rel.exhaustive || rel.columns.is_none() {
                                open = vec![rel.node.clone()];
                            }
                            rel.columns.map(|cs| {
                                cs.into_iter()
                                    .map(|c| Col {
                                        upstream: vec![Upstream {
                                            node: rel.node.clone(),
                                            column: c.clone(),
                                            kind: Kind::Passthrough,
                                        }],
                                        name: c,
                                    })
                                    .collect()
                            })
                        }
                        None => {
                            if self.catalog.complete() {
                                let id = match name.0.last() {
                                    Some(ObjectNamePart::Identifier(i)) => i.clone(),
                                    _ => sqlparser::ast::Ident::new(last.clone()),
                                };
                                let first = match name.0.first() {
                                    Some(ObjectNamePart::Identifier(i)) => i.clone(),
                                    _ => id.clone(),
                                };
                                let mut known: Vec<String> = ctes.keys().cloned().collect();
                                known.sort();
                                self.problem(
                                    &first,
                                    name.to_string().chars().count(),
                                    format!("relation {name} does not exist"),
                                    crate::diagnostics::did_you_mean(&last, known.iter().map(String::as_str)).or_else(
                                        || Some("use ref() or source() for relations strata builds or knows".into()),
                                    ),
                                );
                            }
                            None
                        }
                    }
                };
                let cols = with_alias_columns(cols, alias);
                let exhaustive = exhaustive && cols.is_some();
                out.push(Source {
                    alias: alias_of(alias).unwrap_or(last),
                    columns: cols,
                    exhaustive,
                    open,
                    hidden: vec![],
                });
            }
            TableFactor::Derived { subquery, alias, .. } => {
                let all = self.query(subquery, ctes, outer);
                let is_open = all.iter().any(|c| &*c.name == OPEN);
                let (cols, marks) = split_open(all);
                let cols = with_alias_columns(Some(cols), alias);
                out.push(Source {
                    alias: alias_of(alias).unwrap_or_default(),
                    exhaustive: !is_open,
                    columns: cols,
                    open: marks.into_iter().collect(),
                    hidden: vec![],
                });
            }
            TableFactor::NestedJoin { table_with_joins, .. } => {
                self.table_with_joins(table_with_joins, ctes, outer, out, joins)
            }
            other => {
                let alias = match other {
                    TableFactor::Function { alias, .. }
                    | TableFactor::UNNEST { alias, .. }
                    | TableFactor::TableFunction { alias, .. } => alias_of(alias),
                    _ => None,
                };
                out.push(Source {
                    alias: alias.unwrap_or_default(),
                    columns: None,
                    exhaustive: false,
                    open: vec![],
                    hidden: vec![],
                });
            }
        }
    }

    fn table_with_joins(
        &mut self,
        twj: &TableWithJoins,
        ctes: &HashMap<String, Vec<Col>>,
        outer: Option<&[Source]>,
        out: &mut Vec<Source>,
        joins: &mut Vec<Expr>,
    ) {
        self.table_factor(&twj.relation, ctes, outer, out, joins);
        for j in &twj.joins {
            self.table_factor(&j.relation, ctes, outer, out, joins);
            match join_constraint(&j.join_operator) {
                Some(JoinConstraint::On(e)) => joins.push(e.clone()),
                Some(JoinConstraint::Using(cols)) => {
                    // Both sides' columns join; `*` shows the column once, from the left.
                    let right = out.last().map(|s| s.alias.clone()).unwrap_or_default();
                    for c in cols {
                        if let Some(ObjectNamePart::Identifier(i)) = c.0.last() {
                            joins.push(Expr::Identifier(i.clone()));
                            let r = sqlparser::ast::Ident { value: right.clone(), ..i.clone() };
                            joins.push(Expr::CompoundIdentifier(vec![r, i.clone()]));
                            if let Some(last) = out.last_mut() {
                                last.hidden.push(lower(&i.value));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The lineage of one column reference, or None when it is not found.
    fn resolve(
        &mut self,
        parts: &[sqlparser::ast::Ident],
        sources: &[Source],
        outer: Option<&[Source]>,
        aliases: &[Col],
    ) -> Option<Vec<Upstream>> {
        let find = |srcs: &[Source], alias: Option<&str>, col: &str| -> Option<Option<Vec<Upstream>>> {
            let mut unknown = false;
            for s in srcs {
                if alias.is_some_and(|a| a != s.alias) {
                    continue;
                }
                match &s.columns {
                    Some(cols) => {
                        if let Some(c) = cols.iter().find(|c| c.name.eq_ignore_ascii_case(col)) {
                            return Some(Some(c.upstream.clone()));
                        }
                    }
                    None => unknown = true,
                }
            }
            unknown.then_some(None)
        };
        // A column not among a relation's known columns, when the relation has others it does not
        // list: one of those, from the relations they come from (lineage goes on through them).
        let infer = |srcs: &[Source], alias: Option<&str>, col: &str| -> Vec<Upstream> {
            srcs.iter()
                .filter(|s| alias.is_none_or(|a| a == s.alias) && !s.exhaustive)
                .flat_map(|s| &s.open)
                .map(|n| Upstream { node: n.clone(), column: col.into(), kind: Kind::Passthrough })
                .collect()
        };
        let names: Vec<String> = parts.iter().map(|p| lower(&p.value)).collect();
        // alias.column, or column.field of a struct.
        if names.len() >= 2 {
            let alias = &names[names.len() - 2];
            let col = &names[names.len() - 1];
            if sources.iter().any(|s| &s.alias == alias) {
                let exhaustive = sources.iter().any(|s| &s.alias == alias && s.exhaustive);
                return match find(sources, Some(alias), col) {
                    Some(Some(u)) => Some(u),
                    Some(None) => Some(infer(sources, Some(alias), col)),
                    None if !exhaustive => Some(infer(sources, Some(alias), col)),
                    None => {
                        let s = sources.iter().find(|s| &s.alias == alias);
                        let known: Vec<&str> = s
                            .and_then(|s| s.columns.as_ref())
                            .map(|cs| cs.iter().map(|c| &*c.name).collect())
                            .unwrap_or_default();
                        let id = &parts[parts.len() - 1];
                        self.problem(
                            id,
                            id.value.chars().count(),
                            format!("column '{}' does not exist in {alias}", id.value),
                            crate::diagnostics::did_you_mean(&id.value, known.iter().copied())
                                .or_else(|| Some(format!("{alias} has: {}", known.join(", ")))),
                        );
                        Some(vec![])
                    }
                };
            }
            if outer.is_some_and(|o| o.iter().any(|s| &s.alias == alias)) {
                return find(outer.unwrap_or(&[]), Some(alias), col).map(Option::unwrap_or_default);
            }
        }
        let first = &names[0];
        if let Some(r) = find(sources, None, first) {
            // `col.field` reads a struct's field: computed from the column.
            let field = names.len() > 1;
            return Some(
                r.unwrap_or_else(|| infer(sources, None, first))
                    .into_iter()
                    .map(|u| Upstream {
                        kind: if field && u.kind.is_direct() { u.kind.max(Kind::Transform) } else { u.kind },
                        ..u
                    })
                    .collect(),
            );
        }
        if let Some(a) = aliases.iter().find(|a| a.name.eq_ignore_ascii_case(first)) {
            return Some(a.upstream.clone());
        }
        let inferred = infer(sources, None, first);
        if !inferred.is_empty() {
            return Some(inferred);
        }
        if let Some(r) = outer.and_then(|o| find(o, None, first)) {
            return Some(r.unwrap_or_default());
        }
        None
    }

    /// The upstream columns an expression reads (with `kind`), reporting unknown ones.
    fn expr_upstream(
        &mut self,
        e: &Expr,
        kind: Kind,
        sources: &[Source],
        ctes: &HashMap<String, Vec<Col>>,
        outer: Option<&[Source]>,
        aliases: &[Col],
    ) -> Vec<Upstream> {
        let (refs, subqueries) = refs_in(e);
        let mut out = vec![];
        for parts in refs {
            match self.resolve(&parts, sources, outer, aliases) {
                Some(ups) => out.extend(
                    ups.into_iter()
                        .map(|u| Upstream { kind: if u.kind.is_direct() { kind.max(u.kind) } else { u.kind }, ..u }),
                ),
                None => {
                    let id = &parts[0];
                    // Keywords-as-expressions (current_date, ...) and unknown scopes are not errors.
                    let all_known = sources.iter().all(|s| s.columns.is_some() && s.exhaustive) && !sources.is_empty();
                    if all_known
                        && parts.len() == 1
                        && !is_keyword_value(&id.value)
                        && id.quote_style.is_none_or(|q| q == '"')
                    {
                        let known: Vec<&str> =
                            sources.iter().flat_map(|s| s.columns.iter().flatten().map(|c| &*c.name)).collect();
                        self.problem(
                            id,
                            id.value.chars().count(),
                            format!("column '{}' does not exist in any relation the query reads", id.value),
                            crate::diagnostics::did_you_mean(&id.value, known.iter().copied()),
                        );
                    }
                }
            }
        }
        if subqueries.is_empty() {
            return out;
        }
        let mut scope = sources.to_vec();
        scope.extend(outer.into_iter().flatten().cloned());
        for q in subqueries {
            for c in self.query(&q, ctes, Some(&scope)) {
                out.extend(c.upstream.into_iter().map(|u| Upstream { kind: kind.max(Kind::Transform), ..u }));
            }
        }
        out
    }

    fn select(&mut self, s: &Select, ctes: &HashMap<String, Vec<Col>>, outer: Option<&[Source]>) -> Vec<Col> {
        let mut sources = vec![];
        let mut joins = vec![];
        for twj in &s.from {
            self.table_with_joins(twj, ctes, outer, &mut sources, &mut joins);
        }
        let mut out: Vec<Col> = vec![];
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    let name = match item {
                        SelectItem::ExprWithAlias { alias, .. } => Name::from(alias.value.as_str()),
                        _ => expr_name(e).into(),
                    };
                    let kind = match e {
                        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Kind::Passthrough,
                        Expr::Nested(inner) if matches!(**inner, Expr::Identifier(_)) => Kind::Passthrough,
                        _ if has_aggregate(e) => Kind::Aggregate,
                        _ => Kind::Transform,
                    };
                    let upstream = self.expr_upstream(e, kind, &sources, ctes, outer, &out);
                    out.push(Col { name, upstream });
                }
                SelectItem::ExprWithAliases { expr, aliases } => {
                    let upstream = self.expr_upstream(expr, Kind::Transform, &sources, ctes, outer, &out);
                    for a in aliases {
                        out.push(Col { name: a.value.as_str().into(), upstream: upstream.clone() });
                    }
                }
                SelectItem::Wildcard(opts) => {
                    let all: Vec<&Source> = sources.iter().collect();
                    self.expand(&all, true, opts, &sources, ctes, outer, &mut out);
                }
                SelectItem::QualifiedWildcard(kind, opts) => {
                    let alias = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            name_parts(n).last().cloned().unwrap_or_default()
                        }
                        SelectItemQualifiedWildcardKind::Expr(e) => lower(&e.to_string()),
                    };
                    let picked: Vec<&Source> = sources.iter().filter(|s| s.alias == alias).collect();
                    if picked.is_empty() {
                        self.complete = false;
                    }
                    self.expand(&picked, false, opts, &sources, ctes, outer, &mut out);
                }
            }
        }
        // Filters and joins shape every output row.
        let mut indirect = vec![];
        for e in joins {
            indirect.extend(self.expr_upstream(&e, Kind::Join, &sources, ctes, outer, &out));
        }
        for e in [&s.selection, &s.having, &s.qualify].into_iter().flatten() {
            indirect.extend(self.expr_upstream(e, Kind::Filter, &sources, ctes, outer, &out));
        }
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                // Checked for unknown columns; grouping keys are already direct upstream.
                let _ = self.expr_upstream(e, Kind::Transform, &sources, ctes, outer, &out);
            }
        }
        for u in &mut indirect {
            if u.kind.is_direct() {
                u.kind = Kind::Filter;
            }
        }
        if !indirect.is_empty() {
            for c in &mut out {
                c.upstream.extend(indirect.iter().cloned());
            }
        }
        out
    }

    /// The columns `*` (`unqualified`: leaving out the right sides' USING columns) or `t.*`
    /// gives from `picked`, with EXCLUDE, REPLACE and RENAME applied.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        picked: &[&Source],
        unqualified: bool,
        opts: &WildcardAdditionalOptions,
        sources: &[Source],
        ctes: &HashMap<String, Vec<Col>>,
        outer: Option<&[Source]>,
        out: &mut Vec<Col>,
    ) {
        let mut excluded: Vec<String> = vec![];
        if let Some(ex) = &opts.opt_exclude {
            match ex {
                sqlparser::ast::ExcludeSelectItem::Single(n) => excluded.extend(name_parts(n).last().cloned()),
                sqlparser::ast::ExcludeSelectItem::Multiple(ns) => {
                    excluded.extend(ns.iter().filter_map(|n| name_parts(n).last().cloned()))
                }
            }
        }
        if let Some(ex) = &opts.opt_except {
            excluded.push(lower(&ex.first_element.value));
            excluded.extend(ex.additional_elements.iter().map(|i| lower(&i.value)));
        }
        let mut renames: HashMap<String, Name> = HashMap::new();
        if let Some(r) = &opts.opt_rename {
            let items = match r {
                sqlparser::ast::RenameSelectItem::Single(i) => vec![i.clone()],
                sqlparser::ast::RenameSelectItem::Multiple(v) => v.clone(),
            };
            for i in items {
                renames.insert(lower(&i.ident.value), Name::from(i.alias.value.as_str()));
            }
        }
        let mut replaced: HashMap<String, Vec<Upstream>> = HashMap::new();
        if let Some(r) = &opts.opt_replace {
            for el in &r.items {
                let kind = if has_aggregate(&el.expr) { Kind::Aggregate } else { Kind::Transform };
                let ups = self.expr_upstream(&el.expr, kind, sources, ctes, outer, out);
                replaced.insert(lower(&el.column_name.value), ups);
            }
        }
        for s in picked {
            if s.columns.is_none() || !s.exhaustive {
                // The columns it does not list pass through too: mark them for later references
                // (a query whose own output keeps the mark is incomplete).
                let marks =
                    s.open.iter().map(|n| Upstream { node: n.clone(), column: OPEN.into(), kind: Kind::Passthrough });
                match out.iter_mut().find(|c| &*c.name == OPEN) {
                    Some(m) => m.upstream.extend(marks),
                    None => out.push(Col { name: OPEN.into(), upstream: marks.collect() }),
                }
            }
            let Some(cols) = &s.columns else { continue };
            for c in cols {
                let key = lower(&c.name);
                if excluded.contains(&key) || (unqualified && s.hidden.contains(&key)) {
                    continue;
                }
                let name = renames.get(&key).cloned().unwrap_or_else(|| c.name.clone());
                let upstream = replaced.get(&key).cloned().unwrap_or_else(|| c.upstream.clone());
                out.push(Col { name, upstream });
            }
        }
    }
}

/// Bare words DuckDB reads as values, not columns.
fn is_keyword_value(w: &str) -> bool {
    matches!(
        w.to_lowercase().as_str(),
        "current_date"
            | "current_time"
            | "current_timestamp"
            | "localtime"
            | "localtimestamp"
            | "true"
            | "false"
            | "null"
            | "current_user"
            | "current_schema"
            | "current_catalog"
            | "current_role"
            | "session_user"
            | "user"
    )
}

#[cfg(test)]
mod tests;
