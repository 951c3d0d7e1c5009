//! Progress and log lines on stderr, in dbt's shape (`12:00:01  1 of 3 START sql table model
//! main.orders .... [RUN]`), as text or JSON lines, also appended to `<log-path>/dbt.log`.
//! Data (compiled SQL, `ls`, `show`) never goes through here: it is printed to stdout.

use crate::diagnostics::{render_json, render_text, Diagnostic, Style};
use crate::parse::{Node, ResourceType};
use crate::run::{NodeResult, Reporter, RunResults, Status};
use std::io::Write;
use std::sync::Mutex;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Writes progress lines to stderr and the log file.
pub struct Printer {
    /// Colour on stderr.
    pub color: bool,
    /// Text or JSON.
    pub format: LogFormat,
    log_file: Mutex<Option<std::fs::File>>,
}

const WIDTH: usize = 80;

impl Printer {
    /// A printer; `log_dir` is where dbt.log goes (None: no file).
    pub fn new(color: bool, format: LogFormat, log_dir: Option<&std::path::Path>) -> Printer {
        let file = log_dir.and_then(|d| {
            std::fs::create_dir_all(d).ok()?;
            std::fs::OpenOptions::new().create(true).append(true).open(d.join("dbt.log")).ok()
        });
        Printer { color, format, log_file: Mutex::new(file) }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// One informational line.
    pub fn info(&self, msg: &str) {
        self.emit("info", msg, None);
    }

    /// A warning line.
    pub fn warn(&self, msg: &str) {
        self.emit("warn", msg, None);
    }

    fn emit(&self, level: &str, msg: &str, data: Option<serde_json::Value>) {
        let now = chrono::Local::now();
        let line = match self.format {
            LogFormat::Text => {
                let mut out = String::new();
                for (i, l) in msg.lines().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(&format!("{}  {l}", now.format("%H:%M:%S")));
                }
                if msg.is_empty() {
                    out = format!("{}  ", now.format("%H:%M:%S"));
                }
                out
            }
            LogFormat::Json => serde_json::json!({
                "info": {"ts": now.to_rfc3339(), "level": level, "msg": strip_ansi(msg)},
                "data": data.unwrap_or(serde_json::json!({})),
            })
            .to_string(),
        };
        eprintln!("{line}");
        if let Ok(mut f) = self.log_file.lock() {
            if let Some(f) = f.as_mut() {
                let _ = writeln!(f, "{}", strip_ansi(&line));
            }
        }
    }

    /// Print diagnostics (text or JSON).
    pub fn diagnostics(&self, diags: &[Diagnostic]) {
        if diags.is_empty() {
            return;
        }
        let text = match self.format {
            LogFormat::Text => render_text(diags, Style { color: self.color }),
            LogFormat::Json => render_json(diags),
        };
        eprint!("{text}");
        if let Ok(mut f) = self.log_file.lock() {
            if let Some(f) = f.as_mut() {
                let _ = write!(f, "{}", render_text(diags, Style { color: false }));
            }
        }
    }

    fn line(&self, index: usize, total: usize, msg: &str, status: &str, status_color: &str) -> String {
        let prefix = format!("{index} of {total} {msg} ");
        let plain_status = format!("[{status}]");
        let dots = WIDTH.saturating_sub(prefix.chars().count() + plain_status.chars().count() + 1).max(1);
        format!("{prefix}{} {}", ".".repeat(dots), self.paint(status_color, &plain_status))
    }

    /// The closing summary.
    pub fn summary(&self, results: &RunResults, what: &str) {
        let ok = results.count(Status::Success);
        let err = results.count(Status::Error);
        let skip = results.count(Status::Skipped);
        self.info("");
        let secs = results.elapsed;
        let (h, m, s) = ((secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64, secs % 60.0);
        self.info(&format!("Finished running {what} in {h} hours {m} minutes and {s:.2} seconds ({secs:.2}s)."));
        if err == 0 {
            self.info("");
            self.info(&self.paint("32", "Completed successfully"));
        } else {
            self.info("");
            self.info(&self.paint("31", &format!("Completed with {err} error{}:", if err == 1 { "" } else { "s" })));
            for r in results.results.iter().filter(|r| r.status == Status::Error) {
                self.info("");
                self.info(&r.message);
            }
        }
        self.info("");
        self.info(&format!("Done. PASS={ok} WARN=0 ERROR={err} SKIP={skip} TOTAL={}", ok + err + skip));
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c2 in chars.by_ref() {
                if c2 == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What ran, counted by kind as dbt words it: `1 project hook, 5 seeds, 4 table models`.
pub fn what_ran<'a>(nodes: impl IntoIterator<Item = &'a Node>, hooks: usize) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    if hooks > 0 {
        counts.insert("project hook".into(), hooks);
    }
    for n in nodes {
        let kind = match n.resource_type {
            ResourceType::Seed => "seed".to_string(),
            _ => format!("{} model", n.materialized()),
        };
        *counts.entry(kind).or_default() += 1;
    }
    if counts.is_empty() {
        return "0 nodes".into();
    }
    counts.into_iter().map(|(k, n)| format!("{n} {k}{}", if n == 1 { "" } else { "s" })).collect::<Vec<_>>().join(", ")
}

/// What a node is, for progress lines: `sql table model`, `seed file`.
pub fn describe(node: &Node) -> String {
    match node.resource_type {
        ResourceType::Seed => format!("seed file {}", short_relation(node)),
        _ => format!("sql {} model {}", node.materialized(), short_relation(node)),
    }
}

/// `schema.identifier`, as dbt prints it.
pub fn short_relation(node: &Node) -> String {
    format!("{}.{}", node.relation.schema.as_deref().unwrap_or(""), node.relation.identifier.as_deref().unwrap_or(""))
}

impl Reporter for Printer {
    fn started(&self, index: usize, total: usize, node: &Node) {
        let msg = format!("START {}", describe(node));
        let line = self.line(index, total, &msg, "RUN", "0");
        self.emit(
            "info",
            &line,
            Some(serde_json::json!({"node": node.unique_id, "status": "started", "index": index, "total": total})),
        );
    }

    fn finished(&self, index: usize, total: usize, node: &Node, r: &NodeResult) {
        let (msg, status, color) = match r.status {
            Status::Success => {
                let verb = match node.resource_type {
                    ResourceType::Seed => "OK loaded".to_string(),
                    _ => "OK created".to_string(),
                };
                (format!("{verb} {}", describe(node)), format!("{} in {:.2}s", r.message, r.execution_time), "32")
            }
            Status::Error => {
                (format!("ERROR creating {}", describe(node)), format!("ERROR in {:.2}s", r.execution_time), "31")
            }
            Status::Skipped => (format!("SKIP relation {}", short_relation(node)), "SKIP".to_string(), "33"),
        };
        let line = self.line(index, total, &msg, &status, color);
        self.emit(
            if r.status == Status::Error { "error" } else { "info" },
            &line,
            Some(serde_json::json!({"node": node.unique_id, "status": r.status, "message": r.message, "execution_time": r.execution_time})),
        );
    }
}
