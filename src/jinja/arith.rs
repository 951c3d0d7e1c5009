//! Binary `+` and `-` for Python's dates. minijinja's operators have no hook for objects, so in
//! a template that uses dates (it names `timedelta`, `run_started_at` or `modules.datetime`)
//! every binary `+` / `-` is rewritten into a call: `a + b - c` becomes
//! `__strata_sub(__strata_add(a, b), c)`. The functions do date arithmetic and otherwise what
//! minijinja's operators do. Operands are found at the token level with Jinja's precedence:
//! `~` (tighter in Jinja2 than `+`), `*`, `/`, `%`, `**`, filters, attribute access, calls and
//! subscripts bind tighter; comparisons, `not`, `and`, `or`, `in`, `is`, `if`/`else`, commas,
//! colons and `=` end an operand. The rewrite only inserts text and turns each operator into a `,` (one character for
//! one), so positions map back to the file as `mutable::Rewritten` maps them.

use minijinja::machinery::{tokenize, Token, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;

/// Whether a template uses dates, so its `+` and `-` are rewritten.
pub fn needed(source: &str) -> bool {
    source.contains("timedelta") || source.contains("run_started_at") || source.contains("modules.datetime")
}

/// An insertion: (offset, text, order among insertions at one offset: 0 before the mutable
/// rewrite's own, 2 after).
pub type Insert = (usize, String, u8);

/// The rewrite of one template: text to insert, and the offsets of the operators that become
/// commas.
#[derive(Debug, Default)]
pub struct Edits {
    /// Insertions.
    pub inserts: Vec<Insert>,
    /// Offsets of `+` / `-` to replace with `,`.
    pub commas: Vec<usize>,
}

type Tok<'a> = (Token<'a>, usize, usize);

/// The edits for a template, or None when it has no binary `+` / `-` (or does not tokenize).
pub fn edits(source: &str) -> Option<Edits> {
    let mut out = Edits::default();
    let mut region: Vec<Tok> = vec![];
    let mut inside = false;
    for t in tokenize(source, false, SyntaxConfig, WhitespaceConfig::default()) {
        let (tok, span) = t.ok()?;
        match tok {
            Token::VariableStart | Token::BlockStart => {
                inside = true;
                region.clear();
            }
            Token::VariableEnd | Token::BlockEnd => {
                expression(&region, &mut out);
                inside = false;
            }
            tok if inside => region.push((tok, span.start_offset as usize, span.end_offset as usize)),
            _ => {}
        }
    }
    (!out.commas.is_empty()).then_some(out)
}

const BOUNDARY_WORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "else",
    "elif",
    "for",
    "set",
    "do",
    "call",
    "macro",
    "filter",
    "with",
    "import",
    "from",
    "as",
    "recursive",
    "return",
    "print",
    "include",
];

fn is_boundary(t: &Token) -> bool {
    match t {
        Token::Comma
        | Token::Colon
        | Token::Assign
        | Token::Eq
        | Token::Ne
        | Token::Lt
        | Token::Lte
        | Token::Gt
        | Token::Gte => true,
        Token::Ident(w) => BOUNDARY_WORDS.contains(w),
        _ => false,
    }
}

fn opens(t: &Token) -> bool {
    matches!(t, Token::ParenOpen | Token::BracketOpen | Token::BraceOpen)
}

fn closes(t: &Token) -> bool {
    matches!(t, Token::ParenClose | Token::BracketClose | Token::BraceClose)
}

/// Split a token run into operands at its top-level boundaries, and look inside brackets.
fn expression(toks: &[Tok], out: &mut Edits) {
    let mut depth = 0usize;
    let mut group = 0;
    let mut seg = 0;
    for (i, (t, _, _)) in toks.iter().enumerate() {
        if opens(t) {
            if depth == 0 {
                group = i + 1;
            }
            depth += 1;
        } else if closes(t) {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                expression(&toks[group..i], out);
            }
        } else if depth == 0 && is_boundary(t) {
            chain(&toks[seg..i], out);
            seg = i + 1;
        }
    }
    chain(&toks[seg..], out);
}

/// One operand run: its top-level binary `+` / `-` become nested calls.
fn chain(toks: &[Tok], out: &mut Edits) {
    let mut ops: Vec<usize> = vec![];
    let mut depth = 0usize;
    let mut after_operand = false;
    for (i, (t, _, _)) in toks.iter().enumerate() {
        if opens(t) {
            depth += 1;
            after_operand = false;
            continue;
        }
        if closes(t) {
            depth = depth.saturating_sub(1);
            after_operand = true;
            continue;
        }
        if depth > 0 {
            continue;
        }
        if matches!(t, Token::Plus | Token::Minus) && after_operand {
            ops.push(i);
            after_operand = false;
            continue;
        }
        after_operand = !matches!(
            t,
            Token::Plus
                | Token::Minus
                | Token::Mul
                | Token::Div
                | Token::FloorDiv
                | Token::Mod
                | Token::Pow
                | Token::Pipe
                | Token::Tilde
        );
    }
    if ops.is_empty() {
        return;
    }
    let name = |i: usize| if matches!(toks[i].0, Token::Plus) { "__strata_add(" } else { "__strata_sub(" };
    let opener: String = ops.iter().rev().map(|&i| name(i)).collect();
    out.inserts.push((toks[0].1, opener, 0));
    for (k, &op) in ops.iter().enumerate() {
        out.commas.push(toks[op].1);
        let end = match ops.get(k + 1) {
            Some(&next) => toks[next - 1].2,
            None => toks[toks.len() - 1].2,
        };
        out.inserts.push((end, ")".into(), 2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(src: &str) -> String {
        let Some(e) = edits(src) else { return src.to_string() };
        let mut bytes = src.as_bytes().to_vec();
        for c in &e.commas {
            bytes[*c] = b',';
        }
        let text = String::from_utf8(bytes).unwrap();
        let mut ins = e.inserts.clone();
        ins.sort_by_key(|(p, _, o)| (*p, *o));
        let mut out = String::new();
        let mut last = 0;
        for (p, s, _) in ins {
            out.push_str(&text[last..p]);
            out.push_str(&s);
            last = p;
        }
        out.push_str(&text[last..]);
        out
    }

    #[test]
    fn binary_operators_become_calls_with_jinjas_precedence() {
        assert_eq!(
            apply("{{ (run_started_at - modules.datetime.timedelta(days=n + 1)).strftime('%Y') }}"),
            "{{ (__strata_sub(run_started_at , modules.datetime.timedelta(days=__strata_add(n , 1)))).strftime('%Y') }}"
        );
        assert_eq!(apply("{{ a + b * c - d | int }}"), "{{ __strata_sub(__strata_add(a , b * c) , d | int) }}");
        assert_eq!(apply("{% if x - 1 > -2 and not y %}"), "{% if __strata_sub(x , 1) > -2 and not y %}");
        assert_eq!(apply("{% set t = run_started_at ~ '-' ~ 1 %}"), "{% set t = run_started_at ~ '-' ~ 1 %}");
        assert_eq!(apply("{{ 'a' + 1 ~ run_started_at }}"), "{{ __strata_add('a' , 1 ~ run_started_at) }}");
        assert_eq!(apply("{{ f(a, -b) }} run_started_at"), "{{ f(a, -b) }} run_started_at");
        assert_eq!(apply("select 1 - 2 {{ run_started_at }}"), "select 1 - 2 {{ run_started_at }}");
    }
}
