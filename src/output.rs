//! Progress and log lines on stderr, in dbt's shape (`12:00:01  1 of 3 START sql table model
//! main.orders .... [RUN]`), as text or JSON lines, also appended to `<log-path>/dbt.log`.
//! Data (compiled SQL, `ls`, `show`) never goes through here: it is printed to stdout.

use crate::diagnostics::{render_json, render_text, Diagnostic, Style};
use crate::parse::{Node, ResourceType};
use crate::results::{Event, NodeResult, Reporter, RunResults, Status};
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
    /// dbt.log, buffered (flushed when the printer is dropped, at the end of the command).
    log_file: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
    /// Debug lines on stderr as well (they always go to dbt.log).
    debug: bool,
    /// The local UTC offset, read once (chrono's `Local::now()` checks /etc/localtime per call).
    offset: chrono::FixedOffset,
}

const WIDTH: usize = 80;

impl Printer {
    /// A printer; `log_dir` is where dbt.log goes (None: no file).
    pub fn new(color: bool, format: LogFormat, log_dir: Option<&std::path::Path>) -> Printer {
        let file = log_dir.and_then(|d| {
            std::fs::create_dir_all(d).ok()?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(d.join("dbt.log"))
                .ok()
                .map(std::io::BufWriter::new)
        });
        let offset = *chrono::Local::now().offset();
        Printer { color, format, log_file: Mutex::new(file), debug: false, offset }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 9);
        self.paint_into(&mut out, code, s);
        out
    }

    /// `s` appended to `out`, coloured with `code` when colour is on.
    fn paint_into(&self, out: &mut String, code: &str, s: &str) {
        if self.color {
            out.push_str("\x1b[");
            out.push_str(code);
            out.push('m');
            out.push_str(s);
            out.push_str("\x1b[0m");
        } else {
            out.push_str(s);
        }
    }

    /// Debug lines on stderr (`--debug`) as well as in dbt.log.
    pub fn with_debug(mut self, debug: bool) -> Printer {
        self.debug = debug;
        self
    }

    /// A debug line: in dbt.log, and on stderr under `--debug`, as dbt's debug level is.
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.emit("debug", msg, || None);
        } else if let Ok(mut f) = self.log_file.lock() {
            if let Some(f) = f.as_mut() {
                let now = chrono::Utc::now().with_timezone(&self.offset);
                let _ = writeln!(f, "{}  {}", now.format("%H:%M:%S%.3f"), strip_ansi(msg));
            }
        }
    }

    /// Runs `f`, then writes a debug line with how long `what` took.
    pub fn timed<T>(&self, what: &str, f: impl FnOnce() -> T) -> T {
        let start = std::time::Instant::now();
        let out = f();
        self.debug(&format!("{what}: {:.3}s", start.elapsed().as_secs_f64()));
        out
    }

    /// One informational line.
    pub fn info(&self, msg: &str) {
        self.emit("info", msg, || None);
    }

    /// A warning line.
    pub fn warn(&self, msg: &str) {
        self.emit("warn", msg, || None);
    }

    /// One line (each line of `msg` stamped with the time), to stderr and dbt.log; `data` is the
    /// JSON log's structured part, built only for that format.
    fn emit(&self, level: &str, msg: &str, data: impl FnOnce() -> Option<serde_json::Value>) {
        use chrono::Timelike;
        let now = chrono::Utc::now().with_timezone(&self.offset);
        // The line and its newline, written to stderr at once.
        let mut line = match self.format {
            LogFormat::Text => {
                let mut stamp = [0u8; 10];
                let stamp = time_stamp(&mut stamp, [now.hour(), now.minute(), now.second()]);
                let mut out = String::with_capacity(msg.len() + stamp.len() + 1);
                for (i, l) in msg.lines().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(stamp);
                    out.push_str(l);
                }
                if msg.is_empty() {
                    out.push_str(stamp);
                }
                out
            }
            LogFormat::Json => serde_json::json!({
                "info": {"ts": now.to_rfc3339(), "level": level, "msg": strip_ansi(msg)},
                "data": data().unwrap_or(serde_json::json!({})),
            })
            .to_string(),
        };
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
        if let Ok(mut f) = self.log_file.lock() {
            if let Some(f) = f.as_mut() {
                let _ = f.write_all(strip_ansi(&line).as_bytes());
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
        use std::fmt::Write as _;
        let mut out = String::with_capacity(WIDTH + 16 + msg.len());
        let _ = write!(out, "{index} of {total} {msg} ");
        let dots = WIDTH.saturating_sub(out.chars().count() + status.chars().count() + 3).max(1);
        out.extend(std::iter::repeat_n('.', dots));
        out.push(' ');
        self.paint_into(&mut out, status_color, &format!("[{status}]"));
        out
    }

    /// After an interrupted run: the nodes the interrupt stopped and those that never started.
    pub fn cancelled(&self, results: &RunResults, nodes: &std::collections::BTreeMap<String, Box<Node>>) {
        let label = |id: &str| nodes.get(id).map(|n| describe(n)).unwrap_or_else(|| id.to_string());
        self.info("");
        for r in results.results.iter().filter(|r| r.message.starts_with("Cancelled:")) {
            self.info(&self.paint("33", &format!("CANCEL {} (interrupted; rolled back)", label(&r.unique_id))));
        }
        for id in &results.not_started {
            self.info(&format!("CANCEL {} (not started)", label(id)));
        }
        self.info(&self.paint("33", "Exited because of keyboard interrupt (Ctrl-C)"));
    }

    /// `N of M START freshness of source.table`.
    pub fn freshness_started(&self, index: usize, total: usize, id: &str, name: &str) {
        let line = self.line(index, total, &format!("START freshness of {name}"), "RUN", "0");
        self.emit("info", &line, || {
            Some(serde_json::json!({"node": id, "status": "started", "index": index, "total": total}))
        });
    }

    /// `N of M PASS freshness of source.table` (WARN, ERROR STALE, ERROR), as dbt prints it.
    pub fn freshness_finished(
        &self,
        index: usize,
        total: usize,
        r: &crate::run::freshness::FreshnessResult,
        name: &str,
    ) {
        let secs = r.execution_time();
        let (label, color) = match r.status() {
            "pass" => ("PASS", "32"),
            "warn" => ("WARN", "33"),
            "error" => ("ERROR STALE", "31"),
            _ => ("ERROR", "31"),
        };
        let line =
            self.line(index, total, &format!("{label} freshness of {name}"), &format!("{label} in {secs:.2}s"), color);
        self.emit(if color == "31" { "error" } else { "info" }, &line, || {
            Some(serde_json::json!({"node": r.unique_id, "status": r.status(), "execution_time": secs}))
        });
    }

    /// The end of `source freshness`: what ran, then each stale or failed source, as dbt does.
    pub fn freshness_summary(
        &self,
        results: &[crate::run::freshness::FreshnessResult],
        hooks: usize,
        secs: f64,
        sources: &std::collections::BTreeMap<String, crate::parse::SourceNode>,
    ) {
        self.info("");
        let mut what = vec![];
        if hooks > 0 {
            what.push(format!("{hooks} project hook{}", if hooks == 1 { "" } else { "s" }));
        }
        what.push(format!("{} source{}", results.len(), if results.len() == 1 { "" } else { "s" }));
        let (h, m, s) = ((secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64, secs % 60.0);
        self.info(&format!(
            "Finished running {} in {h} hours {m} minutes and {s:.2} seconds ({secs:.2}s).",
            what.join(", ")
        ));
        for r in results {
            let Some(src) = sources.get(&r.unique_id) else { continue };
            let file = src.table.file.to_string_lossy().replace('\\', "/");
            match &r.outcome {
                crate::run::freshness::Outcome::Checked { status: "error", .. } => {
                    self.info("");
                    self.info(&self.paint("31", &format!("Failure in source {} ({file})", src.table.name)));
                    self.info("  Status: error");
                }
                crate::run::freshness::Outcome::RuntimeError(msg) => {
                    self.info("");
                    self.info(&indent(msg));
                }
                _ => {}
            }
        }
        self.info("Done.");
    }

    /// The closing summary: errors and test failures with their messages, then warnings, and
    /// the counts.
    pub fn summary(&self, results: &RunResults, what: &str, nodes: &std::collections::BTreeMap<String, Box<Node>>) {
        let ok = results.count(Status::Success) + results.count(Status::Pass);
        let err = results.count(Status::Error) + results.count(Status::Fail);
        let warn = results.count(Status::Warn);
        let skip = results.count(Status::Skipped);
        let noop = results.count(Status::NoOp);
        self.info("");
        let secs = results.elapsed;
        let (h, m, s) = ((secs / 3600.0) as u64, ((secs % 3600.0) / 60.0) as u64, secs % 60.0);
        self.info(&format!("Finished running {what} in {h} hours {m} minutes and {s:.2} seconds ({secs:.2}s)."));
        self.info("");
        let partial = results.count(Status::PartialSuccess);
        if err == 0 && warn == 0 && partial == 0 {
            self.info(&self.paint("32", "Completed successfully"));
        } else {
            self.info(&self.paint(
                if err + partial > 0 { "31" } else { "33" },
                &format!(
                    "Completed with {err} error{}, {partial} partial success{}, and {warn} warning{}:",
                    if err == 1 { "" } else { "s" },
                    if partial == 1 { "" } else { "es" },
                    if warn == 1 { "" } else { "s" }
                ),
            ));
        }
        let mut listed: Vec<&NodeResult> = results.results.iter().filter(|r| r.status.failed()).collect();
        listed.extend(results.results.iter().filter(|r| r.status == Status::Warn));
        for r in listed {
            self.info("");
            let Some(n) = nodes.get(&r.unique_id) else {
                self.info(&r.message);
                continue;
            };
            match (n.is_test(), r.status) {
                (true, Status::Fail) => {
                    self.info(&self.paint("31", &format!("Failure in {} ({})", test_label(n), n.original_file_path)));
                    self.info(&indent(&r.message));
                }
                (true, Status::Warn) => {
                    self.info(&self.paint("33", &format!("Warning in {} ({})", test_label(n), n.original_file_path)));
                    self.info(&indent(&r.message));
                }
                (true, _) => {
                    self.info(&self.paint("31", &format!("Error in {} ({})", test_label(n), n.original_file_path)));
                    self.info(&indent(&r.message));
                }
                (false, Status::PartialSuccess) => {
                    self.info(&self.paint(
                        "31",
                        &format!(
                            "Partial success in {} {} ({})",
                            n.resource_type.as_str(),
                            n.name,
                            n.original_file_path
                        ),
                    ));
                    self.info(&indent(&r.message));
                }
                _ => self.info(&r.message),
            }
            if n.resource_type == ResourceType::Test && matches!(r.status, Status::Fail | Status::Warn) {
                if let Some(rel) = &r.relation_name {
                    self.info("");
                    self.info(&format!("  See test failures:\n    select * from {rel}"));
                }
            }
        }
        self.info("");
        let partial = if partial > 0 { format!(" PARTIAL-SUCCESS={partial}") } else { String::new() };
        self.info(&format!(
            "Done. PASS={ok} WARN={warn} ERROR={err}{partial} SKIP={skip} NO-OP={noop} TOTAL={}",
            results.results.len()
        ));
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

fn test_label(n: &Node) -> String {
    match n.resource_type {
        ResourceType::UnitTest => format!("unit_test {}", unit_label(n)),
        _ => format!("test {}", n.name),
    }
}

/// `model::test`, as dbt names unit tests in progress lines.
fn unit_label(n: &Node) -> String {
    let model = n.fqn.iter().rev().nth(1).cloned().unwrap_or_default();
    format!("{model}::{}", n.name)
}

/// `HH:MM:SS  ` from the hour, minute and second, in `buf`.
fn time_stamp(buf: &mut [u8; 10], hms: [u32; 3]) -> &str {
    for (i, v) in hms.into_iter().enumerate() {
        buf[i * 3] = b'0' + (v / 10 % 10) as u8;
        buf[i * 3 + 1] = b'0' + (v % 10) as u8;
        buf[i * 3 + 2] = if i < 2 { b':' } else { b' ' };
    }
    buf[9] = b' ';
    std::str::from_utf8(buf).unwrap_or_default()
}

fn strip_ansi(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\x1b') {
        return std::borrow::Cow::Borrowed(s);
    }
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
    std::borrow::Cow::Owned(out)
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
            ResourceType::Snapshot => "snapshot".to_string(),
            ResourceType::Test => "data test".to_string(),
            ResourceType::UnitTest => "unit test".to_string(),
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
        ResourceType::Snapshot => format!("snapshot {}", short_relation(node)),
        ResourceType::Test | ResourceType::UnitTest => test_label(node),
        _ => format!("{} {} model {}", node.language.as_str(), node.materialized(), short_relation(node)),
    }
}

/// `schema.identifier`, as dbt prints it.
pub fn short_relation(node: &Node) -> String {
    format!("{}.{}", node.relation.schema.as_deref().unwrap_or(""), node.relation.identifier.as_deref().unwrap_or(""))
}

impl Reporter for Printer {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { index, total, node } => self.started(index, total, node),
            Event::Finished { index, total, node, result } | Event::Skipped { index, total, node, result } => {
                self.finished(index, total, node, result)
            }
        }
    }
}

