//! Python models at parse time: what a `def model(dbt, session)` file calls, read without running
//! Python, as dbt reads it from the file's syntax tree. `dbt.ref(...)`, `dbt.source(...)` and
//! `dbt.config(...)` take literal arguments (strings, numbers, booleans, None, lists, tuples and
//! dicts of them); anything else is a located diagnostic, as in dbt. Strings and comments are
//! skipped, so a `dbt.ref` inside either is not a call.
//! In: the file's text. Out: [`PyCalls`] or diagnostics.

use crate::diagnostics::{Diagnostic, Span};
use serde_json::{Map, Value as Json};

/// What a python model's `model()` asks of dbt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PyCalls {
    /// `dbt.ref()` calls as `(package, name)`.
    pub refs: Vec<(Option<String>, String)>,
    /// `dbt.source()` calls.
    pub sources: Vec<(String, String)>,
    /// `dbt.config()` keyword arguments, merged in order.
    pub config: Map<String, Json>,
}

/// A python model's materializations: dbt-duckdb builds python models as tables, incrementally,
/// or as external files.
pub const MATERIALIZATIONS: &[&str] = &["table", "incremental", "external"];

struct Scanner<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

/// A literal argument, or the offset where something else starts.
type Arg = (Option<String>, Result<Json, usize>);

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skip whitespace, line continuations and comments (newlines too: arguments may span lines).
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b'\\' => self.pos += 1,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// The end of the string literal starting at `start` (at its prefix or first quote), if one
    /// starts there.
    fn string_end(&self, start: usize) -> Option<usize> {
        let b = self.bytes;
        let mut i = start;
        while i < b.len() && i - start < 3 && matches!(b[i].to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f') {
            i += 1;
        }
        let q = *b.get(i)?;
        if q != b'\'' && q != b'"' {
            return None;
        }
        let raw = b[start..i].iter().any(|c| c.eq_ignore_ascii_case(&b'r'));
        let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
        let mut j = if triple { i + 3 } else { i + 1 };
        while j < b.len() {
            if b[j] == b'\\' && !raw {
                j += 2;
                continue;
            }
            if b[j] == b'\\' && raw {
                j += 2;
                continue;
            }
            if triple {
                if b[j] == q && b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) {
                    return Some(j + 3);
                }
            } else if b[j] == q {
                return Some(j + 1);
            } else if b[j] == b'\n' {
                return Some(j);
            }
            j += 1;
        }
        Some(b.len())
    }

    /// The value of a plain (not f-) string literal at the cursor.
    fn string_value(&mut self) -> Option<String> {
        let start = self.pos;
        let end = self.string_end(start)?;
        let text = &self.src[start..end];
        let prefix_len = text.find(['\'', '"'])?;
        let prefix = text[..prefix_len].to_ascii_lowercase();
        if prefix.contains('f') || prefix.contains('b') {
            return None;
        }
        let body = &text[prefix_len..];
        let q = &body[..1];
        let triple = body.len() >= 6 && body.starts_with(&q.repeat(3));
        let inner = if triple { &body[3..body.len() - 3] } else { body.get(1..body.len() - 1)? };
        self.pos = end;
        if prefix.contains('r') {
            return Some(inner.to_string());
        }
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('\n') => {}
                Some(other) => {
                    if !matches!(other, '\\' | '\'' | '"') {
                        out.push('\\');
                    }
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        Some(out)
    }

    fn ident(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.src[start..self.pos])
    }

    /// A literal at the cursor; Err(offset) where something that is not a literal starts.
    fn literal(&mut self) -> Result<Json, usize> {
        self.skip_ws();
        let start = self.pos;
        let Some(c) = self.peek() else { return Err(start) };
        if self.string_end(start).is_some() {
            let mut s = self.string_value().ok_or(start)?;
            // Adjacent literals concatenate.
            loop {
                self.skip_ws();
                if self.peek().is_some_and(|c| c == b'\'' || c == b'"') {
                    s.push_str(&self.string_value().ok_or(self.pos)?);
                } else {
                    break;
                }
            }
            return Ok(Json::String(s));
        }
        match c {
            b'[' | b'(' => {
                let close = if c == b'[' { b']' } else { b')' };
                self.pos += 1;
                let mut items = vec![];
                loop {
                    self.skip_ws();
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        return Ok(Json::Array(items));
                    }
                    items.push(self.literal()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(x) if x == close => {}
                        _ => return Err(self.pos),
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                let mut map = Map::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Json::Object(map));
                    }
                    let key_at = self.pos;
                    let key = match self.literal()? {
                        Json::String(s) => s,
                        _ => return Err(key_at),
                    };
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return Err(self.pos);
                    }
                    self.pos += 1;
                    let v = self.literal()?;
                    map.insert(key, v);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {}
                        _ => return Err(self.pos),
                    }
                }
            }
            b'-' | b'+' | b'0'..=b'9' | b'.' => {
                let s = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_') {
                    self.pos += 1;
                }
                let text = self.src[s..self.pos].replace('_', "");
                if let Ok(i) = text.parse::<i64>() {
                    return Ok(Json::from(i));
                }
                text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number).ok_or(s)
            }
            _ => match self.ident() {
                Some("True") => Ok(Json::Bool(true)),
                Some("False") => Ok(Json::Bool(false)),
                Some("None") => Ok(Json::Null),
                _ => Err(start),
            },
        }
    }

    /// The arguments of a call whose `(` was just consumed, up to its `)`.
    fn args(&mut self) -> Result<Vec<Arg>, usize> {
        let mut out = vec![];
        loop {
            self.skip_ws();
            if self.peek() == Some(b')') {
                self.pos += 1;
                return Ok(out);
            }
            // `name=` before a value?
            let save = self.pos;
            let mut name = None;
            if let Some(id) = self.ident() {
                self.skip_ws();
                if self.peek() == Some(b'=') && self.bytes.get(self.pos + 1) != Some(&b'=') {
                    self.pos += 1;
                    name = Some(id.to_string());
                } else {
                    self.pos = save;
                }
            }
            let value = self.literal();
            if value.is_err() {
                return Err(value.err().unwrap_or(save));
            }
            out.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {}
                _ => return Err(self.pos),
            }
        }
    }
}

