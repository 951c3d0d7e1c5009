//! Everything minijinja: one [`Engine`] per invocation holding the environment with dbt's
//! context (`ref`, `source`, `config`, `var`, `this`, `is_incremental`, `run_query`, ...), the
//! built-in macros from `templates/` and the project's macros (project first). Each render owns
//! a [`RenderState`] that records what the template touched (refs, sources, config() calls,
//! statements run), so renders are independent and can run on any thread.
//! In: node source + [`NodeContext`]. Out: [`Rendered`] or a located [`Diagnostic`].

pub mod agate;
pub mod extract;
pub mod relation;

use crate::jinja::{as_kwargs, blocks, datetime, modules, mutable};

use crate::adapter::{Connection, Dialect, Table};
use crate::diagnostics::{did_you_mean, Diagnostic, Span};
use crate::project::config::Config;
use crate::project::dbt_project::VarsConfig;
use blocks::Block;
use minijinja::value::{Enumerator, Kwargs, Object, Rest, Value};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};
use relation::Relation;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// When a render happens: parse (record refs and config, nothing runs), compile (real
/// relations, queries may run) or run (materializations and hooks execute SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `execute` is false; ref() returns placeholders.
    Parse,
    /// `execute` is true; nothing is materialized.
    Compile,
    /// Materializations and hooks run statements.
    Run,
}

/// A `ref()` call as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefCall {
    /// Package, for the two-argument form.
    pub package: Option<String>,
    /// Model, seed or snapshot name.
    pub name: String,
    /// `v=` / `version=`: a model version (None: the latest).
    pub version: Option<String>,
}

impl RefCall {
    /// A `ref('name')` or `ref('package', 'name')` call without a version.
    pub fn new(package: Option<String>, name: impl Into<String>) -> RefCall {
        RefCall { package, name: name.into(), version: None }
    }

    /// A call from its string arguments (a name, or a package and a name) and its `v=` or
    /// `version=` value; `None` for any other number of names.
    pub fn from_args(names: &[String], version: Option<&Value>) -> Option<RefCall> {
        // A number or a string; `none` is no version.
        let version =
            version.filter(|v| !v.is_none()).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        match names {
            [name] => Some(RefCall { package: None, name: name.clone(), version }),
            [pkg, name] => Some(RefCall { package: Some(pkg.clone()), name: name.clone(), version }),
            _ => None,
        }
    }
}

/// A node a ref() or source() can resolve to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The node's unique id.
    pub unique_id: String,
    /// Its package.
    pub package: String,
    /// Where it lives (a CTE name for ephemeral models).
    pub relation: Relation,
    /// Ephemeral models are inlined as CTEs.
    pub ephemeral: bool,
    /// A versioned model's version.
    pub version: Option<String>,
    /// Whether a ref without a version resolves to it (unversioned nodes, and the latest
    /// version of a versioned model).
    pub latest: bool,
}

/// A hash map with a fast fixed-seed hasher (the keys are the project's own names).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Lookup tables for ref() and source(), filled after parse.
#[derive(Debug, Default)]
pub struct Resolver {
    /// Nodes by name (several packages may share a name).
    pub nodes: FastMap<String, Vec<Resolved>>,
    /// Source tables by (source, table).
    pub sources: FastMap<(String, String), Resolved>,
}

impl Resolver {
    /// Resolve a ref: package-qualified first, then the current package, then any.
    pub fn node(&self, call: &RefCall, current_package: &str) -> Option<&Resolved> {
        let cands = self.nodes.get(&call.name)?;
        let wanted = |c: &&Resolved| match &call.version {
            Some(v) => c.version.as_deref() == Some(v.as_str()),
            None => c.latest,
        };
        match &call.package {
            Some(p) => cands.iter().filter(wanted).find(|c| &c.package == p),
            None => {
                cands.iter().filter(wanted).find(|c| c.package == current_package).or_else(|| cands.iter().find(wanted))
            }
        }
    }
}

/// Invocation-wide facts every render sees.
#[derive(Debug)]
pub struct Globals {
    /// The root project's name.
    pub project_name: String,
    /// `target` as a map.
    pub target: Json,
    /// Target database and schema, for placeholders.
    pub target_database: String,
    /// Target schema.
    pub target_schema: String,
    /// --vars.
    pub cli_vars: Map<String, Json>,
    /// vars from dbt_project.yml.
    pub project_vars: VarsConfig,
    /// When the invocation started.
    pub run_started_at: chrono::DateTime<chrono::Utc>,
    /// This invocation's id.
    pub invocation_id: String,
    /// `flags` (FULL_REFRESH, WHICH, ...).
    pub flags: Json,
    /// ref() and source() targets (empty during parse).
    pub resolver: Resolver,
    /// `graph` (nodes and sources as maps; empty during parse).
    pub graph: Value,
    /// Whether log(info=True) lines are printed.
    pub print_logs: bool,
    /// The project's test-paths (unit-test fixture files live under `<test-path>/fixtures`).
    pub test_paths: Vec<String>,
    /// `invocation_args_dict`, built once (every render shares it).
    pub invocation_args: Value,
    /// `selected_resources`: the unique ids the command selected (empty while parsing), built
    /// once: a render clones a handle, never the list.
    pub selected_resources: Value,
    /// The database engine's SQL: relations quote with it.
    pub dialect: &'static Dialect,
    /// `target` and `flags` as Jinja values, made by the first render that needs them (the
    /// globals do not change once renders start).
    pub cache: GlobalsCache,
}

/// Values derived from [`Globals`] once, for every render.
#[derive(Debug, Default)]
pub struct GlobalsCache {
    target: std::sync::OnceLock<Value>,
    flags: std::sync::OnceLock<Value>,
}

impl Globals {
    /// `var(name)` for a node of `package`: --vars, the root project's vars for the package,
    /// its global vars, then the package's own defaults.
    pub fn var(&self, package: &str, name: &str) -> Option<&Json> {
        let pv = &self.project_vars;
        self.cli_vars
            .get(name)
            .or_else(|| pv.scoped.get(package).and_then(|m| m.get(name)))
            .or_else(|| pv.global.get(name))
            .or_else(|| pv.package_defaults.get(package).and_then(|m| m.get(name)))
    }

    /// Set `selected_resources` (the command's selection).
    pub fn set_selected_resources(&mut self, ids: &[String]) {
        self.selected_resources = Value::from_serialize(ids);
    }
}

/// What the render knows about the node being rendered.
#[derive(Debug, Clone, Default)]
pub struct NodeContext {
    /// Unique id (`model.shop.orders`).
    pub unique_id: String,
    /// Node name.
    pub name: String,
    /// Package name.
    pub package: String,
    /// `this`.
    pub this: Option<Relation>,
    /// The config as resolved so far (for `config.get`).
    pub config: Config,
    /// `model` as a map (made, and converted for Jinja, only when a template reads it).
    pub model: ModelJson,
    /// `is_incremental()`.
    pub is_incremental: bool,
    /// Extra context entries (`sql`, `pre_hooks` ... for materializations).
    pub extra: Vec<(String, Value)>,
    /// What this render sees differently (audit staging relations, unit-test inputs).
    pub overrides: Option<Arc<Overrides>>,
}

/// Substitutions for one render: relations read instead of the published ones (a node's staged
/// contents while it is audited, unit-test input CTEs), and unit tests' vars, env vars and macros.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// Unique id of a node or source → the relation ref()/source() return for it.
    pub relations: HashMap<String, Relation>,
    /// Vars that win over --vars and dbt_project.yml.
    pub vars: Map<String, Json>,
    /// Environment variables that win over the process environment.
    pub env_vars: HashMap<String, String>,
    /// Macros replaced by a fixed value (`is_incremental: true`).
    pub macros: Map<String, Json>,
}

/// The result of rendering a template.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The output text.
    pub sql: String,
    /// ref() calls, in order, deduplicated.
    pub refs: Vec<RefCall>,
    /// source() calls, in order, deduplicated.
    pub sources: Vec<(String, String)>,
    /// Configs set by config() calls.
    pub config: Config,
    /// Ephemeral models referenced (unique ids, in order).
    pub ephemerals: Vec<String>,
    /// Statements executed during the render (materializations, run_query).
    pub statements: Vec<String>,
    /// The adapter response of the `main` statement, if any.
    pub main_response: Option<Json>,
    /// Whether the render looked at the database (relations, columns), so that it may render
    /// differently once upstream relations change.
    pub introspected: bool,
}

/// Per-render state, reachable from every function through the `__strata` context entry.
pub struct RenderState {
    globals: Arc<Globals>,
    phase: Phase,
    node: NodeContext,
    conn: Option<Arc<dyn Connection>>,
    base: Mutex<Value>,
    out: Mutex<Rendered>,
    results: Mutex<HashMap<String, Value>>,
    hint: Mutex<Option<(&'static str, Option<String>)>>,
}

impl std::fmt::Debug for RenderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderState")
    }
}

impl Object for RenderState {}

impl RenderState {
    fn fail(&self, code: &'static str, help: Option<String>, kind: ErrorKind, msg: String) -> Error {
        *self.hint.lock().unwrap_or_else(|e| e.into_inner()) = Some((code, help));
        Error::new(kind, msg)
    }
    fn out(&self) -> std::sync::MutexGuard<'_, Rendered> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn executes(&self) -> bool {
        self.phase != Phase::Parse
    }
}

fn render_state(state: &State) -> Result<Arc<RenderState>, Error> {
    state
        .lookup("__strata")
        .and_then(|v| v.downcast_object::<RenderState>())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "internal: no render state"))
}

/// A callable that runs a macro with the caller's context: by bare name (resolved when called,
/// as dbt resolves it from the node's package) or from one package (`dbt_utils.star`).
#[derive(Debug)]
struct MacroCaller {
    name: String,
    package: Option<String>,
    ns: Arc<Namespaces>,
}

/// The slot `return()` writes into.
#[derive(Debug, Default)]
struct ReturnSlot(Mutex<Option<Value>>);
impl Object for ReturnSlot {}

const RETURN_MARKER: &str = "\u{1}strata-return";

impl Object for MacroCaller {
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        call_macro(state, &self.ns, &self.name, self.package.as_deref(), args)
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.package {
            Some(p) => write!(f, "<macro {p}.{}>", self.name),
            None => write!(f, "<macro {}>", self.name),
        }
    }
}

