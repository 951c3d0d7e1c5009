//! A memo of [`sql::analyze`] across runs, in `target/strata_analysis.bin`: what an unchanged
//! model's analysis was, so that a compile or build with nothing changed does not parse and
//! analyse every model again.
//!
//! An analysis is a function of the SQL, the dialect, and the catalog's answers: the relations
//! it looked up (their node, columns and whether those are all of them) and whether the catalog
//! is complete. An entry is kept under a digest of the dialect and the SQL, with each lookup it
//! made and a digest of the answer; it is reused only when the catalog gives the same answer to
//! every one of those lookups now. A model whose upstream gained a column, or whose source
//! appeared in the database, is analysed again.
//! In: `target/strata_analysis.bin` (anything unreadable, or written by another version of the
//! analyser, counts as empty). Out: the same file, written only when an entry was added or
//! dropped. It is postcard (serde's compact binary encoding): at 10,000 models the JSON it
//! replaced took a tenth of a second to read, on every compile.

use crate::sql::{self, Analysis, Catalog, Column, Flavor, Kind, Name, ParseFailure, Problem, Relation, Upstream};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// The file's name in the target directory.
pub const FILE: &str = "strata_analysis.bin";

/// What earlier versions wrote (as JSON): removed when the memo is written.
const OLD_FILE: &str = "strata_analysis.json";

/// Bumped when the file's layout or its digests change, or sqlparser is upgraded, so that an old
/// file is ignored.
const FORMAT: u32 = 3;

/// Which analyser wrote the file: strata's version and the analyser's own source, so that a
/// build with a changed analyser (between releases too) ignores what an older one found.
fn analyser_id() -> String {
    let mut h = Md5::new();
    h.update(format!("{FORMAT}\0{}\0", env!("CARGO_PKG_VERSION")));
    h.update(include_str!("../sql/mod.rs"));
    format!("{:x}", h.finalize())
}

/// A new analysis, before [`Memo::record`] interns it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// What `Catalog::complete` answered.
    complete: bool,
    /// Every lookup made, in order, with a digest of its answer.
    asked: Vec<(Vec<String>, u64)>,
    result: Result<Analysis, ParseFailure>,
}

/// An analysis, or why there is none.
pub type Analyzed = Result<Analysis, ParseFailure>;

/// What [`Memo::analyze`] did: reused an entry, or analysed and made one.
pub enum Outcome {
    /// The entry under this key was reused.
    Hit(u128),
    /// Analysed: the entry to remember under this key.
    Miss(u128, Box<Entry>),
}

/// Remembered analyses by key, as the file has them (strings once, in a table), and which of
/// them this run used.
#[derive(Debug, Default)]
pub struct Memo {
    strings: Interner,
    entries: HashMap<u128, Stored>,
    used: HashSet<u128>,
    added: bool,
}

/// An entry's key: the dialect and the SQL, by XXH3-128 (a cache key, not a secret: MD5 of
/// every model's SQL and every answer was about 35 ms of CPU in a compile with nothing changed
/// at 10,000 models, XXH3 is about 8).
fn key(sql: &str, flavor: Flavor) -> u128 {
    let mut h = Xxh3::new();
    h.update(format!("{flavor:?}\0").as_bytes());
    h.update(sql.as_bytes());
    h.digest128()
}

fn answer_digest(r: &Option<Relation>) -> u64 {
    let mut h = Xxh3::new();
    match r {
        None => h.update(b"none"),
        Some(r) => {
            h.update(r.node.as_bytes());
            h.update(&[0, u8::from(r.exhaustive)]);
            match &r.columns {
                None => h.update(b"unknown"),
                Some(cols) => {
                    for c in cols {
                        h.update(&[0]);
                        h.update(c.as_bytes());
                    }
                }
            }
        }
    }
    h.digest()
}

/// A catalog that writes down what it was asked and a digest of each answer.
struct Recorder<'a> {
    inner: &'a dyn Catalog,
    asked: RefCell<Vec<(Vec<String>, u64)>>,
}

impl Catalog for Recorder<'_> {
    fn lookup(&self, parts: &[String]) -> Option<Relation> {
        let r = self.inner.lookup(parts);
        self.asked.borrow_mut().push((parts.to_vec(), answer_digest(&r)));
        r
    }
    fn complete(&self) -> bool {
        self.inner.complete()
    }
}

