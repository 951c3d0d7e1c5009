//! YAML helpers shared by every file loader: parsing with located syntax errors, conversion of
//! values to JSON for configs, and a line-based locator that finds where a key path sits in the
//! source so that unknown keys and bad values can be reported with a caret.

use crate::diagnostics::{Diagnostic, Span};
use serde_yaml::Value as Yaml;
use std::path::Path;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into a YAML document, built while walking it, for locating diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YPath(pub Vec<Seg>);

impl YPath {
    /// The path extended by a key.
    pub fn key(&self, k: &str) -> YPath {
        let mut p = self.0.clone();
        p.push(Seg::Key(k.to_string()));
        YPath(p)
    }
    /// The path extended by an index.
    pub fn index(&self, i: usize) -> YPath {
        let mut p = self.0.clone();
        p.push(Seg::Index(i));
        YPath(p)
    }
}

/// A YAML file read from the project: its display path, its text and its parsed value.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    /// Path relative to the project root.
    pub path: std::path::PathBuf,
    /// The raw text (for property files, shared with the project's file list).
    pub source: std::sync::Arc<str>,
    /// The parsed document (Null for an empty file).
    pub value: Yaml,
}

impl YamlDoc {
    /// Parse `source`; a syntax error becomes a located diagnostic (code E0001).
    pub fn parse(path: &Path, source: impl Into<std::sync::Arc<str>>) -> Result<YamlDoc, Diagnostic> {
        let source = source.into();
        match parse_value(&source) {
            Ok(value) => Ok(YamlDoc { path: path.to_path_buf(), source, value }),
            Err(e) => {
                let (line, col, msg) =
                    yaml_error_location(&e.to_string(), e.location().map(|l| (l.line(), l.column())));
                let last = source.lines().count().max(1);
                let (line, col) = if line > last {
                    (last, source.lines().last().map(|l| l.chars().count() + 1).unwrap_or(1))
                } else {
                    (line, col)
                };
                Err(Diagnostic::error("E0001", format!("invalid YAML: {msg}"))
                    .with_span(Span::new(path, Some(&source), line, col, 1))
                    .with_help("check the indentation and quoting around this line"))
            }
        }
    }

    /// A span for the key at `path`, or the nearest parent found, or the file.
    pub fn span(&self, path: &YPath) -> Span {
        let mut segs = path.0.clone();
        // A key inside a flow mapping (`- {id: 1, name: x}`) is on its parent's line.
        if let (None, Some(Seg::Key(k))) = (locate(&self.source, &segs), segs.last()) {
            if let Some((line, col, _)) = locate(&self.source, &segs[..segs.len() - 1]) {
                let text = self.source.lines().nth(line - 1).unwrap_or_default();
                let start = text.char_indices().nth(col - 1).map(|(i, _)| i).unwrap_or(0);
                let mut from = start;
                while let Some(i) = text[from..].find(k.as_str()) {
                    let at = from + i;
                    let before_ok = at == 0 || !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
                    let after = text[at + k.len()..].trim_start();
                    if before_ok && after.starts_with(':') {
                        let c = text[..at].chars().count() + 1;
                        return Span::new(&self.path, Some(&self.source), line, c, k.chars().count());
                    }
                    from = at + k.len();
                }
            }
        }
        loop {
            if let Some((line, col, len)) = locate(&self.source, &segs) {
                return Span::new(&self.path, Some(&self.source), line, col, len);
            }
            if segs.pop().is_none() {
                return Span::file_only(&self.path);
            }
        }
    }
}

/// Text at least this long is parsed in parts on every core when it splits cleanly
/// ([`parse_in_parts`]): one large property file was otherwise a single thread's work while the
/// other cores waited (a 1.6 MB schema.yml: 120 ms).
const PARTS_FROM: usize = 256 * 1024;
/// The least text in one part (the last may be shorter).
const PART_LEN: usize = 64 * 1024;

/// `source`'s document, in parts on every core when it is large and splits cleanly, else whole.
fn parse_value(source: &str) -> Result<Yaml, serde_yaml::Error> {
    if source.len() >= PARTS_FROM {
        if let Some(v) = parse_in_parts(source, PART_LEN) {
            return Ok(v);
        }
    }
    serde_yaml::from_str(source)
}

/// One top-level key's text: its key line, and for a block sequence written under a bare `key:`
/// line, where each item starts (byte offsets into the document).
struct Section {
    start: usize,
    end: usize,
    /// The key line's end (its newline included).
    key_end: usize,
    /// Where each item starts, when the value is a block sequence split into parts.
    items: Vec<usize>,
}