/// Which package defines which macro names, the root package, and the `dispatch:` config: what
/// bare and namespaced macro calls and `adapter.dispatch` resolve against.
#[derive(Debug, Default)]
pub struct Namespaces {
    /// The root project's name.
    pub root: String,
    /// Macro names by package (`dbt` holds the built-ins).
    pub names: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// `dispatch:` search orders by macro_namespace.
    pub dispatch: BTreeMap<String, Vec<String>>,
    /// Macros whose body reads `varargs` or `kwargs`, with their declared argument names: extra
    /// arguments go there, as in Jinja2.
    pub variadic: BTreeMap<(String, String), Vec<String>>,
}

/// The package strata's built-in macros belong to, as dbt's do.
pub const INTERNAL_PACKAGE: &str = "dbt";

impl Namespaces {
    fn has(&self, package: &str, name: &str) -> bool {
        self.names.get(package).is_some_and(|n| n.contains(name))
    }

    /// A bare macro name as dbt resolves it: the node's package, the root project, then dbt's
    /// built-ins. strata also looks in the calling macro's own package, so a package's macros can
    /// call each other without their namespace, and last in any package (generic tests and
    /// materializations that packages define).
    pub fn resolve(&self, name: &str, node_package: &str, macro_package: Option<&str>) -> Option<&str> {
        let order = [Some(node_package), Some(self.root.as_str()), macro_package, Some(INTERNAL_PACKAGE)];
        for p in order.into_iter().flatten() {
            if self.has(p, name) {
                return self.names.get_key_value(p).map(|(k, _)| k.as_str());
            }
        }
        self.names.iter().find(|(_, n)| n.contains(name)).map(|(p, _)| p.as_str())
    }

    /// The packages `adapter.dispatch(name, macro_namespace)` searches, `None` meaning the bare
    /// name resolution.
    fn search_packages(&self, namespace: Option<&str>) -> Vec<Option<String>> {
        match namespace {
            None => vec![None],
            Some(ns) => match self.dispatch.get(ns) {
                Some(order) => order.iter().cloned().map(Some).collect(),
                None if ns != INTERNAL_PACKAGE && self.names.contains_key(ns) => {
                    vec![Some(self.root.clone()), Some(ns.to_string())]
                }
                None => vec![None],
            },
        }
    }
}

fn call_macro(
    state: &State,
    ns: &Namespaces,
    name: &str,
    package: Option<&str>,
    args: &[Value],
) -> Result<Value, Error> {
    let rs = render_state(state)?;
    if package.is_none() {
        if let Some(v) = rs.node.overrides.as_ref().and_then(|o| o.macros.get(name)) {
            return Ok(Value::from_serialize(v));
        }
    }
    let calling_pkg = state.lookup("__pkg");
    let pkg = match package {
        Some(p) if ns.has(p, name) => p,
        Some(p) => {
            let known = ns.names.get(p).map(|n| n.iter().map(String::as_str).collect::<Vec<_>>()).unwrap_or_default();
            return Err(rs.fail(
                "E0406",
                did_you_mean(name, known),
                ErrorKind::UnknownFunction,
                format!("macro '{p}.{name}' is not defined"),
            ));
        }
        None => ns
            .resolve(name, &rs.node.package, calling_pkg.as_ref().and_then(Value::as_str))
            .ok_or_else(|| Error::new(ErrorKind::UnknownFunction, format!("macro '{name}' is not defined")))?,
    };
    let tmpl = state.env().get_template(&macro_template_name(pkg, name))?;
    let slot = Arc::new(ReturnSlot::default());
    let base = rs.base.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (args, varargs, kwargs) = match ns.variadic.get(&(pkg.to_string(), name.to_string())) {
        Some(declared) => split_variadic(args, declared)?,
        None => (args.to_vec(), Value::from(Vec::<Value>::new()), Value::from(BTreeMap::<String, Value>::new())),
    };
    let args = &args[..];
    let ctx = minijinja::context! { __strata => Value::from_dyn_object(rs.clone()), __ret => Value::from_dyn_object(slot.clone()), __pkg => pkg, varargs => varargs, kwargs => kwargs, ..base };
    let captured = tmpl.render_captured(ctx)?;
    let mstate = captured.state();
    let m = mstate
        .lookup(name)
        .ok_or_else(|| Error::new(ErrorKind::UnknownFunction, format!("macro '{name}' is not defined")))?;
    let res = with_caller_bridge(state, args, |args| m.call(mstate, args));
    if let Some(v) = slot.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Ok(v);
    }
    let v = res?;
    Ok(Value::from(v.as_str().unwrap_or_default().to_string()))
}

/// Jinja2's `varargs`/`kwargs`: positional arguments past the declared ones, and keyword
/// arguments the macro does not declare (`caller` stays a keyword argument).
fn split_variadic(args: &[Value], declared: &[String]) -> Result<(Vec<Value>, Value, Value), Error> {
    let (pos, kw) = kw_of(args);
    let n = declared.len().min(pos.len());
    let varargs = Value::from(pos[n..].to_vec());
    let mut keep: Vec<(String, Value)> = vec![];
    let mut extra: Vec<(Value, Value)> = vec![];
    if let Some(kw) = kw {
        for k in kw.args() {
            let v: Value = kw.peek(k)?;
            if declared.iter().any(|d| d == k) || k == "caller" {
                keep.push((k.to_string(), v));
            } else {
                extra.push((Value::from(k), v));
            }
        }
    }
    let mut out = pos[..n].to_vec();
    if !keep.is_empty() {
        out.push(Value::from(Kwargs::from_iter(keep)));
    }
    Ok((out, varargs, mutable::MutMap::value(extra)))
}

/// A `caller` passed to a macro is a macro of the calling template's state, and minijinja only
/// runs a macro in the state that defined it, while the called macro runs in a state of its own.
/// The bridge hands the called macro a function that calls `caller(...)` (with its arguments) back
/// in the calling state. That state is borrowed for exactly the duration of the call: the bridge
/// is switched off when the call returns, and refuses other threads, so it can never reach a state
/// that is gone.
fn with_caller_bridge(
    state: &State,
    args: &[Value],
    call: impl FnOnce(&[Value]) -> Result<Value, Error>,
) -> Result<Value, Error> {
    let Some(kw) = args.last().and_then(as_kwargs).filter(|k| k.has("caller")) else { return call(args) };
    let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
    struct Off(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Off {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let _off = Off(alive.clone());
    let mut out: Vec<(String, Value)> = vec![];
    for key in kw.args() {
        let v: Value = kw.peek(key)?;
        if key == "caller" {
            let bridge = CallerBridge {
                caller: v,
                state: state as *const State as *const (),
                alive: alive.clone(),
                thread: std::thread::current().id(),
            };
            out.push((key.to_string(), Value::from_object(bridge)));
        } else {
            out.push((key.to_string(), v));
        }
    }
    let mut new_args = args[..args.len() - 1].to_vec();
    new_args.push(Value::from(Kwargs::from_iter(out)));
    call(&new_args)
}

struct CallerBridge {
    caller: Value,
    state: *const (),
    alive: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::ThreadId,
}

// SAFETY: the pointer is only dereferenced on the thread that created it and while `alive` is set,
// i.e. while the `with_caller_bridge` frame borrowing the state is on that thread's stack.
unsafe impl Send for CallerBridge {}
unsafe impl Sync for CallerBridge {}

impl std::fmt::Debug for CallerBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<macro caller>")
    }
}

impl Object for CallerBridge {
    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        if !self.alive.load(std::sync::atomic::Ordering::SeqCst) || std::thread::current().id() != self.thread {
            return Err(Error::new(ErrorKind::InvalidOperation, "caller() used after its call block ended"));
        }
        // SAFETY: see the Send/Sync impls: the state outlives every call that passes this check.
        let outer: &State = unsafe { &*(self.state as *const State) };
        self.caller.call(outer, args)
    }
}

fn macro_template_name(package: &str, name: &str) -> String {
    format!("macro:{package}.{name}")
}

/// A macro known to the engine.
#[derive(Debug, Clone)]
pub struct MacroDef {
    /// Macro name as called.
    pub name: String,
    /// Package (`strata` for built-ins).
    pub package: String,
    /// File it is defined in (project-relative, or `templates/...` for built-ins).
    pub path: String,
    /// The argument list as written.
    pub args: String,
    /// The macro's source text (the whole block).
    pub source: String,
}

/// A source file macros come from.
#[derive(Debug, Clone)]
pub struct MacroSource {
    /// Display path.
    pub path: String,
    /// Package name.
    pub package: String,
    /// Text.
    pub source: String,
}

/// Built-in macros shipped in `templates/`, embedded in the binary.
pub const BUILTIN_MACROS: &[(&str, &str)] = &[
    ("templates/macros/schema.sql", include_str!("../../templates/macros/schema.sql")),
    ("templates/macros/adapter.sql", include_str!("../../templates/macros/adapter.sql")),
    ("templates/macros/cross_db.sql", include_str!("../../templates/macros/cross_db.sql")),
    ("templates/materializations/view.sql", include_str!("../../templates/materializations/view.sql")),
    ("templates/materializations/table.sql", include_str!("../../templates/materializations/table.sql")),
    ("templates/materializations/seed.sql", include_str!("../../templates/materializations/seed.sql")),
    ("templates/materializations/incremental.sql", include_str!("../../templates/materializations/incremental.sql")),
    ("templates/materializations/snapshot.sql", include_str!("../../templates/materializations/snapshot.sql")),
    ("templates/tests/generic.sql", include_str!("../../templates/tests/generic.sql")),
];

/// What the engine needs to know about the project's packages and the database engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The root project's name.
    pub root_package: String,
    /// `dispatch:` from dbt_project.yml: search order by macro_namespace.
    pub dispatch: BTreeMap<String, Vec<String>>,
    /// Installed packages (their names become namespaces even when they define no macro).
    pub packages: Vec<String>,
    /// The database engine's SQL: its macros, dispatch prefix and quoting.
    pub dialect: &'static Dialect,
}

impl Default for EngineConfig {
    /// No packages, on the first engine (DuckDB).
    fn default() -> EngineConfig {
        EngineConfig {
            root_package: String::new(),
            dispatch: BTreeMap::new(),
            packages: vec![],
            dialect: crate::adapter::ENGINES[0].dialect,
        }
    }
}

/// The Jinja engine for one invocation.
pub struct Engine {
    env: Environment<'static>,
    /// Macros by name as the root project sees them (its own first, then dbt's built-ins, then
    /// any package's).
    pub macros: BTreeMap<String, MacroDef>,
    /// Every macro, by package then name.
    pub by_package: BTreeMap<String, BTreeMap<String, MacroDef>>,
    /// Name resolution shared with the macros' callers.
    pub ns: Arc<Namespaces>,
    /// The database engine's SQL.
    pub dialect: &'static Dialect,
    sources: HashMap<String, (String, String, Option<mutable::Rewritten>)>,
    /// What the static parser found out about macros ([`extract`]).
    extract_cache: extract::MacroCache,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("macros", &self.macros.len()).finish()
    }
}

