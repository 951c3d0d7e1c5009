//! What executing nodes produces, shared by the runner (which fills it), the progress output
//! (which renders it), the state store and the artifacts (which record it): each node's
//! [`NodeResult`], the invocation's [`RunResults`], and the [`Reporter`] the runner tells of each
//! start and end instead of printing.

use crate::parse::Node;
use serde_json::{json, Value as Json};
use std::time::Instant;

/// How a node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Built.
    Success,
    /// Failed.
    Error,
    /// Not run because an upstream node failed (or --fail-fast).
    Skipped,
    /// A test found nothing wrong.
    Pass,
    /// A test's error threshold was met (severity error).
    Fail,
    /// A test's warn threshold was met.
    Warn,
    /// Not run: nothing it depends on changed since its last successful build.
    NoOp,
    /// A microbatch model some of whose batches failed (the others are committed).
    PartialSuccess,
}

impl Status {
    /// As run_results.json writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::NoOp => "no-op",
            Status::PartialSuccess => "partial success",
        }
    }

    /// Whether dependents of a node that ended like this are skipped.
    pub fn blocks(&self) -> bool {
        matches!(self, Status::Error | Status::Skipped | Status::Fail | Status::PartialSuccess)
    }

    /// Whether the run failed because of it (exit 1; --fail-fast stops).
    pub fn failed(&self) -> bool {
        matches!(self, Status::Error | Status::Fail | Status::PartialSuccess)
    }
}

/// One node's result.
#[derive(Debug, Clone)]
pub struct NodeResult {
    /// The node.
    pub unique_id: String,
    /// How it ended.
    pub status: Status,
    /// Short message (`OK`, `INSERT 12`, or the error).
    pub message: String,
    /// Seconds spent.
    pub execution_time: f64,
    /// The database's response to the main statement.
    pub adapter_response: Json,
    /// Worker name (`Thread-1`).
    pub thread_id: String,
    /// When execution started and ended.
    pub timing: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    /// The compiled SQL, when compiled.
    pub compiled_code: Option<String>,
    /// Where it was built.
    pub relation_name: Option<String>,
    /// Tests: how many failing rows (the fail_calc).
    pub failures: Option<i64>,
    /// Microbatch models: `{"successful": [[start, end], ...], "failed": [...]}`.
    pub batch_results: Option<Json>,
}

/// When a node started, for its result's timing.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    t0: Instant,
    start: chrono::DateTime<chrono::Utc>,
}

impl Clock {
    /// Start timing now.
    pub fn start() -> Clock {
        Clock { t0: Instant::now(), start: chrono::Utc::now() }
    }

    /// A result ending now, with an `OK` adapter response and no SQL, relation or failures.
    pub fn result(&self, node: &Node, thread_id: &str, status: Status, message: String) -> NodeResult {
        NodeResult {
            unique_id: node.unique_id.clone(),
            status,
            message,
            execution_time: self.t0.elapsed().as_secs_f64(),
            adapter_response: json!({"_message": "OK"}),
            thread_id: thread_id.to_string(),
            timing: Some((self.start, chrono::Utc::now())),
            compiled_code: None,
            relation_name: None,
            failures: None,
            batch_results: None,
        }
    }
}

/// The results of one invocation, in completion order.
#[derive(Debug, Clone, Default)]
pub struct RunResults {
    /// Per-node results.
    pub results: Vec<NodeResult>,
    /// Wall time in seconds.
    pub elapsed: f64,
    /// When the run was cancelled (Ctrl-C): the nodes that never started.
    pub not_started: Vec<String>,
}

impl RunResults {
    /// Whether any node errored or any test failed.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.status.failed())
    }
    /// How many nodes ended with `s`.
    pub fn count(&self, s: Status) -> usize {
        self.results.iter().filter(|r| r.status == s).count()
    }
}

/// What the runner tells as it goes; `output` renders it. `index` is 1-based among `total`.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A node starts.
    Started {
        /// Its position.
        index: usize,
        /// How many nodes the run has.
        total: usize,
        /// The node.
        node: &'a Node,
    },
    /// A node ran: built, passed, warned, failed, errored, or left as it was (unchanged).
    Finished {
        /// Its position.
        index: usize,
        /// How many nodes the run has.
        total: usize,
        /// The node.
        node: &'a Node,
        /// How it ended.
        result: &'a NodeResult,
    },
    /// A node was not run: an upstream node did not succeed, or --fail-fast stopped the run.
    Skipped {
        /// Its position.
        index: usize,
        /// How many nodes the run has.
        total: usize,
        /// The node.
        node: &'a Node,
        /// Its skipped result, with why.
        result: &'a NodeResult,
    },
}

/// Receives the runner's events (progress output lives outside the runner).
pub trait Reporter: Sync {
    /// Something happened.
    fn event(&self, event: Event<'_>);
}