impl Memo {
    /// The analysis of `sql`: a remembered one when the catalog answers its lookups as before,
    /// else a new one. The caller hands the outcome to [`Memo::record`].
    pub fn analyze(&self, sql: &str, flavor: Flavor, catalog: &dyn Catalog) -> (Analyzed, Outcome) {
        let k = key(sql, flavor);
        if let Some(e) = self.entries.get(&k) {
            if let Some(result) = self.reuse(e, catalog) {
                return (result, Outcome::Hit(k));
            }
        }
        let rec = Recorder { inner: catalog, asked: RefCell::new(vec![]) };
        let result = sql::analyze(sql, flavor, &rec);
        let entry = Entry { complete: catalog.complete(), asked: rec.asked.into_inner(), result: result.clone() };
        (result, Outcome::Miss(k, Box::new(entry)))
    }

    /// `e`'s analysis, when the catalog answers as it did (None also for a damaged entry).
    fn reuse(&self, e: &Stored, catalog: &dyn Catalog) -> Option<Result<Analysis, ParseFailure>> {
        if e.complete != catalog.complete() {
            return None;
        }
        for (parts, d) in &e.asked {
            let parts =
                parts.iter().map(|p| self.strings.get(*p).map(|s| s.to_string())).collect::<Option<Vec<_>>>()?;
            if answer_digest(&catalog.lookup(&parts)) != *d {
                return None;
            }
        }
        e.result.decode(&|i| self.strings.get(i))
    }

    /// Remember what one analysis did.
    pub fn record(&mut self, o: Outcome) {
        match o {
            Outcome::Hit(k) => {
                self.used.insert(k);
            }
            Outcome::Miss(k, e) => {
                let stored = Stored::encode(&e, &mut self.strings);
                self.entries.insert(k, stored);
                self.used.insert(k);
                self.added = true;
            }
        }
    }

    /// Read the memo from `target_dir`; a missing, unreadable or other-version file is empty.
    pub fn load(target_dir: &Path) -> Memo {
        let Ok(text) = std::fs::read(target_dir.join(FILE)) else { return Memo::default() };
        let Ok(f) = postcard::from_bytes::<FileOut>(&text) else { return Memo::default() };
        if f.analyser != analyser_id() {
            return Memo::default();
        }
        let mut entries = HashMap::with_capacity(f.entries.len());
        for (k, e) in f.entries {
            if !e.valid(f.strings.len() as u32) {
                return Memo::default();
            }
            entries.insert(k, e);
        }
        let strings = Interner::from_list(f.strings);
        Memo { strings, entries, ..Default::default() }
    }

    /// Write the memo to `target_dir` when this run added an entry or drops one: the entries this
    /// run used, and as many others (from earlier runs over other selections) as keep the total
    /// within `capacity`.
    pub fn save(mut self, target_dir: &Path, capacity: usize) -> std::io::Result<()> {
        let mut unused: Vec<u128> = self.entries.keys().filter(|k| !self.used.contains(k)).copied().collect();
        unused.sort_unstable();
        let room = capacity.saturating_sub(self.used.len());
        let dropped = unused.len() > room;
        if !self.added && !dropped {
            return Ok(());
        }
        for k in unused.iter().skip(room) {
            self.entries.remove(k);
        }
        // A fresh string table, holding only what the kept entries use.
        let mut keys: Vec<u128> = self.entries.keys().copied().collect();
        keys.sort_unstable();
        let mut strings = Interner::default();
        let old = &self.strings.list;
        let entries = keys
            .into_iter()
            .map(|k| (k, self.entries[&k].map_strings(&mut |i| strings.id(&old[i as usize]))))
            .collect();
        let f = FileOut { analyser: analyser_id(), strings: strings.list, entries };
        std::fs::create_dir_all(target_dir)?;
        let tmp = target_dir.join(format!("{FILE}.tmp"));
        let w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let mut w = postcard::to_io(&f, w).map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut w)?;
        drop(w);
        let _ = std::fs::remove_file(target_dir.join(OLD_FILE));
        std::fs::rename(tmp, target_dir.join(FILE))
    }
}

#[derive(Debug, Default)]
struct Interner {
    list: Vec<Name>,
    index: HashMap<Name, u32>,
}

impl Interner {
    fn from_list(list: Vec<Name>) -> Interner {
        let index = list.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Interner { list, index }
    }

    fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.list.len() as u32;
        let s = Name::from(s);
        self.list.push(s.clone());
        self.index.insert(s, i);
        i
    }

    /// The string, shared: every decoded analysis holds the table's one copy.
    fn get(&self, i: u32) -> Option<Name> {
        self.list.get(i as usize).cloned()
    }
}

const KINDS: [Kind; 6] = [Kind::Passthrough, Kind::Rename, Kind::Transform, Kind::Aggregate, Kind::Filter, Kind::Join];

/// The file: strings once in a table, entries by key with indices into it.
#[derive(Serialize, Deserialize)]
struct FileOut {
    analyser: String,
    strings: Vec<Name>,
    entries: Vec<(u128, Stored)>,
}

/// An entry with its strings as indices into the string table.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    complete: bool,
    asked: Vec<(Vec<u32>, u64)>,
    result: StoredResult,
}

#[derive(Debug, Serialize, Deserialize)]
enum StoredResult {
    /// Columns as (name, [(node, column, kind)]), whether complete, open relations, problems.
    Ok(Vec<StoredColumn>, bool, Vec<u32>, Vec<StoredProblem>),
    /// The parser's message, line and column.
    Err(String, usize, usize),
}

/// A column's name and its upstream (node, column, kind).
type StoredColumn = (u32, Vec<(u32, u32, u8)>);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredProblem(String, usize, usize, usize, Option<String>);

impl Stored {
    fn encode(e: &Entry, s: &mut Interner) -> Stored {
        let asked = e.asked.iter().map(|(parts, d)| (parts.iter().map(|p| s.id(p)).collect(), *d)).collect();
        let result = match &e.result {
            Ok(a) => StoredResult::Ok(
                a.columns
                    .iter()
                    .map(|c| {
                        let ups = c
                            .upstream
                            .iter()
                            .map(|u| {
                                let kind = KINDS.iter().position(|k| *k == u.kind).unwrap_or(0) as u8;
                                (s.id(&u.node), s.id(&u.column), kind)
                            })
                            .collect();
                        (s.id(&c.name), ups)
                    })
                    .collect(),
                a.complete,
                a.open.iter().map(|o| s.id(o)).collect(),
                a.problems
                    .iter()
                    .map(|p| StoredProblem(p.message.clone(), p.line, p.col, p.len, p.help.clone()))
                    .collect(),
            ),
            Err(f) => StoredResult::Err(f.message.clone(), f.line, f.col),
        };
        Stored { complete: e.complete, asked, result }
    }

    /// Whether every string index is below `n` (a damaged file may say otherwise).
    fn valid(&self, n: u32) -> bool {
        let ok = |i: &u32| *i < n;
        self.asked.iter().all(|(parts, _)| parts.iter().all(ok))
            && match &self.result {
                StoredResult::Ok(columns, _, open, _) => {
                    open.iter().all(ok)
                        && columns.iter().all(|(name, ups)| ok(name) && ups.iter().all(|(a, b, _)| ok(a) && ok(b)))
                }
                StoredResult::Err(..) => true,
            }
    }

    /// The same entry with every string index passed through `f`.
    fn map_strings(&self, f: &mut impl FnMut(u32) -> u32) -> Stored {
        let asked = self.asked.iter().map(|(parts, d)| (parts.iter().map(|p| f(*p)).collect(), *d)).collect();
        let result = match &self.result {
            StoredResult::Ok(columns, complete, open, problems) => StoredResult::Ok(
                columns
                    .iter()
                    .map(|(name, ups)| (f(*name), ups.iter().map(|(n, c, k)| (f(*n), f(*c), *k)).collect()))
                    .collect(),
                *complete,
                open.iter().map(|o| f(*o)).collect(),
                problems.clone(),
            ),
            StoredResult::Err(m, l, c) => StoredResult::Err(m.clone(), *l, *c),
        };
        Stored { complete: self.complete, asked, result }
    }
}