/// Rewrite dbt block tags minijinja does not know into macros: `{% test x(...) %}` becomes
/// `{% macro test_x(...) %}`, `{% materialization x, default %}` becomes
/// `{% macro materialization_x_default() %}`. Offsets of the body are kept.
fn macro_header(block: &Block) -> (String, String) {
    match block.kind.as_str() {
        "test" => {
            let name = format!("test_{}", block.name());
            (name.clone(), format!("{{% macro {name}({}) %}}", block.args()))
        }
        "materialization" => {
            let mut parts = block.header.split(',').map(str::trim);
            let mname = parts.next().unwrap_or_default().to_string();
            let adapter = parts
                .find_map(|p| {
                    p.strip_prefix("adapter")
                        .map(|r| r.trim_start_matches([' ', '=']).trim_matches(['\'', '"']).to_string())
                })
                .or_else(|| block.header.contains("default").then(|| "default".to_string()))
                .unwrap_or_else(|| "default".into());
            let name = format!("materialization_{mname}_{adapter}");
            (name.clone(), format!("{{% macro {name}() %}}"))
        }
        _ => (block.name().to_string(), String::new()),
    }
}

impl Engine {
    /// Build the environment: built-in macros, then the given macro files. Returns the engine and
    /// the diagnostics for macro files that do not compile.
    pub fn new(macro_files: &[MacroSource], cfg: &EngineConfig) -> (Engine, Vec<Diagnostic>) {
        let mut env = Environment::new();
        env.set_debug(true);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_recursion_limit(500);
        // SQL is never HTML- or JSON-escaped, whatever the template's file name (tests declared
        // in schema.yml render under that name).
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_unknown_method_callback(|state, value, method, args| {
            if let Some(e) = mutable::immutable_method_error(value, method) {
                return Err(e);
            }
            minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
        });
        install_globals(&mut env);
        mutable::install(&mut env);
        let mut engine = Engine {
            env,
            macros: BTreeMap::new(),
            by_package: BTreeMap::new(),
            ns: Arc::new(Namespaces::default()),
            sources: HashMap::new(),
            dialect: cfg.dialect,
            extract_cache: Default::default(),
        };
        let mut diags = vec![];
        // The shared built-ins, then the engine's own (`<engine>__` implementations).
        let builtins = BUILTIN_MACROS.iter().chain(cfg.dialect.macros).map(|(p, s)| MacroSource {
            path: p.to_string(),
            package: INTERNAL_PACKAGE.into(),
            source: s.to_string(),
        });
        for file in builtins.chain(macro_files.iter().cloned()) {
            engine.add_macro_file(&file, &mut diags);
        }
        let mut names: BTreeMap<String, std::collections::BTreeSet<String>> =
            engine.by_package.iter().map(|(p, m)| (p.clone(), m.keys().cloned().collect())).collect();
        for p in cfg.packages.iter().chain([&cfg.root_package]) {
            names.entry(p.clone()).or_default();
        }
        let mut variadic = BTreeMap::new();
        for (p, macros) in &engine.by_package {
            for (n, def) in macros {
                let body = &def.source;
                if body.contains("varargs") || body.contains("kwargs") {
                    variadic.insert((p.clone(), n.clone()), blocks::arg_names(&def.args));
                }
            }
        }
        let ns =
            Arc::new(Namespaces { root: cfg.root_package.clone(), names, dispatch: cfg.dispatch.clone(), variadic });
        let all_names: std::collections::BTreeSet<&String> = ns.names.values().flatten().collect();
        for name in &all_names {
            if let Some(p) = ns.resolve(name, &cfg.root_package, None) {
                if let Some(def) = engine.by_package.get(p).and_then(|m| m.get(*name)) {
                    engine.macros.insert((*name).clone(), def.clone());
                }
            }
            engine.env.add_global(
                (*name).clone(),
                Value::from_object(MacroCaller { name: (*name).clone(), package: None, ns: ns.clone() }),
            );
        }
        for pkg in ns.names.keys() {
            if !all_names.contains(pkg) {
                engine.env.add_global(
                    pkg.clone(),
                    Value::from_object(PackageNamespace { package: pkg.clone(), ns: ns.clone() }),
                );
            }
        }
        engine.env.add_global("adapter", Value::from_object(AdapterObj { ns: ns.clone(), dialect: cfg.dialect }));
        engine.env.add_global("api", Value::from_object(Api { dialect: cfg.dialect }));
        engine.ns = ns;
        (engine, diags)
    }

    fn add_macro_file(&mut self, file: &MacroSource, diags: &mut Vec<Diagnostic>) {
        let found = match blocks::blocks(&file.source, &["macro", "test", "materialization"]) {
            Ok(b) => b,
            Err((start, kind)) => {
                diags.push(
                    Diagnostic::error("E0401", format!("unclosed {{% {kind} %}} block"))
                        .with_span(Span::from_offsets(&file.path, &file.source, start, start + 2))
                        .with_help(format!("add {{% end{kind} %}} after the block's body")),
                );
                return;
            }
        };
        for block in found {
            let (name, header) = macro_header(&block);
            let text = if header.is_empty() {
                file.source[block.start..block.end].to_string()
            } else {
                format!("{header}{}{{% endmacro %}}", &file.source[block.body_start..block.body_end])
            };
            // Keep line numbers: blank everything before the block (a space for each byte that is
            // not a newline: byte offsets stay too), and pad a rewritten header.
            let prefix: String =
                file.source.as_bytes()[..block.start].iter().map(|&b| if b == b'\n' { '\n' } else { ' ' }).collect();
            let tname = macro_template_name(&file.package, &name);
            let full = format!("{prefix}{text}");
            let rewritten = mutable::rewrite(&full);
            let compiled = rewritten.as_ref().map(|r| r.text.clone()).unwrap_or_else(|| full.clone());
            self.sources.insert(tname.clone(), (file.path.clone(), full, rewritten));
            if let Err(e) = self.env.add_template_owned(tname.clone(), compiled) {
                diags.push(self.diagnostic(&e, None));
                continue;
            }
            self.by_package.entry(file.package.clone()).or_default().insert(
                name.clone(),
                MacroDef {
                    name,
                    package: file.package.clone(),
                    path: file.path.clone(),
                    args: block.args().to_string(),
                    source: file.source[block.start..block.end].to_string(),
                },
            );
        }
    }

    /// Whether a macro with this name exists, as the root project sees macro names.
    pub fn has_macro(&self, name: &str) -> bool {
        self.macros.contains_key(name)
    }

    /// Whether `name` is one of strata's built-in macros, not overridden by the project.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.macros.get(name).is_some_and(|m| m.package == INTERNAL_PACKAGE)
    }

    /// Whether strata's built-ins define `name` and no package or project does.
    pub fn only_builtin(&self, name: &str) -> bool {
        self.ns.names.iter().all(|(p, names)| (p == INTERNAL_PACKAGE) == names.contains(name))
    }

    /// Whether any package, strata's built-ins included, defines a macro named `name`.
    pub fn defined_anywhere(&self, name: &str) -> bool {
        self.ns.names.values().any(|names| names.contains(name))
    }

    /// The number of macros in every package.
    pub fn macro_count(&self) -> usize {
        self.by_package.values().map(BTreeMap::len).sum()
    }

    /// Render a template source (a model, hook or inline SQL) named `path`.
    pub fn render(
        &self,
        path: &str,
        source: &str,
        phase: Phase,
        globals: &Arc<Globals>,
        node: NodeContext,
        conn: Option<Arc<dyn Connection>>,
    ) -> Result<Rendered, Diagnostic> {
        let rs = Arc::new(self.render_state(phase, globals, node, conn));
        let rewritten = mutable::rewrite(source);
        let text = rewritten.as_ref().map(|r| r.text.as_str()).unwrap_or(source);
        let tmpl = self
            .env
            .template_from_named_str(path, text)
            .map_err(|e| self.diagnostic_with_source(&e, path, source, rewritten.as_ref(), None))?;
        let ctx = self.ctx_value(&rs);
        match tmpl.render(ctx) {
            Ok(sql) => Ok(self.finish(&rs, sql)),
            Err(e) => Err(self.diagnostic_with_source(&e, path, source, rewritten.as_ref(), Some(&rs))),
        }
    }

    /// Call a macro by name (materializations, schema naming, run-operation): a bare name
    /// resolves as in a template; `package.name` calls that package's macro.
    pub fn call_macro(
        &self,
        name: &str,
        args: Vec<Value>,
        phase: Phase,
        globals: &Arc<Globals>,
        node: NodeContext,
        conn: Option<Arc<dyn Connection>>,
    ) -> Result<(Value, Rendered), Diagnostic> {
        let (package, name) = match name.split_once('.') {
            Some((p, n)) => (Some(p), n),
            None => (None, name),
        };
        let rs = Arc::new(self.render_state(phase, globals, node, conn));
        let tmpl = self.env.template_from_str("{{ __strata_call() }}").map_err(|e| self.diagnostic(&e, None))?;
        let ctx = self.ctx_value(&rs);
        let captured = tmpl.render_captured(ctx).map_err(|e| self.diagnostic(&e, Some(&rs)))?;
        match call_macro(captured.state(), &self.ns, name, package, &args) {
            Ok(v) => {
                let text = v.as_str().map(str::to_string).unwrap_or_default();
                Ok((v, self.finish(&rs, text)))
            }
            Err(e) => Err(self.diagnostic(&e, Some(&rs))),
        }
    }

    fn render_state(
        &self,
        phase: Phase,
        globals: &Arc<Globals>,
        node: NodeContext,
        conn: Option<Arc<dyn Connection>>,
    ) -> RenderState {
        RenderState {
            globals: globals.clone(),
            phase,
            node,
            conn,
            base: Mutex::new(Value::UNDEFINED),
            out: Mutex::new(Rendered::default()),
            results: Mutex::new(HashMap::new()),
            hint: Mutex::new(None),
        }
    }

    fn ctx_value(&self, rs: &Arc<RenderState>) -> Value {
        let g = &rs.globals;
        let n = &rs.node;
        let mut entries: BTreeMap<String, Value> = BTreeMap::new();
        entries.insert("this".into(), n.this.clone().map(Relation::into_value).unwrap_or(Value::from(())));
        entries.insert("target".into(), g.cache.target.get_or_init(|| Value::from_serialize(&g.target)).clone());
        let model = n.model.clone();
        entries.insert("model".into(), lazy_map(move || model.get()));
        entries.insert("project_name".into(), Value::from(g.project_name.as_str()));
        entries.insert("execute".into(), Value::from(rs.executes()));
        entries.insert("run_started_at".into(), modules::datetime_value(g.run_started_at.naive_utc()));
        entries.insert("invocation_id".into(), Value::from(g.invocation_id.as_str()));
        entries.insert("flags".into(), g.cache.flags.get_or_init(|| Value::from_serialize(&g.flags)).clone());
        entries.insert("invocation_args_dict".into(), g.invocation_args.clone());
        entries.insert("selected_resources".into(), g.selected_resources.clone());
        // dbt's `schema` and `database`: where the node is built.
        if let Some(t) = &n.this {
            entries.insert("schema".into(), Value::from(t.schema.clone()));
            entries.insert("database".into(), Value::from(t.database.clone()));
        }
        entries.insert("thread_id".into(), Value::from(std::thread::current().name().unwrap_or("MainThread")));
        entries.insert("graph".into(), g.graph.clone());
        entries.insert("config".into(), Value::from_object(ConfigObj));
        for (k, v) in &n.extra {
            entries.insert(k.clone(), v.clone());
        }
        let base = Value::from_iter(entries);
        *rs.base.lock().unwrap_or_else(|e| e.into_inner()) = base.clone();
        minijinja::context! { __strata => Value::from_dyn_object(rs.clone()), ..base }
    }

    fn finish(&self, rs: &RenderState, sql: String) -> Rendered {
        let mut out = std::mem::take(&mut *rs.out());
        out.sql = sql;
        out
    }

    fn diagnostic_with_source(
        &self,
        e: &Error,
        path: &str,
        source: &str,
        rewritten: Option<&mutable::Rewritten>,
        rs: Option<&RenderState>,
    ) -> Diagnostic {
        let mut d = self.diagnostic(e, rs);
        if e.name() == Some(path) || e.name().is_none() {
            d.span = Some(Box::new(span_of(e, path, source, rewritten)));
        }
        d
    }

    /// Turn a minijinja error into a located diagnostic.
    pub fn diagnostic(&self, e: &Error, rs: Option<&RenderState>) -> Diagnostic {
        let hint = rs.and_then(|r| r.hint.lock().unwrap_or_else(|e| e.into_inner()).take());
        let syntax = matches!(e.kind(), ErrorKind::SyntaxError);
        let (code, help) = match hint {
            Some((c, h)) => (c, h),
            None if e.detail() == Some("recursion limit exceeded") => {
                ("E0407", Some("a macro calls itself (directly or through others) without stopping".to_string()))
            }
            None if syntax => ("E0401", Some("fix the Jinja syntax at the caret".to_string())),
            None => ("E0402", None),
        };
        let msg = match e.detail() {
            Some(d) => {
                if syntax {
                    format!("Jinja syntax error: {d}")
                } else {
                    d.to_string()
                }
            }
            None => e.kind().to_string(),
        };
        let mut d = Diagnostic::error(code, msg).with_opt_help(help);
        if let Some(name) = e.name() {
            if let Some((path, src, rewritten)) = self.sources.get(name) {
                d.span = Some(Box::new(span_of(e, path, src, rewritten.as_ref())));
            }
        }
        d
    }
}