/// A document that is a mapping of top-level keys written at column 1, parsed in parts: each
/// key's text on its own, and a key whose value is a block sequence under a bare `key:` line in
/// groups of items (of at least `part_len` bytes), each group parsed as `key:` and its items;
/// the parts' mappings and sequences then joined in order. What serde_yaml makes of the whole
/// text, for every text this accepts: the split is at lines that can only start a top-level
/// key or an item (a line less indented ends any block scalar; a quoted scalar or flow
/// collection cut in two does not parse), and every part must parse as one mapping of its one
/// key. None, and the text is parsed whole (with its errors located as ever), for anything
/// else: a byte-order mark, directives or several documents, tabs at a line's start, a top level
/// that is not such a mapping, a key written twice, a part that does not parse (an alias to an
/// anchor in another part does not).
fn parse_in_parts(source: &str, part_len: usize) -> Option<Yaml> {
    use rayon::prelude::*;
    if source.starts_with('\u{feff}') {
        return None;
    }
    let mut sections: Vec<Section> = vec![];
    // The current section's item indentation, once its first content line is read: None for a
    // value that is not a block sequence (its lines are not looked at).
    let mut item_indent: Option<Option<usize>> = None;
    let mut at = 0;
    for line in source.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let text = line.trim_end_matches(['\n', '\r']);
        if text.starts_with('\t') {
            return None;
        }
        let indent = text.len() - text.trim_start_matches(' ').len();
        let rest = &text[indent..];
        if rest.trim().is_empty() || rest.starts_with('#') {
            continue;
        }
        let dash = rest == "-" || rest.starts_with("- ");
        // (A block sequence's items may be written at column 1 too.)
        if indent == 0 && !(dash && matches!(item_indent, None | Some(Some(0)))) {
            // A top-level key (at column 1, not a sequence, not a directive or document marker).
            if dash || rest.starts_with("---") || rest.starts_with("...") || rest.starts_with('%') {
                return None;
            }
            if let Some(last) = sections.last_mut() {
                last.end = start;
            }
            // Only a bare `key:` line has its block sequence split.
            let bare = rest.trim_end().ends_with(':') && !rest.contains(['#', '&', '!', '*']);
            sections.push(Section { start, end: source.len(), key_end: at, items: vec![] });
            item_indent = if bare { None } else { Some(None) };
            continue;
        }
        let section = sections.last_mut()?;
        match item_indent {
            // The value's first line: a block sequence's first item, or something else.
            None => {
                item_indent = Some(dash.then_some(indent));
                if dash {
                    section.items.push(start);
                }
            }
            Some(Some(i)) if indent == i && dash => section.items.push(start),
            // Inside an item; anything less indented than the items is not this sequence.
            Some(Some(i)) if indent > i => {}
            Some(Some(_)) => return None,
            Some(None) => {}
        }
    }
    if sections.is_empty() {
        return None;
    }
    // Each part: (section, text).
    let mut parts: Vec<(usize, String)> = vec![];
    for (k, s) in sections.iter().enumerate() {
        if s.items.is_empty() {
            parts.push((k, source[s.start..s.end].to_string()));
            continue;
        }
        let key = &source[s.start..s.key_end];
        let mut from = s.key_end;
        for &item in &s.items[1..] {
            if item - from >= part_len {
                parts.push((k, format!("{key}{}", &source[from..item])));
                from = item;
            }
        }
        parts.push((k, format!("{key}{}", &source[from..s.end])));
    }
    let parsed: Vec<Option<(usize, Yaml, Yaml)>> = parts
        .into_par_iter()
        .map(|(k, text)| match serde_yaml::from_str::<Yaml>(&text).ok()? {
            Yaml::Mapping(m) if m.len() == 1 => m.into_iter().next().map(|(key, value)| (k, key, value)),
            _ => None,
        })
        .collect();
    let mut out = serde_yaml::Mapping::new();
    let mut last: Option<usize> = None;
    for p in parsed {
        let (k, key, value) = p?;
        if last == Some(k) {
            // The next group of the same sequence.
            match (out.get_mut(&key)?, value) {
                (Yaml::Sequence(all), Yaml::Sequence(more)) => all.extend(more),
                _ => return None,
            }
        } else {
            if out.contains_key(&key) || (!sections[k].items.is_empty() && !value.is_sequence()) {
                return None;
            }
            out.insert(key, value);
            last = Some(k);
        }
    }
    Some(Yaml::Mapping(out))
}

/// The span of a YAML path in a file under `root`.
pub fn span_at(root: &Path, file: &Path, yp: &YPath) -> Span {
    match std::fs::read_to_string(root.join(file)) {
        Ok(text) => YamlDoc { path: file.to_path_buf(), source: text.into(), value: serde_yaml::Value::Null }.span(yp),
        Err(_) => Span::file_only(file),
    }
}