impl Printer {
    fn started(&self, index: usize, total: usize, node: &Node) {
        let msg = format!("START {}", describe(node));
        let line = self.line(index, total, &msg, "RUN", "0");
        self.emit("info", &line, || {
            Some(serde_json::json!({"node": node.unique_id, "status": "started", "index": index, "total": total}))
        });
    }

    fn finished(&self, index: usize, total: usize, node: &Node, r: &NodeResult) {
        let name = match node.resource_type {
            ResourceType::UnitTest => unit_label(node),
            _ => node.name.clone(),
        };
        let secs = r.execution_time;
        let n = r.failures.unwrap_or(0);
        let (msg, status, color) = match r.status {
            Status::Success => {
                let verb = match node.resource_type {
                    ResourceType::Seed => "OK loaded".to_string(),
                    ResourceType::Snapshot => "OK snapshotted".to_string(),
                    _ => "OK created".to_string(),
                };
                let what = match node.resource_type {
                    ResourceType::Snapshot => short_relation(node),
                    _ => describe(node),
                };
                (format!("{verb} {what}"), format!("{} in {secs:.2}s", r.message), "32")
            }
            Status::Pass => (format!("PASS {name}"), format!("PASS in {secs:.2}s"), "32"),
            Status::Warn => (format!("WARN {n} {name}"), format!("WARN {n} in {secs:.2}s"), "33"),
            Status::Fail => (format!("FAIL {n} {name}"), format!("FAIL {n} in {secs:.2}s"), "31"),
            Status::Error if node.is_test() => (format!("ERROR {name}"), format!("ERROR in {secs:.2}s"), "31"),
            Status::Error => (format!("ERROR creating {}", describe(node)), format!("ERROR in {secs:.2}s"), "31"),
            Status::Skipped if node.is_test() => (format!("SKIP {}", test_label(node)), "SKIP".to_string(), "33"),
            Status::Skipped => (format!("SKIP relation {}", short_relation(node)), "SKIP".to_string(), "33"),
            Status::NoOp if node.is_test() => {
                (format!("SKIP unchanged {}", test_label(node)), "NO-OP".to_string(), "36")
            }
            Status::NoOp => (format!("SKIP unchanged {}", describe(node)), "NO-OP".to_string(), "36"),
            Status::PartialSuccess => (
                format!("PARTIAL SUCCESS creating {}", describe(node)),
                format!("{} in {secs:.2}s", r.message.lines().next().unwrap_or_default()),
                "33",
            ),
        };
        let line = self.line(index, total, &msg, &status, color);
        self.emit(
            if r.status.failed() { "error" } else { "info" },
            &line,
            || Some(serde_json::json!({"node": node.unique_id, "status": r.status, "message": r.message, "execution_time": r.execution_time, "failures": r.failures})),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_keep_dbts_shape() {
        let mut buf = [0u8; 10];
        assert_eq!(time_stamp(&mut buf, [9, 5, 7]), "09:05:07  ");
        assert_eq!(time_stamp(&mut buf, [23, 59, 0]), "23:59:00  ");
        let p = Printer::new(false, LogFormat::Text, None);
        let line = p.line(3, 12, "START sql view model main.orders", "RUN", "0");
        assert_eq!(line, format!("3 of 12 START sql view model main.orders {} [RUN]", ".".repeat(WIDTH - 47)));
        assert_eq!(line.chars().count(), WIDTH);
        // The dots never vanish, however long the name.
        let long = p.line(1, 1, &"x".repeat(90), "OK in 0.01s", "32");
        assert!(long.ends_with(" . [OK in 0.01s]"), "{long}");
        let colored = Printer { color: true, ..Printer::new(false, LogFormat::Text, None) };
        assert!(colored.line(1, 2, "PASS t", "PASS", "32").ends_with(" \x1b[32m[PASS]\x1b[0m"));
        assert_eq!(strip_ansi("\x1b[32m[PASS]\x1b[0m done"), "[PASS] done");
        assert!(matches!(strip_ansi("plain"), std::borrow::Cow::Borrowed("plain")));
    }
}