fn span_of(e: &Error, path: &str, source: &str, rewritten: Option<&mutable::Rewritten>) -> Span {
    if let Some(r) = e.range() {
        let (start, end) = match rewritten {
            Some(rw) => (rw.original_offset(r.start), rw.original_offset(r.end)),
            None => (r.start, r.end),
        };
        return Span::from_offsets(path, source, start, end.max(start));
    }
    match e.line() {
        Some(line) => {
            let text = source.lines().nth(line.saturating_sub(1)).unwrap_or("");
            let col = text.len() - text.trim_start().len() + 1;
            Span::new(path, Some(source), line, col, text.trim().chars().count())
        }
        None => Span::file_only(path),
    }
}

/// `config`: callable at parse time to set configs, and `config.get`/`config.require` anywhere.
#[derive(Debug)]
struct ConfigObj;

impl Object for ConfigObj {
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let rs = render_state(state)?;
        if rs.phase == Phase::Parse {
            let mut out = rs.out();
            for a in args {
                let json: Json =
                    serde_json::to_value(a).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
                if let Json::Object(m) = json {
                    for (k, v) in m {
                        out.config.set(&k, v);
                    }
                }
            }
        }
        Ok(Value::from(""))
    }

    fn call_method(self: &Arc<Self>, state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let rs = render_state(state)?;
        let key = args.first().and_then(Value::as_str).unwrap_or_default().to_string();
        let kw = args.last().and_then(crate::templating::as_kwargs);
        let default = args
            .get(1)
            .filter(|v| crate::templating::as_kwargs(v).is_none())
            .cloned()
            .or_else(|| kw.as_ref().and_then(|k| k.get::<Value>("default").ok()));
        let parse_cfg = rs.out().config.clone();
        let found = parse_cfg.get(&key).or_else(|| rs.node.config.get(&key)).cloned();
        match method {
            "get" => Ok(found.map(Value::from_serialize).or(default).unwrap_or(Value::from(()))),
            "require" => match found {
                Some(v) => Ok(Value::from_serialize(v)),
                None => Err(Error::new(ErrorKind::InvalidOperation, format!("required config '{key}' is not set"))),
            },
            "set" => Ok(Value::from("")),
            "persist_relation_docs" | "persist_column_docs" => Ok(Value::from(false)),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("config has no method `{method}`"))),
        }
    }
}

fn kw_of(args: &[Value]) -> (Vec<Value>, Option<Kwargs>) {
    match args.last().and_then(crate::templating::as_kwargs) {
        Some(k) => (args[..args.len() - 1].to_vec(), Some(k)),
        None => (args.to_vec(), None),
    }
}

fn fn_ref(state: &State, args: Rest<Value>) -> Result<Value, Error> {
    let rs = render_state(state)?;
    let (pos, kw) = kw_of(&args);
    let strs: Vec<String> = pos.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    // `v=`, else `version=`.
    let version = ["v", "version"]
        .iter()
        .find_map(|k| kw.as_ref()?.get::<Option<Value>>(k).ok().flatten().filter(|v| !v.is_none()));
    let Some(call) = RefCall::from_args(&strs, version.as_ref()) else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "ref() takes a model name, optionally after a package name",
        ));
    };
    {
        let mut out = rs.out();
        if !out.refs.contains(&call) {
            out.refs.push(call.clone());
        }
    }
    if rs.phase == Phase::Parse {
        let g = &rs.globals;
        return Ok(Relation::new(g.dialect, &g.target_database, &g.target_schema, &call.name).into_value());
    }
    match rs.globals.resolver.node(&call, &rs.node.package) {
        Some(r) => {
            if let Some(rel) = rs.node.overrides.as_ref().and_then(|o| o.relations.get(&r.unique_id)) {
                return Ok(rel.clone().into_value());
            }
            if r.ephemeral {
                let mut out = rs.out();
                if !out.ephemerals.contains(&r.unique_id) {
                    out.ephemerals.push(r.unique_id.clone());
                }
            }
            Ok(r.relation.clone().into_value())
        }
        None => {
            let names: Vec<&str> = rs.globals.resolver.nodes.keys().map(String::as_str).collect();
            Err(rs.fail(
                "E0201",
                did_you_mean(&call.name, names),
                ErrorKind::InvalidOperation,
                format!("ref('{}') does not match any model, seed or snapshot", call.name),
            ))
        }
    }
}

fn fn_source(state: &State, source: String, table: String) -> Result<Value, Error> {
    let rs = render_state(state)?;
    {
        let mut out = rs.out();
        let key = (source.clone(), table.clone());
        if !out.sources.contains(&key) {
            out.sources.push(key);
        }
    }
    if rs.phase == Phase::Parse {
        let g = &rs.globals;
        return Ok(Relation::new(g.dialect, &g.target_database, &source, &table).into_value());
    }
    match rs.globals.resolver.sources.get(&(source.clone(), table.clone())) {
        Some(r) => Ok(rs
            .node
            .overrides
            .as_ref()
            .and_then(|o| o.relations.get(&r.unique_id))
            .unwrap_or(&r.relation)
            .clone()
            .into_value()),
        None => {
            let names: Vec<String> = rs.globals.resolver.sources.keys().map(|(s, t)| format!("{s}.{t}")).collect();
            Err(rs.fail(
                "E0202",
                did_you_mean(&format!("{source}.{table}"), names.iter().map(String::as_str)),
                ErrorKind::InvalidOperation,
                format!("source('{source}', '{table}') is not declared in any property file"),
            ))
        }
    }
}

/// `var(name[, default])`; a default of `none` is a default (Option<Value> would read it as none
/// given, so the arguments are taken as written).
fn fn_var(state: &State, name: String, default: minijinja::value::Rest<Value>) -> Result<Value, Error> {
    let default = default.0.into_iter().next();
    let rs = render_state(state)?;
    let g = &rs.globals;
    if let Some(v) = rs.node.overrides.as_ref().and_then(|o| o.vars.get(&name)) {
        return Ok(Value::from_serialize(v));
    }
    if let Some(v) = g.var(&rs.node.package, &name) {
        return Ok(Value::from_serialize(v));
    }
    match default {
        Some(d) => Ok(d),
        None => {
            let mut known: Vec<&str> = g.cli_vars.keys().map(String::as_str).collect();
            known.extend(g.project_vars.global.keys().map(String::as_str));
            Err(rs.fail(
                "E0404",
                Some(did_you_mean(&name, known).unwrap_or_else(|| {
                    format!("pass --vars '{{{name}: ...}}' or set it under `vars:` in dbt_project.yml")
                })),
                ErrorKind::InvalidOperation,
                format!("required var '{name}' not found in config"),
            ))
        }
    }
}

fn fn_env_var(state: &State, name: String, default: Option<Value>) -> Result<Value, Error> {
    if let Some(v) = render_state(state).ok().and_then(|rs| rs.node.overrides.as_ref()?.env_vars.get(&name).cloned()) {
        return Ok(Value::from(v));
    }
    match std::env::var(&name) {
        Ok(v) => Ok(Value::from(v)),
        Err(_) => match default {
            Some(d) => Ok(d),
            None => {
                let msg = format!("env var required but not provided: '{name}'");
                match render_state(state) {
                    Ok(rs) => Err(rs.fail(
                        "E0405",
                        Some(format!("export {name}=... or give env_var() a default")),
                        ErrorKind::InvalidOperation,
                        msg,
                    )),
                    Err(_) => Err(Error::new(ErrorKind::InvalidOperation, msg)),
                }
            }
        },
    }
}

