//! Python's mutable lists and dicts for Jinja, which dbt packages rely on
//! (`{% do cols.append(c) %}`, `{% do d.update({...}) %}`). minijinja's own lists and maps are
//! immutable, so list and dict literals in a template are rewritten to go through `__l(...)` and
//! `__d(...)`, which return objects with interior mutability. The rewrite only inserts text, and
//! [`Rewritten::original_offset`] maps an error position back to the file as written.

use minijinja::machinery::{tokenize, Token, WhitespaceConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use std::sync::{Arc, Mutex, MutexGuard};

/// A template source with its list and dict literals wrapped.
#[derive(Debug, Clone, Default)]
pub struct Rewritten {
    /// The text minijinja compiles.
    pub text: String,
    /// Insertions as (offset in the original, inserted length), in order.
    pub inserts: Vec<(usize, usize)>,
}

impl Rewritten {
    /// The original offset of an offset in the rewritten text.
    pub fn original_offset(&self, r: usize) -> usize {
        let mut shift = 0;
        for &(pos, len) in &self.inserts {
            let at = pos + shift;
            if r >= at + len {
                shift += len;
            } else if r >= at {
                return pos;
            } else {
                break;
            }
        }
        r - shift
    }
}

/// Whether a template may hold a list or dict literal worth rewriting (cheap pre-check).
fn may_have_literals(source: &str) -> bool {
    if source.contains('[') {
        return true;
    }
    let b = source.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        let after_delim = i > 0 && matches!(b[i - 1], b'{' | b'$');
        c == b'{' && !matches!(b.get(i + 1), Some(b'{' | b'%' | b'#')) && !after_delim
    })
}

const KEYWORDS: &[&str] = &["in", "and", "or", "not", "if", "else", "elif", "is", "return"];

/// Wrap every list literal in `__l(...)` and every dict literal in `__d(...)`. Returns `None` when
/// there is nothing to wrap (or the template does not tokenize; minijinja reports that).
pub fn rewrite(source: &str) -> Option<Rewritten> {
    // Binary `+` / `-` in templates that use dates become calls (see `arith`).
    let arith = if super::arith::needed(source) { super::arith::edits(source) } else { None };
    if !may_have_literals(source) && arith.is_none() {
        return None;
    }
    let mut inserts: Vec<(usize, std::borrow::Cow<'static, str>, u8)> = vec![];
    // Open brackets: (is a literal, kind) where kind is b'[' or b'{' or b'('.
    let mut stack: Vec<(bool, u8)> = vec![];
    let mut prev: Option<Token> = None;
    for tok in tokenize(source, false, SyntaxConfig, WhitespaceConfig::default()) {
        let (tok, span) = tok.ok()?;
        let start = span.start_offset as usize;
        let end = span.end_offset as usize;
        match &tok {
            Token::BracketOpen => {
                let subscript = matches!(
                    prev,
                    Some(
                        Token::Str(_)
                            | Token::String(_)
                            | Token::Int(_)
                            | Token::Int128(_)
                            | Token::Float(_)
                            | Token::ParenClose
                            | Token::BracketClose
                            | Token::BraceClose
                    )
                ) || matches!(prev, Some(Token::Ident(i)) if !KEYWORDS.contains(&i));
                if !subscript {
                    inserts.push((start, "__l(".into(), 1));
                }
                stack.push((!subscript, b'['));
            }
            Token::BraceOpen => {
                inserts.push((start, "__d(".into(), 1));
                stack.push((true, b'{'));
            }
            Token::ParenOpen => stack.push((false, b'(')),
            Token::BracketClose | Token::BraceClose | Token::ParenClose => {
                if let Some((true, _)) = stack.pop() {
                    inserts.push((end, ")".into(), 1));
                }
            }
            Token::VariableEnd | Token::BlockEnd => stack.clear(),
            _ => {}
        }
        prev = Some(tok);
    }
    let mut source = std::borrow::Cow::Borrowed(source);
    if let Some(a) = arith {
        // Each operator becomes a comma: one ASCII character for another, offsets unchanged.
        let mut bytes = source.as_bytes().to_vec();
        for c in a.commas {
            bytes[c] = b',';
        }
        source = std::borrow::Cow::Owned(String::from_utf8(bytes).ok()?);
        inserts.extend(a.inserts.into_iter().map(|(p, s, o)| (p, s.into(), o)));
    }
    if inserts.is_empty() {
        return None;
    }
    // At one offset: an operator call opens before a literal's wrapper, and closes after it.
    inserts.sort_by_key(|(p, _, o)| (*p, *o));
    let mut text = String::with_capacity(source.len() + inserts.len() * 4);
    let mut last = 0;
    for (pos, s, _) in &inserts {
        text.push_str(&source[last..*pos]);
        text.push_str(s);
        last = *pos;
    }
    text.push_str(&source[last..]);
    Some(Rewritten { text, inserts: inserts.iter().map(|(p, s, _)| (*p, s.len())).collect() })
}

/// A Python list: indexable, iterable, and mutated in place by its methods.
#[derive(Debug, Default)]
pub struct MutList(Mutex<Vec<Value>>);

impl MutList {
    fn items(&self) -> MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// A new mutable list holding `items`.
    pub fn value(items: Vec<Value>) -> Value {
        Value::from_object(MutList(Mutex::new(items)))
    }
}

fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

impl Object for MutList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.items();
        let i = index(key.as_i64()?, items.len())?;
        Some(items[i].clone())
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items().clone())
    }
    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.items().len())
    }
    fn is_true(self: &Arc<Self>) -> bool {
        !self.items().is_empty()
    }
    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let mut items = self.items();
        let none = Value::from(());
        match (method, args) {
            ("append", [v]) => items.push(v.clone()),
            ("extend", [v]) => items.extend(v.try_iter()?),
            ("insert", [i, v]) => {
                let len = items.len() as i64;
                let i = i.as_i64().ok_or_else(|| invalid("list.insert() needs an integer index"))?;
                let at = if i < 0 { (len + i).max(0) } else { i.min(len) } as usize;
                items.insert(at, v.clone());
            }
            ("pop", []) => return items.pop().ok_or_else(|| invalid("pop from empty list")),
            ("pop", [i]) => {
                let len = items.len();
                let at = i.as_i64().and_then(|i| index(i, len)).ok_or_else(|| invalid("pop index out of range"))?;
                return Ok(items.remove(at));
            }
            ("remove", [v]) => {
                let at = items.iter().position(|x| x == v).ok_or_else(|| invalid("list.remove(x): x not in list"))?;
                items.remove(at);
            }
            ("clear", []) => items.clear(),
            ("reverse", []) => items.reverse(),
            ("sort", []) => items.sort(),
            ("index", [v]) => {
                return items
                    .iter()
                    .position(|x| x == v)
                    .map(Value::from)
                    .ok_or_else(|| invalid(format!("{v} is not in list")))
            }
            ("count", [v]) => return Ok(Value::from(items.iter().filter(|x| *x == v).count())),
            ("copy", []) => return Ok(MutList::value(items.clone())),
            _ => {
                return Err(Error::new(ErrorKind::UnknownMethod, format!("list has no method named {method}")));
            }
        }
        Ok(none)
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Value::from(self.items().clone()))
    }
}