fn located(file: &str, src: &str, at: usize, len: usize, code: &'static str, msg: String, help: &str) -> Diagnostic {
    let end = (at + len.max(1)).min(src.len());
    Diagnostic::error(code, msg).with_span(Span::from_offsets(file, src, at, end)).with_help(help)
}

/// Read a python model's dbt calls. `file` names it in diagnostics.
pub fn scan(file: &str, src: &str) -> Result<PyCalls, Vec<Diagnostic>> {
    let mut sc = Scanner { src, bytes: src.as_bytes(), pos: 0 };
    let mut calls = PyCalls::default();
    let mut diags = vec![];
    let mut has_model = false;
    let mut at_line_start = true;
    while sc.pos < sc.bytes.len() {
        let c = sc.bytes[sc.pos];
        if c == b'#' {
            while sc.peek().is_some_and(|c| c != b'\n') {
                sc.pos += 1;
            }
            continue;
        }
        if let Some(end) = sc.string_end(sc.pos).filter(|_| {
            // A prefix letter only starts a string when it is not inside an identifier.
            sc.pos == 0 || !(sc.bytes[sc.pos - 1].is_ascii_alphanumeric() || sc.bytes[sc.pos - 1] == b'_')
        }) {
            sc.pos = end;
            at_line_start = false;
            continue;
        }
        if c == b'\n' {
            at_line_start = true;
            sc.pos += 1;
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == b'_') {
            if !c.is_ascii_whitespace() {
                at_line_start = false;
            }
            sc.pos += 1;
            continue;
        }
        let start = sc.pos;
        let after_dot = start > 0 && sc.bytes[start - 1] == b'.';
        let word = sc.ident().unwrap_or_default();
        if word == "def" && at_line_start && !after_dot {
            sc.skip_ws();
            if sc.ident() == Some("model") {
                sc.skip_ws();
                if sc.peek() == Some(b'(') {
                    let close = src[sc.pos..].find(')').map(|i| sc.pos + i).unwrap_or(src.len());
                    let params: Vec<&str> =
                        src[sc.pos + 1..close].split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
                    if params.len() == 2 {
                        has_model = true;
                    } else {
                        diags.push(located(
                            file,
                            src,
                            start,
                            3,
                            "E0217",
                            format!(
                                "`model` must take exactly two arguments, (dbt, session); it takes {}",
                                params.len()
                            ),
                            "write `def model(dbt, session):`",
                        ));
                        has_model = true;
                    }
                }
            }
            at_line_start = false;
            continue;
        }
        at_line_start = false;
        if word != "dbt" || after_dot {
            continue;
        }
        let save = sc.pos;
        if sc.peek() != Some(b'.') {
            continue;
        }
        sc.pos += 1;
        let method = sc.ident().unwrap_or_default();
        if !matches!(method, "ref" | "source" | "config") || sc.peek() != Some(b'(') {
            sc.pos = save;
            continue;
        }
        sc.pos += 1;
        let call_len = sc.pos - start;
        let args = match sc.args() {
            Ok(a) => a,
            Err(at) => {
                diags.push(located(
                    file,
                    src,
                    at,
                    1,
                    "E0216",
                    format!("dbt.{method}() takes literal arguments in a python model"),
                    "dbt reads these calls without running the file: pass strings, numbers, booleans, lists or dicts",
                ));
                // Go on after the call's name; the rest of the file is still read.
                continue;
            }
        };
        let positional: Vec<&Json> =
            args.iter().filter(|(n, _)| n.is_none()).filter_map(|(_, v)| v.as_ref().ok()).collect();
        let strings: Option<Vec<String>> = positional.iter().map(|v| v.as_str().map(str::to_string)).collect();
        let bad = |diags: &mut Vec<Diagnostic>, msg: String, help: &str| {
            diags.push(located(file, src, start, call_len, "E0216", msg, help));
        };
        match method {
            "ref" => match strings.as_deref() {
                Some([name]) => calls.refs.push((None, name.clone())),
                Some([pkg, name]) => calls.refs.push((Some(pkg.clone()), name.clone())),
                _ => bad(
                    &mut diags,
                    "dbt.ref() takes a model name, or a package and a model name, as strings".into(),
                    "write dbt.ref('orders') or dbt.ref('package', 'orders')",
                ),
            },
            "source" => match strings.as_deref() {
                Some([s, t]) => calls.sources.push((s.clone(), t.clone())),
                _ => bad(
                    &mut diags,
                    "dbt.source() takes a source name and a table name, as strings".into(),
                    "write dbt.source('raw', 'orders')",
                ),
            },
            _ => {
                if !positional.is_empty() {
                    bad(
                        &mut diags,
                        "dbt.config() takes keyword arguments".into(),
                        "write dbt.config(materialized='table')",
                    );
                }
                for (name, v) in args {
                    if let (Some(n), Ok(v)) = (name, v) {
                        calls.config.insert(n, v);
                    }
                }
            }
        }
    }
    if !has_model {
        diags.push(
            Diagnostic::error("E0217", format!("python model {file} defines no `model(dbt, session)` function"))
                .with_span(Span::from_offsets(file, src, 0, src.find('\n').unwrap_or(src.len()).max(1)))
                .with_help(
                    "a python model is a file with `def model(dbt, session):` that returns a DataFrame or relation",
                ),
        );
    }
    if diags.is_empty() {
        Ok(calls)
    } else {
        Err(diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_calls_and_skips_strings_and_comments() {
        let src = r#"
import pandas as pd
# dbt.ref('commented')
DOC = """dbt.ref('in_docstring')"""

def model(dbt, session):
    dbt.config(materialized="incremental", unique_key=['id'], tags=("a", "b"), meta={'owner': 'x'}, n=-3, f=1.5, on=True)
    orders = dbt.ref("stg_orders").df()
    other = dbt.ref('pkg', "m")
    raw = dbt.source('raw',
                     'events')
    if dbt.is_incremental:
        pass
    return orders
"#;
        let c = scan("models/m.py", src).unwrap();
        assert_eq!(c.refs, vec![(None, "stg_orders".to_string()), (Some("pkg".to_string()), "m".to_string())]);
        assert_eq!(c.sources, vec![("raw".to_string(), "events".to_string())]);
        assert_eq!(
            Json::Object(c.config),
            serde_json::json!({"materialized": "incremental", "unique_key": ["id"], "tags": ["a", "b"],
                "meta": {"owner": "x"}, "n": -3, "f": 1.5, "on": true})
        );
    }

    #[test]
    fn non_literal_arguments_and_a_missing_model_are_located() {
        let src = "def model(dbt, session):\n    name = 'x'\n    return dbt.ref(name)\n";
        let d = scan("models/m.py", src).unwrap_err();
        assert_eq!(d[0].code, "E0216");
        let span = d[0].span.as_ref().unwrap();
        assert_eq!((span.line, span.col), (3, 20));
        let d = scan("models/m.py", "def transform(df):\n    return df\n").unwrap_err();
        assert_eq!(d[0].code, "E0217");
        let d = scan("models/m.py", "def model(dbt):\n    return 1\n").unwrap_err();
        assert!(d[0].message.contains("exactly two arguments"), "{}", d[0].message);
    }
}