fn fn_is_incremental(state: &State) -> Result<bool, Error> {
    Ok(render_state(state)?.node.is_incremental)
}

fn fn_log(state: &State, args: Rest<Value>) -> Result<String, Error> {
    let (pos, kw) = kw_of(&args);
    let msg = pos.first().cloned().unwrap_or(Value::from(""));
    let info = pos
        .get(1)
        .map(Value::is_true)
        .or_else(|| kw.as_ref().and_then(|k| k.get::<Option<bool>>("info").ok().flatten()));
    if let Ok(rs) = render_state(state) {
        if info.unwrap_or(false) && rs.phase != Phase::Parse && rs.globals.print_logs {
            eprintln!("{}  {}", chrono::Local::now().format("%H:%M:%S"), msg);
        }
    }
    Ok(String::new())
}

/// `print()` writes to stdout, as Python's does: it is how macros such as codegen's hand their
/// output to `run-operation ... > file`.
fn fn_print(state: &State, msg: Value) -> Result<String, Error> {
    if let Ok(rs) = render_state(state) {
        if rs.phase != Phase::Parse {
            println!("{msg}");
        }
    }
    Ok(String::new())
}

fn fn_return(state: &State, v: Value) -> Result<Value, Error> {
    if let Some(slot) = state.lookup("__ret").and_then(|s| s.downcast_object::<ReturnSlot>()) {
        *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
        return Err(Error::new(ErrorKind::InvalidOperation, RETURN_MARKER));
    }
    Err(Error::new(ErrorKind::InvalidOperation, "return() can only be used inside a macro"))
}

fn run_sql(rs: &RenderState, sql: &str, fetch: bool) -> Result<(Option<Table>, Json), Error> {
    let Some(conn) = &rs.conn else {
        return Err(Error::new(ErrorKind::InvalidOperation, "no database connection is open for this command"));
    };
    rs.out().statements.push(sql.to_string());
    if fetch {
        let t = conn
            .query(sql, None)
            .map_err(|e| rs.fail("E0501", None, ErrorKind::InvalidOperation, format!("database error: {e}")))?;
        let resp = serde_json::json!({"_message": "OK", "rows_affected": t.rows.len()});
        Ok((Some(t), resp))
    } else {
        let r = conn
            .execute(sql)
            .map_err(|e| rs.fail("E0501", None, ErrorKind::InvalidOperation, format!("database error: {e}")))?;
        Ok((None, serde_json::to_value(r).unwrap_or(Json::Null)))
    }
}

fn fn_run_query(state: &State, sql: String) -> Result<Value, Error> {
    let rs = render_state(state)?;
    if !rs.executes() {
        return Ok(Value::from(()));
    }
    let (t, _) = run_sql(&rs, &sql, true)?;
    Ok(t.map(agate::table_value).unwrap_or(Value::from(())))
}

fn fn_statement(state: &State, args: Rest<Value>) -> Result<Value, Error> {
    let rs = render_state(state)?;
    let (pos, kw) = kw_of(&args);
    let name = pos
        .first()
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| kw.as_ref().and_then(|k| k.get::<Option<String>>("name").ok().flatten()));
    let fetch = kw.as_ref().and_then(|k| k.get::<Option<bool>>("fetch_result").ok().flatten()).unwrap_or(false);
    let caller = kw.as_ref().and_then(|k| k.get::<Value>("caller").ok()).ok_or_else(|| {
        Error::new(ErrorKind::InvalidOperation, "statement() must be used as {% call statement(...) %}")
    })?;
    for k in ["auto_begin", "language"] {
        let _ = kw.as_ref().map(|kw| kw.get::<Option<Value>>(k));
    }
    let sql = caller.call(state, &[])?;
    let sql = sql.as_str().unwrap_or_default().trim().to_string();
    if !rs.executes() {
        return Ok(Value::from(""));
    }
    let (table, resp) = run_sql(&rs, &sql, fetch)?;
    if name.as_deref() == Some("main") {
        rs.out().main_response = Some(resp.clone());
    }
    if let Some(name) = name {
        let data = table.as_ref().map(|t| Value::from_serialize(&t.rows)).unwrap_or(Value::from(()));
        let result = minijinja::context! {
            response => Value::from_serialize(&resp),
            data => data,
            table => table.map(agate::table_value).unwrap_or(Value::from(())),
        };
        rs.results.lock().unwrap_or_else(|e| e.into_inner()).insert(name, result);
    }
    Ok(Value::from(""))
}

fn fn_load_result(state: &State, name: String) -> Result<Value, Error> {
    let rs = render_state(state)?;
    let r = rs.results.lock().unwrap_or_else(|e| e.into_inner()).get(&name).cloned();
    if r.is_none() && !rs.executes() {
        // At parse nothing runs: an empty result, so `load_result(x).table.column_names` and
        // `['data']` read as empty instead of failing, as in dbt's parse.
        let empty = Table { columns: vec![], types: vec![], rows: vec![] };
        return Ok(minijinja::context! {
            response => Value::from_serialize(serde_json::json!({"_message": "", "rows_affected": 0})),
            data => Value::from(Vec::<Value>::new()),
            table => agate::table_value(empty),
        });
    }
    Ok(r.unwrap_or(Value::from(())))
}

/// `exceptions`: raise_compiler_error, warn.
#[derive(Debug)]
struct Exceptions;
impl Object for Exceptions {
    fn call_method(self: &Arc<Self>, state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let msg = args.first().map(|v| v.to_string()).unwrap_or_default();
        match method {
            "raise_compiler_error" | "raise_database_error" | "raise_not_implemented" | "raise_fail_fast_error" => {
                match render_state(state) {
                    Ok(rs) => Err(rs.fail("E0403", None, ErrorKind::InvalidOperation, msg)),
                    Err(_) => Err(Error::new(ErrorKind::InvalidOperation, msg)),
                }
            }
            "warn" => {
                if let Ok(rs) = render_state(state) {
                    if rs.phase != Phase::Parse && rs.globals.print_logs {
                        eprintln!("warning: {msg}");
                    }
                }
                Ok(Value::from(""))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("exceptions has no method `{method}`"))),
        }
    }
}

/// `pkg.macro`: a package's macros by name.
#[derive(Debug)]
struct PackageNamespace {
    package: String,
    ns: Arc<Namespaces>,
}
impl Object for PackageNamespace {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        self.ns.has(&self.package, name).then(|| {
            Value::from_object(MacroCaller {
                name: name.to_string(),
                package: Some(self.package.clone()),
                ns: self.ns.clone(),
            })
        })
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names = self.ns.names.get(&self.package).map(|n| n.iter().map(|x| Value::from(x.as_str())).collect());
        Enumerator::Values(names.unwrap_or_default())
    }
}

