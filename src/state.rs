//! Change-aware builds: the fingerprint of what each node was last built from, kept in
//! `target/strata_state.json`. A node's fingerprint hashes its compiled SQL (a seed's file, a
//! test's definition), its config and its upstream fingerprints; a source's is the max of its
//! `loaded_at_field`, or else its contents' fingerprint (row count and the sum of the rows'
//! hashes) when it is a relation in the database. `build` and `run` leave a
//! node whose fingerprint is the one recorded after its last successful build, and whose
//! relation exists, as it is (`SKIP unchanged`).
//! In: the manifest, compiled SQL, the recorded state. Out: fingerprints, the unchanged set.

use crate::adapter::Connection;
use crate::parse::{Manifest, ResourceType};
use crate::results::{RunResults, Status};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

const FILE: &str = "strata_state.json";

/// What each node was last successfully built from.
#[derive(Debug, Clone, Default)]
pub struct BuildState {
    /// Fingerprint by unique id.
    pub nodes: BTreeMap<String, String>,
}

impl BuildState {
    /// The state recorded in `target_dir` (empty when there is none or it is unreadable).
    pub fn read(target_dir: &Path) -> BuildState {
        let nodes = std::fs::read_to_string(target_dir.join(FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<Json>(&t).ok())
            .and_then(|v| v.get("nodes").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        BuildState { nodes }
    }

    /// Record a run: what built or passed gets its new fingerprint, what was left unchanged
    /// keeps its own, and anything that failed or was skipped is forgotten (so it is rebuilt).
    pub fn record(&mut self, results: &RunResults, fingerprints: &HashMap<String, String>) {
        for r in &results.results {
            match r.status {
                Status::Success | Status::Pass => {
                    if let Some(fp) = fingerprints.get(&r.unique_id) {
                        self.nodes.insert(r.unique_id.clone(), fp.clone());
                    }
                }
                Status::NoOp => {}
                _ => {
                    self.nodes.remove(&r.unique_id);
                }
            }
        }
    }

    /// Write `target_dir/strata_state.json`.
    pub fn write(&self, target_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(target_dir)?;
        let v = json!({"strata_version": env!("CARGO_PKG_VERSION"), "nodes": self.nodes});
        std::fs::write(target_dir.join(FILE), serde_json::to_string(&v).unwrap_or_default())
    }
}

fn hash(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.len().to_le_bytes());
        h.update(p.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// Each source's data marker: the max of its `loaded_at_field` (the cheaper rule, kept when a
/// source declares one); else, when `content` is asked for and the source is a relation in the
/// database, its contents' fingerprint: the row count and the sum of every row's hash, which
/// an identical table re-created with the same rows (in any order) keeps; else a value of this
/// run alone (always changed).
pub fn source_marks(m: &Manifest, conn: &dyn Connection, run_id: &str, content: bool) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (id, s) in &m.sources {
        let first = |sql: &str| -> Option<String> {
            conn.query(sql, None).ok().and_then(|t| {
                let row = t.rows.first()?;
                Some(row.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(":"))
            })
        };
        let mark = match &s.table.loaded_at_field {
            Some(f) => {
                first(&format!("select cast(max({f}) as string) from {}", s.relation)).map(|v| format!("loaded:{v}"))
            }
            None if content && s.relation.external.is_none() => {
                conn.content_fingerprint(&s.relation.render()).ok().flatten().map(|v| format!("content:{v}"))
            }
            None => None,
        };
        out.insert(id.clone(), mark.unwrap_or_else(|| format!("run:{run_id}")));
    }
    out
}

/// Fingerprints of the plan's nodes, parents first. `compiled` holds models' and snapshots'
/// compiled SQL; a parent outside the plan counts with its recorded fingerprint.
pub fn fingerprints(
    m: &Manifest,
    order: &[String],
    plan: &[String],
    compiled: &HashMap<String, String>,
    recorded: &BuildState,
    sources: &HashMap<String, String>,
    run_id: &str,
) -> HashMap<String, String> {
    let in_plan: HashSet<&String> = plan.iter().collect();
    let mut out: HashMap<String, String> = HashMap::new();
    for id in order {
        let Some(n) = m.nodes.get(id) else { continue };
        // Ephemeral models are inlined into what reads them; they pass their parents on.
        let ephemeral = n.materialized() == "ephemeral";
        if !in_plan.contains(id) && !ephemeral {
            continue;
        }
        let content = match n.resource_type {
            _ if ephemeral => "ephemeral".to_string(),
            ResourceType::Seed => {
                std::fs::read(&n.file_path).map(|b| String::from_utf8_lossy(&b).to_string()).unwrap_or_default()
            }
            ResourceType::Test | ResourceType::UnitTest => {
                let t = n.test.as_ref();
                let md = t.and_then(|t| t.metadata.as_ref()).map(|md| json!(md.kwargs).to_string());
                let unit = t.and_then(|t| t.unit.as_ref()).map(Json::to_string);
                format!("{}\n{}\n{}", n.raw_code, md.unwrap_or_default(), unit.unwrap_or_default())
            }
            _ => compiled.get(id).cloned().unwrap_or_else(|| format!("uncompiled:{run_id}")),
        };
        let config = n.config.to_json().to_string();
        let mut parents: Vec<String> = n
            .depends_on
            .iter()
            .map(|p| {
                out.get(p)
                    .or_else(|| sources.get(p))
                    .or_else(|| recorded.nodes.get(p))
                    .cloned()
                    .unwrap_or_else(|| format!("unknown:{run_id}"))
            })
            .collect();
        parents.sort();
        let parents = parents.join(",");
        out.insert(id.clone(), hash(&[&content, &config, &parents]));
    }
    out
}

/// The plan's nodes left as they are: the fingerprint recorded after their last success is
/// today's, and (for what builds a relation) the relation exists.
pub fn unchanged(
    m: &Manifest,
    plan: &[String],
    current: &HashMap<String, String>,
    recorded: &BuildState,
    existing: &HashMap<(String, String, String), String>,
) -> HashSet<String> {
    let exists = |r: &crate::templating::relation::Relation| existing.contains_key(&r.catalog_key());
    plan.iter()
        .filter(|id| {
            let Some(n) = m.nodes.get(*id) else { return false };
            let same = current.get(*id).is_some_and(|fp| recorded.nodes.get(*id) == Some(fp));
            same && (n.is_test() || exists(&n.relation))
        })
        .cloned()
        .collect()
}
