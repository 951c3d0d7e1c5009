//! A small scanner over Jinja tag syntax that finds the top-level blocks dbt files are made of:
//! `{% macro %}`, `{% test %}`, `{% materialization %}`, `{% docs %}`, `{% snapshot %}`. It skips
//! comments and `{% raw %}` sections and keeps byte offsets, so each block can be compiled on its
//! own with its original line numbers.

/// One `{% kind name(args) %} ... {% endkind %}` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `macro`, `test`, `materialization`, `docs` or `snapshot`.
    pub kind: String,
    /// Everything after the tag name in the opening tag, trimmed.
    pub header: String,
    /// Byte offset of the opening `{%`.
    pub start: usize,
    /// Byte offset just after the opening tag's `%}`.
    pub body_start: usize,
    /// Byte offset of the closing tag's `{%`.
    pub body_end: usize,
    /// Byte offset just after the closing tag's `%}`.
    pub end: usize,
}

impl Block {
    /// The block's name: the header up to `(` or whitespace or `,`.
    pub fn name(&self) -> &str {
        let h = self.header.as_str();
        let end = h.find(|c: char| c == '(' || c == ',' || c.is_whitespace()).unwrap_or(h.len());
        &h[..end]
    }
    /// The argument list text inside the header's parentheses (without them), if any.
    pub fn args(&self) -> &str {
        let h = self.header.as_str();
        match (h.find('('), h.rfind(')')) {
            (Some(a), Some(b)) if b > a => &h[a + 1..b],
            _ => "",
        }
    }
}

/// The names in a macro's argument list (`a, b=[1, 2], c='x,y'` → a, b, c).
pub fn arg_names(args: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in args.chars().chain([',']) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                let name = cur.split('=').next().unwrap_or("").trim().to_string();
                if !name.is_empty() {
                    out.push(name);
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        if depth == 0 && quote.is_none() || cur.contains('=') {
            cur.push(c);
        }
    }
    out
}

/// A tag found by [`tags`]: its name, the rest of its text, and its byte range.
#[derive(Debug, Clone)]
pub struct Tag {
    /// First word inside the tag.
    pub name: String,
    /// Text after the name.
    pub rest: String,
    /// Byte offset of `{%`.
    pub start: usize,
    /// Byte offset after `%}`.
    pub end: usize,
}

/// All `{% ... %}` tags of `src`, skipping `{# #}` comments and the inside of `{% raw %}`.
pub fn tags(src: &str) -> Vec<Tag> {
    let bytes = src.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    let mut in_raw = false;
    while i + 1 < bytes.len() {
        if bytes[i] == b'{' && bytes[i + 1] == b'#' && !in_raw {
            match src[i + 2..].find("#}") {
                Some(j) => i = i + 2 + j + 2,
                None => break,
            }
            continue;
        }
        if bytes[i] == b'{' && bytes[i + 1] == b'%' {
            let Some(j) = find_tag_end(&src[i + 2..]) else { break };
            let inner = &src[i + 2..i + 2 + j];
            let inner = inner.trim_start_matches(['-', '+']).trim_end_matches(['-', '+']).trim();
            let name_end = inner.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(inner.len());
            let name = &inner[..name_end];
            let end = i + 2 + j + 2;
            if in_raw {
                if name == "endraw" {
                    in_raw = false;
                }
            } else if name == "raw" {
                in_raw = true;
            } else {
                out.push(Tag { name: name.to_string(), rest: inner[name_end..].trim().to_string(), start: i, end });
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

/// Offset of the `%}` that closes a tag, skipping quoted strings.
fn find_tag_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c == b'\'' || c == b'"' {
                    quote = Some(c);
                } else if c == b'%' && i + 1 < b.len() && b[i + 1] == b'}' {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// Top-level blocks of the given kinds. An unclosed block is returned as `Err(start offset, kind)`.
pub fn blocks(src: &str, kinds: &[&str]) -> Result<Vec<Block>, (usize, String)> {
    let mut out = vec![];
    let mut open: Option<(Tag, usize)> = None; // (opening tag, nesting depth)
    for tag in tags(src) {
        match &mut open {
            None => {
                if kinds.contains(&tag.name.as_str()) {
                    open = Some((tag, 1));
                }
            }
            Some((start, depth)) => {
                if tag.name == start.name {
                    *depth += 1;
                } else if tag.name == format!("end{}", start.name) {
                    *depth -= 1;
                    if *depth == 0 {
                        out.push(Block {
                            kind: start.name.clone(),
                            header: start.rest.clone(),
                            start: start.start,
                            body_start: start.end,
                            body_end: tag.start,
                            end: tag.end,
                        });
                        open = None;
                    }
                }
            }
        }
    }
    match open {
        Some((t, _)) => Err((t.start, t.name)),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_and_skips_comments_and_raw() {
        let src = "{# {% macro no() %} #}\n{% macro a(x, y=1) %}{% if x %}{{ x }}{% endif %}{% endmacro %}\n{% raw %}{% macro b() %}{% endraw %}\n{%- test t(model, column_name) -%}select 1{%- endtest -%}";
        let b = blocks(src, &["macro", "test"]).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].kind.as_str(), b[0].name(), b[0].args()), ("macro", "a", "x, y=1"));
        assert_eq!(&src[b[0].body_start..b[0].body_end], "{% if x %}{{ x }}{% endif %}");
        assert_eq!((b[1].kind.as_str(), b[1].name()), ("test", "t"));
    }

    #[test]
    fn unclosed_block_is_reported() {
        assert_eq!(blocks("x\n{% macro a() %}oops", &["macro"]), Err((2, "macro".into())));
    }

    #[test]
    fn quoted_percent_brace_does_not_end_tag() {
        let t = tags("{% set x = '%}' %}after");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].end, 18);
    }
}