/// `adapter`: quote, dispatch, relation lookups.
#[derive(Debug)]
struct AdapterObj {
    ns: Arc<Namespaces>,
    dialect: &'static Dialect,
}
impl Object for AdapterObj {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "type" => {
                let name = self.dialect.name;
                Some(Value::from_function(move || name))
            }
            _ => None,
        }
    }
    fn call_method(self: &Arc<Self>, state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let (pos, kw) = kw_of(args);
        let s = |i: usize, k: &str| -> Option<String> {
            pos.get(i)
                .and_then(|v| v.as_str().map(str::to_string))
                .or_else(|| kw.as_ref().and_then(|kw| kw.get::<Option<String>>(k).ok().flatten()))
        };
        match method {
            "quote" => Ok(Value::from(self.dialect.quote(&s(0, "identifier").unwrap_or_default()))),
            "type" => Ok(Value::from(self.dialect.name)),
            "dispatch" => {
                let name = s(0, "macro_name").unwrap_or_default();
                let namespace = s(1, "macro_namespace");
                let rs = render_state(state)?;
                if let Some((ns, short)) = name.split_once('.') {
                    return Err(rs.fail(
                        "E0406",
                        Some(format!("write adapter.dispatch('{short}', macro_namespace='{ns}')")),
                        ErrorKind::InvalidOperation,
                        format!("adapter.dispatch('{name}'): the macro name cannot contain a dot"),
                    ));
                }
                let calling_pkg = state.lookup("__pkg");
                let mut searched = vec![];
                for pkg in self.ns.search_packages(namespace.as_deref()) {
                    for prefix in self.dialect.dispatch_prefixes() {
                        let cand = format!("{prefix}__{name}");
                        let found = match &pkg {
                            None => self
                                .ns
                                .resolve(&cand, &rs.node.package, calling_pkg.as_ref().and_then(Value::as_str))
                                .map(|_| None),
                            Some(p) => self.ns.has(p, &cand).then(|| Some(p.clone())),
                        };
                        if let Some(package) = found {
                            return Ok(Value::from_object(MacroCaller { name: cand, package, ns: self.ns.clone() }));
                        }
                        searched.push(match &pkg {
                            Some(p) => format!("'{p}.{cand}'"),
                            None => format!("'{cand}'"),
                        });
                    }
                }
                let defined: Vec<String> = self
                    .ns
                    .names
                    .iter()
                    .filter(|(_, names)| names.iter().any(|n| n.ends_with(&format!("__{name}"))))
                    .map(|(p, _)| p.clone())
                    .collect();
                let help = if defined.is_empty() {
                    format!("no package defines '{name}'; define 'default__{name}' in the project's macros")
                } else {
                    format!(
                        "'{name}' is defined in {}; add it to the search_order of `dispatch:` in dbt_project.yml",
                        defined.join(", ")
                    )
                };
                Err(rs.fail(
                    "E0406",
                    Some(help),
                    ErrorKind::UnknownFunction,
                    format!(
                        "adapter.dispatch('{name}') found no implementation in namespace '{}'; searched {}",
                        namespace.as_deref().unwrap_or("(none)"),
                        searched.join(", ")
                    ),
                ))
            }
            "get_relation" => {
                let rs = render_state(state)?;
                rs.out().introspected = true;
                let (db, schema, ident) = (
                    s(0, "database").unwrap_or_default(),
                    s(1, "schema").unwrap_or_default(),
                    s(2, "identifier").unwrap_or_default(),
                );
                let Some(conn) = rs.conn.as_ref().filter(|_| rs.executes()) else { return Ok(Value::from(())) };
                match conn.relation_kind(&db, &schema, &ident) {
                    Ok(Some(kind)) => {
                        Ok(Relation { kind: Some(kind), ..Relation::new(self.dialect, &db, &schema, &ident) }
                            .into_value())
                    }
                    Ok(None) => Ok(Value::from(())),
                    Err(e) => Err(Error::new(ErrorKind::InvalidOperation, format!("database error: {e}"))),
                }
            }
            "render_raw_columns_constraints" | "render_raw_model_constraints" => {
                let key = if method == "render_raw_columns_constraints" { "raw_columns" } else { "raw_constraints" };
                let arg = pos.first().cloned().or_else(|| kw.as_ref().and_then(|k| k.get::<Value>(key).ok()));
                let json = arg.map(|v| serde_json::to_value(&v).unwrap_or_default()).unwrap_or_default();
                Ok(Value::from_serialize(if method == "render_raw_columns_constraints" {
                    crate::adapter::constraints::render_columns(&json)
                } else {
                    crate::adapter::constraints::render_model(&json)
                }))
            }
            "get_columns_in_relation" => {
                let rs = render_state(state)?;
                rs.out().introspected = true;
                let rel =
                    pos.first().or(kw_rel(&kw, "relation").as_ref()).and_then(|v| v.downcast_object::<Relation>());
                let cols = relation_columns(&rs, rel.as_deref())?;
                Ok(Value::from(
                    cols.iter().map(|c| agate::column_value(self.dialect, &c.name, &c.data_type)).collect::<Vec<_>>(),
                ))
            }
            "get_missing_columns" => {
                // Columns of from_relation that to_relation lacks (by name, ignoring case).
                let rs = render_state(state)?;
                rs.out().introspected = true;
                let from =
                    pos.first().cloned().or(kw_rel(&kw, "from_relation")).and_then(|v| v.downcast_object::<Relation>());
                let to =
                    pos.get(1).cloned().or(kw_rel(&kw, "to_relation")).and_then(|v| v.downcast_object::<Relation>());
                let have: Vec<String> =
                    relation_columns(&rs, to.as_deref())?.into_iter().map(|c| c.name.to_lowercase()).collect();
                Ok(Value::from(
                    relation_columns(&rs, from.as_deref())?
                        .into_iter()
                        .filter(|c| !have.contains(&c.name.to_lowercase()))
                        .map(|c| agate::column_value(self.dialect, &c.name, &c.data_type))
                        .collect::<Vec<_>>(),
                ))
            }
            // Relations and schemas, as dbt's adapter has them (run only when executing).
            "drop_relation" | "truncate_relation" | "rename_relation" => {
                let rs = render_state(state)?;
                let rel = |i: usize, k: &str| {
                    pos.get(i).cloned().or(kw_rel(&kw, k)).and_then(|v| v.downcast_object::<Relation>())
                };
                let Some(r) = rel(0, if method == "rename_relation" { "from_relation" } else { "relation" }) else {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("adapter.{method}() needs a relation"),
                    ));
                };
                if !rs.executes() {
                    return Ok(Value::from(()));
                }
                let kind = if r.kind.as_deref() == Some("view") { "view" } else { "table" };
                let sql = match method {
                    "drop_relation" => format!("drop {kind} if exists {r}"),
                    "truncate_relation" => format!("truncate table {r}"),
                    _ => {
                        let Some(to) = rel(1, "to_relation") else {
                            return Err(Error::new(
                                ErrorKind::InvalidOperation,
                                "adapter.rename_relation() needs to_relation",
                            ));
                        };
                        self.dialect.rename(
                            kind,
                            &r.to_string(),
                            r.schema.as_deref().unwrap_or_default(),
                            to.identifier.as_deref().unwrap_or_default(),
                        )
                    }
                };
                run_sql(&rs, &sql, false)?;
                Ok(Value::from(()))
            }
            "create_schema" | "drop_schema" => {
                let rs = render_state(state)?;
                let r = pos.first().cloned().or(kw_rel(&kw, "relation")).and_then(|v| v.downcast_object::<Relation>());
                let Some(r) = r else {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("adapter.{method}() needs a relation"),
                    ));
                };
                if !rs.executes() {
                    return Ok(Value::from(()));
                }
                let schema = self
                    .dialect
                    .schema_name(r.database.as_deref().unwrap_or_default(), r.schema.as_deref().unwrap_or_default());
                let sql = if method == "create_schema" {
                    format!("create schema if not exists {schema}")
                } else {
                    format!("drop schema if exists {schema} cascade")
                };
                run_sql(&rs, &sql, false)?;
                Ok(Value::from(()))
            }
            "check_schema_exists" | "list_schemas" => {
                let rs = render_state(state)?;
                rs.out().introspected = true;
                let database = s(0, "database").unwrap_or_else(|| rs.globals.target_database.clone());
                if !rs.executes() {
                    return Ok(if method == "list_schemas" {
                        Value::from(Vec::<String>::new())
                    } else {
                        Value::from(false)
                    });
                }
                let sql = (self.dialect.schemas_sql)(&database);
                let (t, _) = run_sql(&rs, &sql, true)?;
                let names: Vec<String> = t
                    .map(|t| {
                        t.rows.iter().filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_string)).collect()
                    })
                    .unwrap_or_default();
                Ok(match method {
                    "list_schemas" => Value::from(names),
                    _ => {
                        let schema = s(1, "schema").unwrap_or_default();
                        Value::from(names.iter().any(|n| n.eq_ignore_ascii_case(&schema)))
                    }
                })
            }
            "list_relations_without_caching" => {
                let rs = render_state(state)?;
                rs.out().introspected = true;
                let r = pos
                    .first()
                    .cloned()
                    .or(kw_rel(&kw, "schema_relation"))
                    .and_then(|v| v.downcast_object::<Relation>());
                let (Some(r), true) = (r, rs.executes()) else { return Ok(Value::from(Vec::<Value>::new())) };
                let database = r.database.clone().unwrap_or_else(|| rs.globals.target_database.clone());
                let schema = r.schema.clone().unwrap_or_default();
                let sql = (self.dialect.relations_sql)(&database, &schema);
                let (t, _) = run_sql(&rs, &sql, true)?;
                let rels: Vec<Value> = t
                    .map(|t| {
                        t.rows
                            .iter()
                            .map(|row| {
                                let name = row.first().and_then(|v| v.as_str()).unwrap_or_default();
                                let kind =
                                    if row.get(1).and_then(|v| v.as_str()) == Some("VIEW") { "view" } else { "table" };
                                Relation {
                                    kind: Some(kind.into()),
                                    ..Relation::new(self.dialect, &database, &schema, name)
                                }
                                .into_value()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Value::from(rels))
            }
            // DuckDB's VARCHAR has no length, so there is never a column to widen.
            "expand_target_column_types" => Ok(Value::from(())),
            "quote_as_configured" => Ok(Value::from(self.dialect.quote(&s(0, "identifier").unwrap_or_default()))),
            "already_exists" => {
                let rs = render_state(state)?;
                rs.out().introspected = true;
                let g = &rs.globals;
                let Some(conn) = rs.conn.as_ref().filter(|_| rs.executes()) else { return Ok(Value::from(false)) };
                let found = conn
                    .relation_kind(
                        &g.target_database,
                        &s(0, "schema").unwrap_or_default(),
                        &s(1, "table").unwrap_or_default(),
                    )
                    .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("database error: {e}")))?;
                Ok(Value::from(found.is_some()))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("adapter has no method `{method}`"))),
        }
    }
}

fn kw_rel(kw: &Option<Kwargs>, key: &str) -> Option<Value> {
    kw.as_ref().and_then(|k| k.get::<Option<Value>>(key).ok().flatten())
}

/// The columns of a relation in the database (none at parse, or without a connection).
fn relation_columns(rs: &RenderState, rel: Option<&Relation>) -> Result<Vec<crate::adapter::Column>, Error> {
    let (Some(rel), Some(conn)) = (rel, rs.conn.as_ref().filter(|_| rs.executes())) else { return Ok(vec![]) };
    conn.columns(
        rel.database.as_deref().unwrap_or(""),
        rel.schema.as_deref().unwrap_or(""),
        rel.identifier.as_deref().unwrap_or(""),
    )
    .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("database error: {e}")))
}

/// `api.Relation.create(...)`.
#[derive(Debug)]
struct Api {
    dialect: &'static Dialect,
}
impl Object for Api {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "Relation" => Some(Value::from_object(RelationFactory { dialect: self.dialect })),
            "Column" => Some(Value::from_object(ColumnFactory { dialect: self.dialect })),
            _ => None,
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["Relation", "Column"])
    }
}

/// `api.Column`: create columns and name types as dbt-duckdb does.
#[derive(Debug)]
struct ColumnFactory {
    dialect: &'static Dialect,
}
impl Object for ColumnFactory {
    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let (pos, kw) = kw_of(args);
        let arg = |i: usize, k: &str| -> Option<Value> {
            pos.get(i).cloned().or_else(|| kw.as_ref().and_then(|kw| kw.get::<Option<Value>>(k).ok().flatten()))
        };
        let text =
            |i: usize, k: &str| arg(i, k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        match method {
            "translate_type" => {
                let t = text(0, "dtype").unwrap_or_default();
                Ok(Value::from(if t.eq_ignore_ascii_case("string") { "TEXT".to_string() } else { t }))
            }
            "create" => Ok(agate::column_value(
                self.dialect,
                &text(0, "name").unwrap_or_default(),
                &text(1, "label_or_dtype").unwrap_or_default(),
            )),
            "string_type" => Ok(Value::from(match arg(0, "size").and_then(|v| v.as_i64()) {
                Some(n) => format!("character varying({n})"),
                None => "character varying".to_string(),
            })),
            "numeric_type" => {
                let dtype = text(0, "dtype").unwrap_or_else(|| "numeric".into());
                Ok(Value::from(
                    match (arg(1, "precision").and_then(|v| v.as_i64()), arg(2, "scale").and_then(|v| v.as_i64())) {
                        (Some(p), Some(s)) => format!("{dtype}({p},{s})"),
                        _ => dtype,
                    },
                ))
            }
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("Column has no method `{method}`"))),
        }
    }
}

#[derive(Debug)]
struct RelationFactory {
    dialect: &'static Dialect,
}
impl Object for RelationFactory {
    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        if method != "create" {
            return Err(Error::new(ErrorKind::UnknownMethod, format!("Relation has no method `{method}`")));
        }
        let (_, kw) = kw_of(args);
        let get = |k: &str| kw.as_ref().and_then(|kw| kw.get::<Option<String>>(k).ok().flatten());
        Ok(Relation {
            database: get("database"),
            schema: get("schema"),
            identifier: get("identifier"),
            kind: get("type"),
            external: None,
            dialect: self.dialect,
        }
        .into_value())
    }
}