impl StoredResult {
    fn decode(&self, s: &dyn Fn(u32) -> Option<Name>) -> Option<Result<Analysis, ParseFailure>> {
        Some(match self {
            StoredResult::Ok(columns, complete, open, problems) => Ok(Analysis {
                columns: columns
                    .iter()
                    .map(|(name, ups)| {
                        let upstream = ups
                            .iter()
                            .map(|(n, c, k)| {
                                Some(Upstream { node: s(*n)?, column: s(*c)?, kind: *KINDS.get(*k as usize)? })
                            })
                            .collect::<Option<Vec<_>>>()?;
                        Some(Column { name: s(*name)?, upstream })
                    })
                    .collect::<Option<Vec<_>>>()?,
                complete: *complete,
                open: open.iter().map(|o| s(*o)).collect::<Option<Vec<_>>>()?,
                problems: problems
                    .iter()
                    .map(|p| Problem { message: p.0.clone(), line: p.1, col: p.2, len: p.3, help: p.4.clone() })
                    .collect(),
            }),
            StoredResult::Err(message, line, col) => {
                Err(ParseFailure { message: message.clone(), line: *line, col: *col })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One relation, `orders`, whose columns the test sets; `complete` as given.
    struct Cat {
        columns: Vec<&'static str>,
        complete: bool,
    }

    impl Catalog for Cat {
        fn lookup(&self, parts: &[String]) -> Option<Relation> {
            (parts.last()? == "orders").then(|| Relation {
                node: "model.p.orders".into(),
                columns: Some(self.columns.iter().map(|c| Name::from(*c)).collect()),
                exhaustive: true,
            })
        }
        fn complete(&self) -> bool {
            self.complete
        }
    }

    fn run(memo: &mut Memo, sql: &str, cat: &Cat) -> (Result<Analysis, ParseFailure>, bool) {
        let (r, o) = memo.analyze(sql, Flavor::DuckDb, cat);
        let hit = matches!(o, Outcome::Hit(_));
        memo.record(o);
        (r, hit)
    }

    fn names(r: &Result<Analysis, ParseFailure>) -> Vec<String> {
        r.as_ref().map(|a| a.columns.iter().map(|c| c.name.to_string()).collect()).unwrap_or_default()
    }

    #[test]
    fn reused_only_while_the_catalog_answers_the_same() {
        let sql = "select * from orders join missing using (id)";
        let two = Cat { columns: vec!["id", "amount"], complete: true };
        let mut memo = Memo::default();
        let (first, hit) = run(&mut memo, sql, &two);
        assert!(!hit);
        let (again, hit) = run(&mut memo, sql, &two);
        assert!(hit);
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        // An upstream column added: analysed again, with the new column.
        let three = Cat { columns: vec!["id", "amount", "status"], complete: true };
        let (r, hit) = run(&mut memo, sql, &three);
        assert!(!hit);
        assert_eq!(names(&r), ["id", "amount", "status"]);
        // The catalog no longer complete: `missing` is no longer a problem.
        let open = Cat { columns: vec!["id", "amount", "status"], complete: false };
        let (r, hit) = run(&mut memo, sql, &open);
        assert!(!hit);
        assert!(r.unwrap().problems.is_empty());
        // Other SQL: its own entry.
        let (_, hit) = run(&mut memo, "select id from orders", &open);
        assert!(!hit);
    }

    #[test]
    fn survives_the_file_and_prunes_to_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Cat { columns: vec!["id", "amount"], complete: true };
        let queries =
            ["select id, amount * 2 as a2 from orders where amount > 0", "select nope from orders", "selec 1"];
        let mut memo = Memo::default();
        let fresh: Vec<_> = queries.iter().map(|q| run(&mut memo, q, &cat).0).collect();
        memo.save(dir.path(), 10).unwrap();
        let mut memo = Memo::load(dir.path());
        for (q, before) in queries.iter().zip(&fresh) {
            let (r, hit) = run(&mut memo, q, &cat);
            assert!(hit, "{q}");
            assert_eq!(format!("{r:?}"), format!("{before:?}"));
        }
        // A run that used only the first, with room for two: one of the others goes.
        let mut memo = Memo::load(dir.path());
        assert!(run(&mut memo, queries[0], &cat).1);
        memo.save(dir.path(), 2).unwrap();
        let memo = Memo::load(dir.path());
        assert_eq!(memo.entries.len(), 2);
        assert!(memo.entries.contains_key(&key(queries[0], Flavor::DuckDb)));
        // Nothing added or dropped: the file is left as it is.
        let mut memo = Memo::load(dir.path());
        assert!(run(&mut memo, queries[0], &cat).1);
        std::fs::write(dir.path().join(FILE), b"{}").unwrap();
        memo.save(dir.path(), 2).unwrap();
        assert_eq!(std::fs::read(dir.path().join(FILE)).unwrap(), b"{}");
        // An unreadable file is an empty memo.
        assert!(Memo::load(dir.path()).entries.is_empty());
    }
}