/// The most useful location of a YAML error and its message without locations: libyaml says
/// "X at line 6 column 1, while scanning a quoted scalar at line 4 column 18"; the construct
/// that started the trouble (the last location) is where the user should look.
fn yaml_error_location(text: &str, fallback: Option<(usize, usize)>) -> (usize, usize, String) {
    let re = regex::Regex::new(r" at line (\d+) column (\d+)").expect("valid regex");
    let last = re.captures_iter(text).last().and_then(|c| Some((c[1].parse().ok()?, c[2].parse().ok()?)));
    let msg = re.replace_all(text, "").to_string();
    let (line, col) = last.or(fallback).unwrap_or((1, 1));
    (line, col, msg)
}

/// Find the 1-based (line, col, len) of the last key of `path` in block-style YAML.
pub fn locate(source: &str, path: &[Seg]) -> Option<(usize, usize, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut from = 0usize;
    let mut parent_indent: isize = -1;
    let mut found: Option<(usize, usize, usize)> = None;
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let mut hit = None;
                // The mapping's own keys are at the indent of its first key; deeper keys of the
                // same name belong to nested values.
                let mut child_indent = None;
                for (i, raw) in lines.iter().enumerate().skip(from) {
                    let (raw_indent, key_indent, content) = split_line(raw);
                    if content.is_empty() || content.starts_with('#') {
                        continue;
                    }
                    if i != from && raw_indent as isize <= parent_indent {
                        break;
                    }
                    if key_indent as isize <= parent_indent {
                        continue;
                    }
                    if *child_indent.get_or_insert(key_indent) != key_indent {
                        continue;
                    }
                    if let Some(len) = key_matches(content, k) {
                        hit = Some((i, key_indent, len));
                        break;
                    }
                }
                let (i, ind, len) = hit?;
                found = Some((i + 1, ind + 1, len));
                from = i + 1;
                parent_indent = ind as isize;
                // A value on the same line after `key:` (flow style) is not descended into.
            }
            Seg::Index(n) => {
                let mut count = 0usize;
                let mut dash_indent: Option<usize> = None;
                let mut hit = None;
                for (i, raw) in lines.iter().enumerate().skip(from) {
                    let trimmed = raw.trim_start();
                    if trimmed.is_empty() || trimmed.starts_with('#') {
                        continue;
                    }
                    let ind = raw.len() - trimmed.len();
                    if (ind as isize) < parent_indent || (ind as isize == parent_indent && !trimmed.starts_with('-')) {
                        break;
                    }
                    if trimmed == "-" || trimmed.starts_with("- ") {
                        match dash_indent {
                            None => dash_indent = Some(ind),
                            Some(d) if d == ind => {}
                            Some(d) if ind < d => break,
                            _ => continue,
                        }
                        if count == *n {
                            hit = Some((i, ind));
                            break;
                        }
                        count += 1;
                    }
                }
                let (i, ind) = hit?;
                found = Some((i + 1, ind + 1, 1));
                from = i;
                parent_indent = ind as isize;
            }
        }
    }
    found
}

/// (indent of the first non-space, indent of the content after any `- ` prefixes, content).
fn split_line(raw: &str) -> (usize, usize, &str) {
    let trimmed = raw.trim_start();
    let raw_indent = raw.len() - trimmed.len();
    let mut content = trimmed;
    let mut key_indent = raw_indent;
    while let Some(rest) = content.strip_prefix("- ") {
        let r = rest.trim_start();
        key_indent += content.len() - r.len();
        content = r;
    }
    (raw_indent, key_indent, content)
}

fn key_matches(content: &str, key: &str) -> Option<usize> {
    for (q, extra) in [("", 0), ("\"", 2), ("'", 2)] {
        let pat = format!("{q}{key}{q}");
        if let Some(rest) = content.strip_prefix(&pat) {
            if rest.trim_start().starts_with(':') {
                return Some(key.chars().count() + extra);
            }
        }
    }
    None
}

/// Convert a YAML value to JSON (keys become strings; non-string keys are formatted).
pub fn to_json(v: &Yaml) -> serde_json::Value {
    crate::jinja::yaml_to_json(v)
}

/// A mapping key as a string.
pub fn key_string(k: &Yaml) -> String {
    crate::jinja::yaml_key_string(k)
}