/// A Python dict: keeps insertion order, mutated in place by its methods.
#[derive(Debug, Default)]
pub struct MutMap(Mutex<Vec<(Value, Value)>>);

impl MutMap {
    fn entries(&self) -> MutexGuard<'_, Vec<(Value, Value)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// A new mutable dict.
    pub fn value(entries: Vec<(Value, Value)>) -> Value {
        Value::from_object(MutMap(Mutex::new(entries)))
    }
    fn set(entries: &mut Vec<(Value, Value)>, k: Value, v: Value) {
        match entries.iter_mut().find(|(x, _)| *x == k) {
            Some(slot) => slot.1 = v,
            None => entries.push((k, v)),
        }
    }
}

/// The (key, value) pairs of a mapping value.
fn pairs(v: &Value) -> Result<Vec<(Value, Value)>, Error> {
    if v.kind() != ValueKind::Map {
        return Err(invalid(format!("expected a mapping, got {}", v.kind())));
    }
    v.try_iter()?.map(|k| v.get_item(&k).map(|val| (k, val))).collect()
}

impl Object for MutMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries().iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.entries().iter().map(|(k, _)| k.clone()).collect())
    }
    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries().len())
    }
    fn is_true(self: &Arc<Self>) -> bool {
        !self.entries().is_empty()
    }
    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        let (pos, kw) = match args.last().and_then(crate::jinja::as_kwargs) {
            Some(k) => (&args[..args.len() - 1], Some(k)),
            None => (args, None),
        };
        let mut entries = self.entries();
        match (method, pos) {
            ("update", rest) if rest.len() <= 1 => {
                if let Some(other) = rest.first() {
                    for (k, v) in pairs(other)? {
                        MutMap::set(&mut entries, k, v);
                    }
                }
                if let Some(kw) = kw {
                    for k in kw.args() {
                        MutMap::set(&mut entries, Value::from(k), kw.peek::<Value>(k)?);
                    }
                }
                Ok(Value::from(()))
            }
            ("get", [k]) => Ok(entries.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_default()),
            ("get", [k, d]) => Ok(entries.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or(d.clone())),
            ("pop", [k, rest @ ..]) if rest.len() <= 1 => match entries.iter().position(|(x, _)| x == k) {
                Some(i) => Ok(entries.remove(i).1),
                None => rest.first().cloned().ok_or_else(|| invalid(format!("KeyError: {k}"))),
            },
            ("setdefault", [k, rest @ ..]) if rest.len() <= 1 => {
                if let Some((_, v)) = entries.iter().find(|(x, _)| x == k) {
                    return Ok(v.clone());
                }
                let v = rest.first().cloned().unwrap_or(Value::from(()));
                entries.push((k.clone(), v.clone()));
                Ok(v)
            }
            ("keys", []) => Ok(Value::from(entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())),
            ("values", []) => Ok(Value::from(entries.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>())),
            ("items", []) => Ok(Value::from(
                entries.iter().map(|(k, v)| Value::from(vec![k.clone(), v.clone()])).collect::<Vec<_>>(),
            )),
            ("clear", []) => {
                entries.clear();
                Ok(Value::from(()))
            }
            ("copy", []) => Ok(MutMap::value(entries.clone())),
            ("popitem", []) => entries
                .pop()
                .map(|(k, v)| Value::from(vec![k, v]))
                .ok_or_else(|| invalid("popitem(): dictionary is empty")),
            _ => Err(Error::new(ErrorKind::UnknownMethod, format!("dict has no method named {method}"))),
        }
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m: Vec<(Value, Value)> = self.entries().clone();
        write!(f, "{}", Value::from_iter(m))
    }
}

