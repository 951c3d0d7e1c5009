//! User-facing reports. A [`Diagnostic`] carries a stable code, a severity, a message, an optional
//! location in a project file (with the source line captured at creation, so rendering is a pure
//! function), notes and a help line. [`render_text`] and [`render_json`] are the only renderers.

use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How serious a diagnostic is. Errors stop the command (exit 2); warnings are printed and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stops the command after all diagnostics are collected.
    Error,
    /// Reported, then the command goes on.
    Warning,
}

/// A location in a project file: 1-based line and column, and how many characters to underline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The file, relative to the project root when it is inside it.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
    /// Characters to underline (at least 1 when rendered).
    pub len: usize,
    /// The text of the line, captured when the span was made.
    pub source_line: Option<String>,
}

impl Span {
    /// A span at `line:col` in `file`, capturing the line from `source` when given.
    pub fn new(file: impl Into<PathBuf>, source: Option<&str>, line: usize, col: usize, len: usize) -> Span {
        let source_line = source.and_then(|s| s.lines().nth(line.saturating_sub(1)).map(str::to_string));
        Span { file: file.into(), line: line.max(1), col: col.max(1), len, source_line }
    }

    /// A span covering the byte range `start..end` of `source`.
    pub fn from_offsets(file: impl Into<PathBuf>, source: &str, start: usize, end: usize) -> Span {
        let start = floor_char_boundary(source, start.min(source.len()));
        let end = floor_char_boundary(source, end.min(source.len()).max(start));
        let before = &source[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = source[line_start..start].chars().count() + 1;
        let line_end = source[start..].find('\n').map(|i| start + i).unwrap_or(source.len());
        let len = source[start..end.min(line_end)].chars().count();
        Span::new(file, Some(source), line, col, len)
    }

    /// A span pointing at the whole file (no line).
    pub fn file_only(file: impl Into<PathBuf>) -> Span {
        Span { file: file.into(), line: 0, col: 0, len: 0, source_line: None }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One report to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code, e.g. `E0101`; see README's table of codes.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub message: String,
    /// Where, when known (boxed to keep `Result<_, Diagnostic>` small).
    pub span: Option<Box<Span>>,
    /// Extra facts (e.g. each step of a cycle).
    pub notes: Vec<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A new error.
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, severity: Severity::Error, message: message.into(), span: None, notes: vec![], help: None }
    }
    /// A new warning.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }
    /// Attach a location.
    pub fn with_span(mut self, span: Span) -> Diagnostic {
        self.span = Some(Box::new(span));
        self
    }
    /// Attach a location when there is one.
    pub fn with_opt_span(mut self, span: Option<Span>) -> Diagnostic {
        self.span = span.map(Box::new);
        self
    }
    /// Attach a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    /// Attach a help line when there is one.
    pub fn with_opt_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }
    /// Add a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest names to `word` among `candidates`, best first (difflib's ratio, cutoff 0.6).
pub fn close_matches<'a, I>(word: &str, candidates: I) -> Vec<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&str> = candidates.into_iter().collect();
    similar::get_close_matches(word, &candidates, 3, 0.6).into_iter().map(str::to_string).collect()
}

/// `did you mean 'x'?` when something is close, else `None`.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    close_matches(word, candidates).first().map(|m| format!("did you mean '{m}'?"))
}

/// Colours for the text renderer; all empty when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether to emit ANSI escapes.
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Render diagnostics as text, ruff-style. Pure: same input, same output.
pub fn render_text(diags: &[Diagnostic], style: Style) -> String {
    let mut out = String::new();
    for d in diags {
        let (label, color) = match d.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let _ =
            writeln!(out, "{}: {}", style.paint(color, &format!("{label}[{}]", d.code)), style.paint("1", &d.message));
        let mut gutter = 1;
        if let Some(span) = &d.span {
            let file = span.file.display().to_string().replace('\\', "/");
            if span.line == 0 {
                let _ = writeln!(out, " --> {file}");
            } else {
                let line_no = span.line.to_string();
                gutter = line_no.len();
                let pad = " ".repeat(gutter);
                let _ = writeln!(out, "{pad}--> {file}:{}:{}", span.line, span.col);
                if let Some(src) = &span.source_line {
                    let src = src.replace('\t', " ");
                    let _ = writeln!(out, "{pad} |");
                    let _ = writeln!(out, "{line_no} | {src}");
                    let caret = "^".repeat(span.len.max(1));
                    let _ = writeln!(out, "{pad} | {}{}", " ".repeat(span.col - 1), style.paint(color, &caret));
                }
            }
        }
        let pad = " ".repeat(gutter);
        for note in &d.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "{pad} = {}: {help}", style.paint("1;36", "help"));
        }
        out.push('\n');
    }
    out
}

/// Render diagnostics as JSON lines (one object per diagnostic).
pub fn render_json(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&serde_json::to_string(d).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Make `path` relative to `root` for display when it lies inside it.
pub fn rel_path(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

/// A bag of diagnostics collected during one phase.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    /// Everything collected so far, in the order found.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Add one.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    /// Add many.
    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(ds);
    }
    /// Whether any error was collected.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }
    /// Sort by file, line, column, then code, so output is deterministic whatever the thread order.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            let ka = a.span.as_ref().map(|s| (s.file.clone(), s.line, s.col));
            let kb = b.span.as_ref().map(|s| (s.file.clone(), s.line, s.col));
            ka.cmp(&kb).then(a.code.cmp(b.code)).then(a.message.cmp(&b.message))
        });
        self.items.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let src = "select *\nfrom {{ ref('stg_ordrs') }}\n";
        let start = src.find("ref(").unwrap();
        let d = Diagnostic::error("E0201", "unknown ref 'stg_ordrs'")
            .with_span(Span::from_offsets("models/orders.sql", src, start, start + 17))
            .with_help("did you mean 'stg_orders'?");
        let text = render_text(&[d], Style { color: false });
        assert_eq!(
            text,
            "error[E0201]: unknown ref 'stg_ordrs'\n --> models/orders.sql:2:9\n  |\n2 | from {{ ref('stg_ordrs') }}\n  |         ^^^^^^^^^^^^^^^^^\n  = help: did you mean 'stg_orders'?\n\n"
        );
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("materialzed", ["materialized", "schema"]).as_deref(),
            Some("did you mean 'materialized'?")
        );
        assert_eq!(did_you_mean("zzz", ["materialized"]), None);
    }

    #[test]
    fn span_from_offsets_counts_chars() {
        let s = Span::from_offsets("f", "ab\ncdé fg", 8, 10);
        assert_eq!((s.line, s.col, s.len), (2, 5, 2));
    }
}