/// The string at `v`, if it is a scalar (numbers and booleans are formatted).
pub fn as_string(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of strings from a scalar or a sequence of scalars.
pub fn string_list(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::Sequence(s) => s.iter().filter_map(as_string).collect(),
        Yaml::Null => vec![],
        other => as_string(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn locates_nested_keys_in_sequences() {
        let src =
            "version: 2\nmodels:\n  - name: a\n    config:\n      materialized: view\n  - name: b\n    descripton: x\n";
        assert_eq!(locate(src, &[k("models")]), Some((2, 1, 6)));
        assert_eq!(locate(src, &[k("models"), Seg::Index(1), k("descripton")]), Some((7, 5, 10)));
        assert_eq!(locate(src, &[k("models"), Seg::Index(0), k("config"), k("materialized")]), Some((5, 7, 12)));
        assert_eq!(locate(src, &[k("models"), Seg::Index(1), k("name")]), Some((6, 5, 4)));
        assert_eq!(locate(src, &[k("models"), Seg::Index(0), k("descripton")]), None);
    }

    #[test]
    fn a_key_is_found_among_its_mappings_own_keys_not_deeper() {
        let src = "models:\n  - name: a\n    constraints:\n      - type: check\n        columns: [x]\n    columns:\n      - name: x\n";
        assert_eq!(locate(src, &[k("models"), Seg::Index(0), k("columns")]), Some((6, 5, 7)));
        assert_eq!(locate(src, &[k("models"), Seg::Index(0), k("columns"), Seg::Index(0), k("name")]), Some((7, 9, 4)));
    }

    /// What serde_yaml makes of the whole text.
    fn whole(text: &str) -> Yaml {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn a_document_parsed_in_parts_is_the_whole_document() {
        let texts = [
            // Items at column 3, a block scalar holding lines that look like items and keys, a
            // quoted scalar over two lines, comments anywhere, a second split sequence.
            "version: 2\n\nmodels:\n  # first\n  - name: a\n    description: |\n      - not an item\n      sources:\n    \
             columns:\n      - name: x\n        tests: [unique, not_null]\n  - name: b\n    description: \"two\n      \
             lines\"\n# between\n  - name: c\nsources:\n  - name: raw\n    tables:\n      - name: t\n",
            // Items at column 1, CRLF line ends, an anchor and its alias within one item.
            "models:\r\n- name: a\r\n  config: &c {materialized: table}\r\n  other: *c\r\n- name: b\r\n-\r\n  name: c\r\n",
            // A key with a value on its line is not split, nor is a nested mapping.
            "version: 2\nmodels: [{name: a}, {name: b}]\nvars:\n  x: 1\n  y:\n    - 2\n",
            // An empty sequence key, then one with items.
            "seeds:\nmodels:\n  - name: a\n  - name: b\n",
        ];
        for text in texts {
            assert_eq!(parse_in_parts(text, 1), Some(whole(text)), "{text}");
            assert_eq!(parse_in_parts(text, 1 << 20), Some(whole(text)), "{text}");
        }
    }

    #[test]
    fn a_document_that_does_not_split_cleanly_is_parsed_whole() {
        let texts = [
            // An alias to an anchor in another item.
            "models:\n  - name: a\n    config: &c {x: 1}\n  - name: b\n    config: *c\n",
            // A key written twice.
            "models:\n  - name: a\nmodels:\n  - name: b\n",
            // Several documents; a directive; a top-level sequence; a tab; a byte-order mark.
            "models:\n  - name: a\n---\nmodels:\n  - name: b\n",
            "%YAML 1.2\n---\nmodels:\n  - name: a\n",
            "- name: a\n- name: b\n",
            "models:\n\t- name: a\n",
            "\u{feff}models:\n  - name: a\n",
            // A line less indented than the items, inside the sequence's text.
            "models:\n    - name: a\n  - name: b\n",
        ];
        for text in texts {
            assert_eq!(parse_in_parts(text, 1), None, "{text}");
        }
        // A quoted scalar that goes on over a line that looks like an item: libyaml reads one
        // item; cut there, the first part does not parse, so the whole text is parsed.
        let quoted = "models:\n  - name: a\n    description: \"x\n  - y\"\n  - name: b\n";
        assert_eq!(parse_in_parts(quoted, 1), None);
        assert_eq!(whole(quoted)["models"].as_sequence().map(Vec::len), Some(2));
    }

    #[test]
    fn every_property_file_of_the_fixtures_parses_in_parts_as_whole() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut split = 0;
        for dir in ["tests/fixtures", "example_project"] {
            for e in walkdir::WalkDir::new(root.join(dir)).into_iter().filter_map(Result::ok) {
                let path = e.path();
                if !path.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                    continue;
                }
                let text = std::fs::read_to_string(path).unwrap();
                let Ok(expected) = serde_yaml::from_str::<Yaml>(&text) else { continue };
                if let Some(v) = parse_in_parts(&text, 1) {
                    assert_eq!(v, expected, "{}", path.display());
                    split += 1;
                }
            }
        }
        assert!(split > 50, "only {split} files split");
    }

    #[test]
    fn syntax_error_is_located() {
        let err = YamlDoc::parse(Path::new("m.yml"), "a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(err.code, "E0001");
        assert!(err.span.unwrap().line >= 1);
    }
}
