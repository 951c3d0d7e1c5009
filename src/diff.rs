//! `strata diff`: what changed against another build (`--state DIR`). For each new, modified or
//! removed node: a unified diff of its compiled SQL, how its output columns changed (a removed
//! column is breaking, and the readers of it are named) and the nodes downstream of it.
//! In: both builds' compiled SQL and columns, gathered by the command. Out: the report text.

use std::collections::BTreeMap;
use std::fmt::Write;

/// How a node differs from the state's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Not in the state.
    New,
    /// In both, and different; the reasons (`body`, `configs`, ..., `compiled SQL`).
    Modified(Vec<String>),
    /// Only in the state.
    Removed,
}

/// One changed node.
#[derive(Debug, Clone)]
pub struct Change {
    /// Unique id.
    pub id: String,
    /// What changed.
    pub kind: Kind,
    /// Its file, relative to the project.
    pub path: String,
    /// The state's compiled SQL (or source when the state has none).
    pub old_sql: Option<String>,
    /// The compiled SQL now.
    pub new_sql: Option<String>,
    /// The state's output columns, when known.
    pub old_columns: Option<Vec<String>>,
    /// The output columns now, when known.
    pub new_columns: Option<Vec<String>>,
    /// Nodes that read each of its columns now: column → reader ids (`node.column`).
    pub readers: BTreeMap<String, Vec<String>>,
    /// Every node downstream of it.
    pub downstream: Vec<String>,
}

impl Change {
    /// Columns the state had and the node no longer outputs.
    pub fn removed_columns(&self) -> Vec<String> {
        match (&self.old_columns, &self.new_columns) {
            (Some(old), Some(new)) => old.iter().filter(|c| !contains(new, c)).cloned().collect(),
            (Some(old), None) if self.kind == Kind::Removed => old.clone(),
            _ => vec![],
        }
    }

    /// Columns the node outputs now that the state did not have.
    pub fn added_columns(&self) -> Vec<String> {
        match (&self.old_columns, &self.new_columns) {
            (Some(old), Some(new)) => new.iter().filter(|c| !contains(old, c)).cloned().collect(),
            _ => vec![],
        }
    }

    /// A removed column (or a removed node) breaks what reads it.
    pub fn breaking(&self) -> bool {
        !self.removed_columns().is_empty() || (self.kind == Kind::Removed && !self.downstream.is_empty())
    }
}

fn contains(cols: &[String], c: &str) -> bool {
    cols.iter().any(|x| x.eq_ignore_ascii_case(c))
}

/// The report, as `strata diff` prints it on stdout.
pub fn render(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let what = match &c.kind {
            Kind::New => "new".to_string(),
            Kind::Removed => "removed".to_string(),
            Kind::Modified(why) => format!("modified ({})", why.join(", ")),
        };
        let _ = writeln!(out, "{what}: {} ({})", c.id, c.path);
        // Both sides end with one newline, so a missing last newline is not a change.
        let ended = |s: Option<&str>| s.map(|s| format!("{}\n", s.trim_end())).unwrap_or_default();
        let (old, new) = (ended(c.old_sql.as_deref()), ended(c.new_sql.as_deref()));
        if old != new {
            let (old, new) = (old.as_str(), new.as_str());
            let diff = similar::TextDiff::from_lines(old, new);
            let text = diff
                .unified_diff()
                .context_radius(3)
                .header(&format!("state/{}", c.path), &format!("current/{}", c.path))
                .to_string();
            for line in text.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        let (added, removed) = (c.added_columns(), c.removed_columns());
        if !added.is_empty() || !removed.is_empty() {
            let kind = if removed.is_empty() { "columns (not breaking)" } else { "columns (BREAKING)" };
            let mut parts: Vec<String> = added.iter().map(|a| format!("+{a}")).collect();
            parts.extend(removed.iter().map(|r| format!("-{r}")));
            let _ = writeln!(out, "  {kind}: {}", parts.join(" "));
            for r in &removed {
                if let Some(readers) = c.readers.get(&r.to_lowercase()).filter(|v| !v.is_empty()) {
                    let _ = writeln!(out, "    {r} is read by: {}", readers.join(", "));
                }
            }
        }
        if !c.downstream.is_empty() {
            let _ = writeln!(out, "  downstream ({}): {}", c.downstream.len(), c.downstream.join(", "));
        }
        out.push('\n');
    }
    let count = |f: &dyn Fn(&Kind) -> bool| changes.iter().filter(|c| f(&c.kind)).count();
    let _ = writeln!(
        out,
        "{} new, {} modified, {} removed; {} with breaking changes",
        count(&|k| *k == Kind::New),
        count(&|k| matches!(k, Kind::Modified(_))),
        count(&|k| *k == Kind::Removed),
        changes.iter().filter(|c| c.breaking()).count()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: Kind, old: &[&str], new: &[&str]) -> Change {
        let cols = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        Change {
            id: "model.p.m".into(),
            kind,
            path: "models/m.sql".into(),
            old_sql: Some("select 1 as a,\n  2 as b\n".into()),
            new_sql: Some("select 1 as a\n".into()),
            old_columns: cols(old),
            new_columns: cols(new),
            readers: BTreeMap::from([("b".to_string(), vec!["model.p.n.b".to_string()])]),
            downstream: vec!["model.p.n".into()],
        }
    }

    #[test]
    fn a_removed_column_is_breaking_and_names_its_readers() {
        let c = change(Kind::Modified(vec!["body".into()]), &["a", "b"], &["a"]);
        assert!(c.breaking());
        let text = render(&[c]);
        assert!(text.contains("columns (BREAKING): -b"), "{text}");
        assert!(text.contains("b is read by: model.p.n.b"), "{text}");
        assert!(text.contains("-  2 as b"), "{text}");
        assert!(text.ends_with("0 new, 1 modified, 0 removed; 1 with breaking changes\n"), "{text}");
    }

    #[test]
    fn an_added_column_is_not_breaking() {
        let c = change(Kind::Modified(vec!["body".into()]), &["a"], &["a", "c"]);
        assert!(!c.breaking());
        assert!(render(&[c]).contains("columns (not breaking): +c"));
    }
}