/// `builtins`: dbt's own `ref`, `source` and `config`, for macros that override them.
#[derive(Debug)]
struct Builtins;
impl Object for Builtins {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "ref" => Some(Value::from_function(fn_ref)),
            "source" => Some(Value::from_function(fn_source)),
            "config" => Some(Value::from_object(ConfigObj)),
            _ => None,
        }
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["ref", "source", "config"])
    }
}

fn install_globals(env: &mut Environment<'static>) {
    env.add_global("__strata_call", Value::from_function(|| ""));
    env.add_function("ref", fn_ref);
    env.add_function("source", fn_source);
    env.add_function("var", fn_var);
    env.add_function("env_var", fn_env_var);
    env.add_function("is_incremental", fn_is_incremental);
    env.add_function("should_full_refresh", |state: &State| -> Result<bool, Error> {
        let rs = render_state(state)?;
        Ok(rs
            .node
            .config
            .get_bool("full_refresh")
            .unwrap_or_else(|| rs.globals.flags.get("FULL_REFRESH").and_then(Json::as_bool).unwrap_or(false)))
    });
    env.add_function("log", fn_log);
    env.add_function("print", fn_print);
    env.add_function("return", fn_return);
    env.add_function("run_query", fn_run_query);
    env.add_function("statement", fn_statement);
    env.add_function("load_result", fn_load_result);
    env.add_global("exceptions", Value::from_object(Exceptions));
    // The dbt version whose semantics strata follows (packages compare it).
    env.add_global("dbt_version", crate::DBT_VERSION);
    env.add_global("builtins", Value::from_object(Builtins));
    env.add_function("__strata_add", datetime::add);
    env.add_function("__strata_sub", datetime::sub);
    modules::install(env);
}

/// A node's `model` map, made when a template first reads it (most never do: building it for
/// every node was a sixth of compiling a model).
#[derive(Clone)]
pub struct ModelJson(Arc<dyn Fn() -> Json + Send + Sync>);

impl ModelJson {
    /// The map `build` makes.
    pub fn lazy(build: impl Fn() -> Json + Send + Sync + 'static) -> ModelJson {
        ModelJson(Arc::new(build))
    }

    /// A map made already.
    pub fn ready(model: Json) -> ModelJson {
        ModelJson(Arc::new(move || model.clone()))
    }

    /// The map.
    pub fn get(&self) -> Json {
        (self.0)()
    }

    /// The same map with one more entry.
    pub fn with(self, key: &str, value: Json) -> ModelJson {
        let key = key.to_string();
        ModelJson::lazy(move || {
            let mut model = self.get();
            if let Some(m) = model.as_object_mut() {
                m.insert(key.clone(), value.clone());
            }
            model
        })
    }
}

impl Default for ModelJson {
    fn default() -> ModelJson {
        ModelJson::ready(Json::Object(Default::default()))
    }
}

impl std::fmt::Debug for ModelJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelJson")
    }
}

/// A mapping built on first use (for `graph`, which most renders never read).
pub fn lazy_map<F>(build: F) -> Value
where
    F: Fn() -> Json + Send + Sync + 'static,
{
    Value::from_object(LazyMap { build: Box::new(build), cell: std::sync::OnceLock::new() })
}

struct LazyMap {
    build: Box<dyn Fn() -> Json + Send + Sync>,
    cell: std::sync::OnceLock<Value>,
}

impl std::fmt::Debug for LazyMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyMap")
    }
}

impl LazyMap {
    fn value(&self) -> &Value {
        self.cell.get_or_init(|| Value::from_serialize((self.build)()))
    }
}

impl Object for LazyMap {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.value().get_item(key).ok().filter(|v| !v.is_undefined())
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.value().try_iter() {
            Ok(keys) => Enumerator::Values(keys.collect()),
            Err(_) => Enumerator::Empty,
        }
    }
}

/// Render a description that uses `{{ doc('name') }}`; `None` for one without Jinja, which
/// stays as written. An unknown doc block comes back as `Err((name, did-you-mean))`.
pub fn render_description(
    text: &str,
    docs: &BTreeMap<String, String>,
) -> Result<Option<String>, (String, Option<String>)> {
    if !text.contains("{{") && !text.contains("{%") {
        return Ok(None);
    }
    let missing: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut env = Environment::new();
    let docs_c = docs.clone();
    let miss = missing.clone();
    env.add_function("doc", move |name: String, second: Option<String>| -> Result<String, Error> {
        let name = second.unwrap_or(name);
        match docs_c.get(&name) {
            Some(d) => Ok(d.clone()),
            None => {
                *miss.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.clone());
                Err(Error::new(ErrorKind::InvalidOperation, format!("unknown doc '{name}'")))
            }
        }
    });
    env.add_function("var", |_name: String, default: Option<Value>| default.unwrap_or(Value::from("")));
    env.add_function("env_var", |name: String, default: Option<String>| {
        std::env::var(&name).ok().or(default).unwrap_or_default()
    });
    match env.render_str(text, ()) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            let name = missing.lock().unwrap_or_else(|e| e.into_inner()).take();
            match name {
                Some(n) => {
                    let help = did_you_mean(&n, docs.keys().map(String::as_str));
                    Err((n, help))
                }
                None => Err((String::new(), Some(e.to_string()))),
            }
        }
    }
}

#[cfg(test)]
mod tests_support {
    pub use super::*;
    use serde_json::json;

    pub fn globals() -> Arc<Globals> {
        let mut vars = VarsConfig::default();
        vars.global.insert("g".into(), json!("global"));
        vars.scoped.insert("pkg".into(), [("g".to_string(), json!("scoped"))].into_iter().collect());
        Arc::new(Globals {
            dialect: &crate::adapter::duckdb::DIALECT,
            cache: Default::default(),
            project_name: "pkg".into(),
            target: json!({"name": "dev", "schema": "main", "database": "db", "type": "duckdb"}),
            target_database: "db".into(),
            target_schema: "main".into(),
            cli_vars: [("cli".to_string(), json!(7))].into_iter().collect(),
            project_vars: vars,
            run_started_at: chrono::Utc::now(),
            invocation_id: "id".into(),
            flags: json!({}),
            resolver: Resolver::default(),
            graph: Value::from(()),
            print_logs: false,
            test_paths: vec![],
            invocation_args: Value::from_serialize(json!({})),
            selected_resources: Value::from(Vec::<String>::new()),
        })
    }

    pub fn engine_cfg() -> EngineConfig {
        EngineConfig { root_package: "pkg".into(), ..Default::default() }
    }

    pub fn engine(macros: &str) -> Engine {
        let (e, diags) = Engine::new(
            &[MacroSource { path: "macros/m.sql".into(), package: "pkg".into(), source: macros.into() }],
            &engine_cfg(),
        );
        assert!(diags.is_empty(), "{diags:?}");
        e
    }

    pub fn node() -> NodeContext {
        NodeContext { package: "pkg".into(), name: "m".into(), ..Default::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;

    #[test]
    fn records_refs_sources_and_config_at_parse() {
        let e = engine("");
        let sql = "{{ config(materialized='table', tags=['a']) }}select * from {{ ref('a') }} join {{ ref('p', 'b') }} join {{ source('s', 't') }} join {{ ref('a') }}";
        let r = e.render("models/m.sql", sql, Phase::Parse, &globals(), node(), None).unwrap();
        assert_eq!(r.refs, vec![RefCall::new(None, "a"), RefCall::new(Some("p".into()), "b")]);
        assert_eq!(r.sources, vec![("s".to_string(), "t".to_string())]);
        assert_eq!(r.config.materialized("view"), "table");
        assert!(r.sql.contains("\"db\".\"main\".\"a\""));
    }

    #[test]
    fn macros_return_values_call_blocks_and_dispatch() {
        let e = engine(
            "{% macro two() %}{{ return([1, 2]) }}{% endmacro %}\n{% macro wrap() %}[{{ caller() }}]{% endmacro %}\n{% macro default__greet(n) %}hello {{ n }}{% endmacro %}\n{% macro uses_other() %}{{ two() | length }}{% endmacro %}",
        );
        let r = e
            .render("models/m.sql", "{{ two() | sum }} {% call wrap() %}x{% endcall %} {{ adapter.dispatch('greet')('bob') }} {{ uses_other() }}", Phase::Compile, &globals(), node(), None)
            .unwrap();
        assert_eq!(r.sql, "3 [x] hello bob 2");
    }

    #[test]
    fn the_engines_own_macros_win_over_default_and_name_the_engine() {
        // templates/duckdb/ defines duckdb__any_value; templates/macros/ has default__any_value.
        let e = engine("");
        let r = e
            .render(
                "models/m.sql",
                "{{ dbt.any_value('x') }} {{ adapter.type() }} {{ adapter.quote('a\"b') }}",
                Phase::Compile,
                &globals(),
                node(),
                None,
            )
            .unwrap();
        assert_eq!(r.sql, "arbitrary(x) duckdb \"a\"\"b\"");
        assert!(e.has_macro("materialization_table_default"));
        assert_eq!(e.dialect.materialization_macros("table")[0], "materialization_table_duckdb");
    }

    #[test]
    fn var_precedence_cli_then_package_then_global_then_default() {
        let e = engine("");
        let r = e
            .render(
                "m.sql",
                "{{ var('cli') }} {{ var('g') }} {{ var('none', 'd') }}",
                Phase::Compile,
                &globals(),
                node(),
                None,
            )
            .unwrap();
        assert_eq!(r.sql, "7 scoped d");
        let err = e.render("m.sql", "\n  {{ var('nope') }}", Phase::Compile, &globals(), node(), None).unwrap_err();
        assert_eq!(err.code, "E0404");
        assert_eq!(err.span.unwrap().line, 2);
    }

    #[test]
    fn unknown_ref_at_compile_is_located() {
        let e = engine("");
        let err = e
            .render("models/m.sql", "select 1\nfrom {{ ref('nope') }}", Phase::Compile, &globals(), node(), None)
            .unwrap_err();
        assert_eq!(err.code, "E0201");
        let span = err.span.unwrap();
        assert_eq!((span.line, span.file.to_str().unwrap()), (2, "models/m.sql"));
    }

    #[test]
    fn syntax_error_in_macro_file_points_into_it() {
        let (_, diags) = Engine::new(
            &[MacroSource {
                path: "macros/bad.sql".into(),
                package: "pkg".into(),
                source: "{% macro ok() %}1{% endmacro %}\n\n{% macro bad() %}\n{{ 1 + }}\n{% endmacro %}".into(),
            }],
            &engine_cfg(),
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "E0401");
        assert_eq!(diags[0].span.as_ref().unwrap().line, 4);
    }

    #[test]
    fn raise_compiler_error_is_reported_with_its_message() {
        let e = engine("{% macro check(x) %}{% if x > 1 %}{{ exceptions.raise_compiler_error('too big: ' ~ x) }}{% endif %}{% endmacro %}");
        let err = e.render("m.sql", "{{ check(5) }}", Phase::Compile, &globals(), node(), None).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), ("E0403", "too big: 5"));
        assert_eq!(err.span.unwrap().file.to_str(), Some("macros/m.sql"));
    }