/// Register `__l` and `__d` for literals, and make the `list` filter and `dict()` return
/// mutable values too, as Python's do.
pub fn install(env: &mut Environment<'static>) {
    env.add_function("__l", |v: Value| -> Result<Value, Error> { Ok(MutList::value(v.try_iter()?.collect())) });
    env.add_function("__d", |v: Value| -> Result<Value, Error> { Ok(MutMap::value(pairs(&v)?)) });
    env.add_filter("list", |v: Value| -> Result<Value, Error> {
        match v.as_str() {
            Some(s) => Ok(MutList::value(s.chars().map(|c| Value::from(c.to_string())).collect())),
            None => Ok(MutList::value(v.try_iter()?.collect())),
        }
    });
    env.add_function("dict", |args: minijinja::value::Rest<Value>| -> Result<Value, Error> {
        let mut entries = vec![];
        for a in args.iter() {
            match crate::jinja::as_kwargs(a) {
                Some(kw) => {
                    for k in kw.args() {
                        MutMap::set(&mut entries, Value::from(k), kw.peek::<Value>(k)?);
                    }
                }
                None => {
                    for (k, v) in pairs(a)? {
                        MutMap::set(&mut entries, k, v);
                    }
                }
            }
        }
        Ok(MutMap::value(entries))
    });
}

/// Methods on minijinja's own (immutable) lists and maps that mutate in Python: they cannot work
/// in place, so say so plainly instead of "unknown method".
pub fn immutable_method_error(value: &Value, method: &str) -> Option<Error> {
    let mutating = match value.kind() {
        ValueKind::Seq => ["append", "extend", "insert", "pop", "remove", "clear", "reverse", "sort"].contains(&method),
        ValueKind::Map => ["update", "pop", "setdefault", "clear", "popitem"].contains(&method),
        _ => false,
    };
    mutating.then(|| {
        invalid(format!(
            "{method}() cannot change this {}: it was not created by a [...] or {{...}} literal in a template",
            if value.kind() == ValueKind::Seq { "list" } else { "mapping" }
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_literals_but_not_subscripts_and_maps_offsets_back() {
        let src = "{% set x = [1, [2]] %}{{ x[0] }}{{ y in ['a'] }}{{ {'k': [1]} }}{{ f(x)[1] }}";
        let r = rewrite(src).unwrap();
        assert_eq!(
            r.text,
            "{% set x = __l([1, __l([2])]) %}{{ x[0] }}{{ y in __l(['a']) }}{{ __d({'k': __l([1])}) }}{{ f(x)[1] }}"
        );
        let at = r.text.find("x[0]").unwrap();
        assert_eq!(r.original_offset(at), src.find("x[0]").unwrap());
        assert!(rewrite("select a[1] from t {{ ref('x') }}").is_none());
    }
}