    #[test]
    fn runaway_macro_recursion_is_an_error_not_a_crash() {
        let e = engine("{% macro forever(n) %}{{ forever(n + 1) }}{% endmacro %}");
        let err = e.render("m.sql", "{{ forever(0) }}", Phase::Compile, &globals(), node(), None).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), ("E0407", "recursion limit exceeded"), "{err:?}");
    }

    #[test]
    fn descriptions_resolve_doc_blocks() {
        let docs: BTreeMap<String, String> = [("status".to_string(), "The status.".to_string())].into_iter().collect();
        assert_eq!(render_description("{{ doc('status') }}", &docs).unwrap().as_deref(), Some("The status."));
        assert_eq!(render_description("Plain text.", &docs), Ok(None), "stays as written");
        assert_eq!(
            render_description("{{ doc('statuz') }}", &docs).unwrap_err(),
            ("statuz".to_string(), Some("did you mean 'status'?".to_string()))
        );
    }

    #[test]
    fn modules_and_helpers() {
        let e = engine("");
        let r = e
            .render(
                "m.sql",
                "{{ modules.re.sub('[0-9]+', '#', 'a1b22') }} {{ fromjson('{\"a\": [1]}').a[0] }} {{ zip([1, 2], ['x', 'y']) | list | length }} {{ set([1, 1, 2]) | length }} {{ local_md5('a') }} {{ 'True' | as_bool }}",
                Phase::Compile,
                &globals(),
                node(),
                None,
            )
            .unwrap();
        assert_eq!(r.sql, "a#b# 1 2 2 0cc175b9c0f1b6a831c399e269772661 True");
    }
}

#[cfg(test)]
mod fidelity {
    use super::tests_support::*;

    /// Behaviours dbt packages rely on, each as Jinja2 (dbt) renders it.
    const CASES: &[(&str, &str)] = &[
        ("{% set l = [] %}{% do l.append(1) %}{% do l.extend([2, 3]) %}{{ l }}", "[1, 2, 3]"),
        ("{% set l = [1, 2, 3] %}{{ l.pop() }}{{ l | length }}{{ l.pop(0) }}{{ l }}", "321[2]"),
        ("{% set l = ['a'] %}{% set _ = l.append('b') %}{{ l | join(',') }}|{{ l.append('c') }}", "a,b|None"),
        ("{% set l = 'ab,c'.split(',') | list %}{% do l.append('d') %}{% set d = dict(a=1) %}{% do d.update({'b': 2}) %}{{ l }}{{ d }}", "['ab', 'c', 'd']{'a': 1, 'b': 2}"),
        ("{% set l = [3, 1] %}{% do l.insert(0, 5) %}{% do l.remove(1) %}{{ l }}", "[5, 3]"),
        ("{% set d = {} %}{% do d.update({'a': 1}) %}{% do d.update(b=2) %}{{ d.a }}{{ d['b'] }}{{ d | length }}", "122"),
        ("{% set d = {'a': 1, 'b': 2} %}{{ d.pop('a') }}{{ d.keys() | list }}{{ d.get('z', 'x') }}{{ d.get('b') }}", "1['b']x2"),
        ("{% set d = {'a': 1} %}{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}{{ d.values() | list }}", "a=1[1]"),
        ("{% set d = {'k': []} %}{% do d['k'].append(1) %}{% do d.setdefault('n', []).append(2) %}{{ d.k }}{{ d.n }}", "[1][2]"),
        ("{{ 'a,b'.split(',') }}{{ ' x '.strip() }}{{ 'AB'.lower() }}{{ 'ab'.upper() }}{{ 'aXb'.replace('X', '-') }}", "['a', 'b']xabABa-b"),
        ("{{ 'abc'.startswith('a') }}{{ 'abc'.endswith('x') }}{{ '{}-{}'.format(1, 2) }}{{ ','.join(['a', 'b']) }}", "TrueFalse1-2a,b"),
        ("{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}", "1TrueFalse3,2FalseFalse3,3FalseTrue3"),
        ("{{ 'true' | as_bool }}{{ '3' | as_number + 1 }}{{ 5 | as_text }}{{ '[1]' | as_native }}", "True45[1]"),
        ("{{ {'a': 1} | tojson }}{{ none | default('d', true) }}{{ '' | default('e', true) }}{{ '' | default('f') }}", "{\"a\": 1}de"),
        ("{{ 'hello world' | truncate(8) }}|{{ 'hello world foo bar' | truncate(9) }}{{ 'a b c' | wordcount }}{{ [1, 1, 2] | unique | list }}", "hello world|hello...3[1, 2]"),
        ("{{ [{'n': 1}, {'n': 2}] | sum(attribute='n') }}{{ [1, 2] | sum }}", "33"),
        ("{{ set(['b', 'a', 'b']) == set(['a', 'b']) }}{{ set([2, 1, 2]) | length }}", "True2"),
        ("{{ nope }}|{{ nope is defined }}|{% for x in nope %}x{% endfor %}|{{ nope | default('d') }}", "|False||d"),
        ("{{ 'x' is string }}{{ 1 is number }}{{ {} is mapping }}{{ [] is sequence }}{{ none is none }}{{ y is defined }}", "TrueTrueTrueTrueTrueFalse"),
        ("{{ none }}|{{ true }}|{{ false }}|{{ [none, true] }}|{{ {'a': none} }}", "None|True|False|[None, True]|{'a': None}"),
        ("{% set x %}\n  select 1\n{% endset %}{{ x | trim }}", "select 1"),
        ("{%- set x = 1 -%}\n  {{- x -}}  \n", "1"),
        ("{{ variadic(1, 2, 3, k='v') }}|{{ variadic(0) }}|{{ variadic(a=5, z=1) }}", "12v|000|501"),
        ("{% call(v, w) wrap_args() %}{{ v }}+{{ w }}{% endcall %}", "<x+y>"),
        ("{% macro w() %}[{{ caller('x') }}]{% endmacro %}{% call(v) w() %}got {{ v }}{% endcall %}", "[got x]"),
        ("{% set ns = namespace(n=0) %}{% for i in [1, 2] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "3"),
        ("{% for n, s in zip([1, 2], ['a', 'b']) %}{{ n }}{{ s }}{% endfor %}", "1a2b"),
        ("{{ zip(1, 2) }}|{{ zip(1, [2], default=[]) }}|{{ zip_strict([1], [2]) }}|{{ set(5) }}|{{ set(5, default=[]) }}|{{ set_strict('ba') }}", "None|[]|[[1, 2]]|None|[]|['a', 'b']"),
        ("{{ try_or_compiler_error('bad', zip_strict, [1], [2]) }}", "[[1, 2]]"),
        ("{% set l = [1, 2] %}{{ l + [3] }}{{ 2 in l }}{{ l[-1] }}{{ l[0:1] }}{{ l | reverse | list }}", "[1, 2, 3]True2[1][2, 1]"),
        ("{{ [3, 1, 2] | sort }}{{ ['b', 'a'] | sort | first }}{{ [1, 2] | map('string') | join('-') }}", "[1, 2, 3]a1-2"),
        ("{{ 'abc'[1:] }}{{ 'a-b' | replace('-', '_') }}{{ 'x' ~ 1 }}{{ 7 // 2 }}{{ 7 % 3 }}{{ 2 ** 3 }}", "bca_bx1318"),
        ("{% if [] %}t{% else %}f{% endif %}{% if {} %}t{% else %}f{% endif %}{% if [0] %}t{% endif %}", "fft"),
        ("{{ [1, 2] | select('odd') | list }}{{ ['a', 'b'] | reject('equalto', 'a') | list }}{{ [{'x': 1}] | map(attribute='x') | list }}", "[1]['b'][1]"),
        // modules.datetime as Python's (each expected text is what Jinja2 on CPython prints).
        ("{% set d = modules.datetime %}{{ (d.datetime(2024, 1, 31) + d.timedelta(days=1)).strftime('%Y-%m-%d') }}|{{ d.date(2024, 3, 1) - d.date(2024, 1, 1) }}|{{ (d.date(2024, 3, 1) - d.date(2024, 1, 1)).days }}", "2024-02-01|60 days, 0:00:00|60"),
        ("{% set d = modules.datetime %}{{ d.timedelta(hours=-1) }}|{{ d.timedelta(days=1, seconds=3661) }}|{{ d.datetime(2024, 1, 2, 3, 4, 5) }}|{{ d.timedelta(minutes=90).total_seconds() }}", "-1 day, 23:00:00|1 day, 1:01:01|2024-01-02 03:04:05|5400.0"),
        ("{% set d = modules.datetime %}{{ d.datetime(2024, 1, 2) > d.datetime(2024, 1, 1) }}{{ d.date(2024, 1, 1) == d.date(2024, 1, 1) }}{{ d.timedelta(days=1) < d.timedelta(hours=25) }}{{ [d.date(2024, 5, 1), d.date(2023, 1, 1)] | min }}", "TrueTrueTrue2023-01-01"),
        ("{% set t = modules.datetime.datetime(2024, 1, 1) %}{{ (t - modules.datetime.timedelta(days=2 + 1)).isoformat() }}|{{ 'a' + 1 ~ 'b' }}|{{ 1 + 2 - 4 }}|{{ [1] + [2] }}|{{ t.replace(day=5).date() }}", "2023-12-29T00:00:00|a1b|-1|[1, 2]|2024-01-05"),
    ];

    const MACROS: &str = "{% macro variadic(a) %}{{ a }}{{ varargs | length }}{{ kwargs.get('k', '') }}{{ kwargs | length if not kwargs.k }}{% endmacro %}\n{% macro wrap_args() %}<{{ caller('x', 'y') }}>{% endmacro %}";

    #[test]
    fn jinja_behaves_as_dbt_s_jinja2() {
        let e = engine(MACROS);
        let mut failures = vec![];
        for (tmpl, want) in CASES {
            match e.render("m.sql", tmpl, Phase::Compile, &globals(), node(), None) {
                Ok(r) if r.sql == *want => {}
                Ok(r) => failures.push(format!("{tmpl}\n   want {want:?}\n    got {:?}", r.sql)),
                Err(d) => failures.push(format!("{tmpl}\n   want {want:?}\n  error {}", d.message)),
            }
        }
        assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), CASES.len(), failures.join("\n"));
    }
}
