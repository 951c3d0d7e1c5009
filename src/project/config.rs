//! Node configuration with dbt's merge rules. A [`Config`] is an ordered map of JSON values;
//! layers are merged from least to most specific (dbt_project.yml folders, then property YAML,
//! then in-file `config()`), with dbt's rules: `tags` accumulate, `meta` and `docs` merge
//! key by key, hooks append, everything else is replaced.

use serde_json::{Map, Value as Json};
use std::borrow::Cow;

/// Config keys strata knows for models, seeds, analyses, snapshots and tests. A key outside this
/// list is kept (macros can read it with `config.get`) but reported as a warning with a
/// did-you-mean, as dbt 1.10 does for custom keys.
pub const KNOWN_CONFIG_KEYS: &[&str] = &[
    "enabled",
    "tags",
    "meta",
    "materialized",
    "schema",
    "alias",
    "database",
    "pre-hook",
    "post-hook",
    "persist_docs",
    "full_refresh",
    "docs",
    "grants",
    "quoting",
    "column_types",
    "delimiter",
    "quote_columns",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "sql_header",
    "contract",
    "access",
    "group",
    "event_time",
    "batch_size",
    "lookback",
    "begin",
    "concurrent_batches",
    "incremental_predicates",
    "on_configuration_change",
    "store_failures",
    "store_failures_as",
    "severity",
    "warn_if",
    "error_if",
    "where",
    "limit",
    "fail_calc",
    "packages",
    "strategy",
    "updated_at",
    "check_cols",
    "snapshot_meta_column_names",
    "hard_deletes",
    "dbt_valid_to_current",
    "target_schema",
    "target_database",
    "invalidate_hard_deletes",
    "merge_update_columns",
    "merge_exclude_columns",
    "batch_size",
    "file_format",
    "location",
    "format",
    "partition_by",
    // dbt-spark's table layout.
    "clustered_by",
    "buckets",
    "location_root",
    "options",
    "overwrite",
    "plugin",
    "glue_register",
    "glue_database",
    "partition_columns",
    "parquet_read_options",
    "csv_read_options",
    "json_read_options",
    "external_location",
    "formatter",
    "+materialized",
    "persist_docs",
    "transient",
    "unlogged",
    "docs",
    "labels",
    "freshness",
    "loaded_at_field",
    "loaded_at_query",
];

/// [`KNOWN_CONFIG_KEYS`] sorted, for a binary search on every key a config gets (a constant
/// table, made once).
static KNOWN_SORTED: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut keys = KNOWN_CONFIG_KEYS.to_vec();
    keys.sort_unstable();
    keys.dedup();
    keys
});

/// Keys whose values accumulate across layers instead of replacing.
fn merge_kind(key: &str) -> MergeKind {
    match key {
        "tags" => MergeKind::Union,
        "meta" | "docs" | "column_types" | "persist_docs" | "quoting" => MergeKind::Dict,
        "pre-hook" | "post-hook" => MergeKind::Append,
        _ => MergeKind::Replace,
    }
}

enum MergeKind {
    Replace,
    Union,
    Dict,
    Append,
}

/// Canonical spelling of a config key (`pre_hook` → `pre-hook`, `+x` → `x`, `data_tests` stays).
pub fn canonical_key(key: &str) -> String {
    canonical(key).into_owned()
}

/// [`canonical_key`], borrowed when the key is already canonical.
fn canonical(key: &str) -> Cow<'_, str> {
    let key = key.strip_prefix('+').unwrap_or(key);
    match key {
        "pre_hook" => "pre-hook".into(),
        "post_hook" => "post-hook".into(),
        "materialised" => "materialized".into(),
        other => Cow::Borrowed(other),
    }
}

/// A resolved or partial configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config(pub Entries);

/// A config's keys and values, sorted by key. A sorted vector of exactly its length (a B-tree
/// map takes a 1 KB leaf for a handful of keys, and there is a config for every node), whose
/// known keys are static strings rather than one allocation each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entries(Vec<(Cow<'static, str>, Json)>);

impl Entries {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Set `key`, returning its previous value.
    pub fn insert(&mut self, key: &str, value: Json) -> Option<Json> {
        match self.find(key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                let key = match KNOWN_SORTED.binary_search(&key) {
                    Ok(at) => Cow::Borrowed(KNOWN_SORTED[at]),
                    Err(_) => Cow::Owned(key.to_string()),
                };
                self.0.reserve_exact(1);
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        let i = self.find(key).ok()?;
        Some(self.0.remove(i).1)
    }

    /// (key, value) in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// (key, mutable value) in key order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Json)> {
        self.0.iter_mut().map(|(k, v)| (&**k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    /// Values in key order.
    pub fn values(&self) -> impl Iterator<Item = &Json> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Config {
    /// Merge `overlay` (more specific) on top of self.
    pub fn merge(&mut self, overlay: &Config) {
        for (k, v) in overlay.0.iter() {
            self.set(k, v.clone());
        }
    }

    /// Set one key with the merge rule for that key.
    pub fn set(&mut self, key: &str, value: Json) {
        let key = canonical(key);
        let key = key.as_ref();
        match merge_kind(key) {
            MergeKind::Replace => {
                self.0.insert(key, value);
            }
            MergeKind::Union => {
                let mut list = self.0.get(key).map(string_items).unwrap_or_default();
                for t in string_items(&value) {
                    if !list.contains(&t) {
                        list.push(t);
                    }
                }
                self.0.insert(key, Json::Array(list.into_iter().map(Json::String).collect()));
            }
            MergeKind::Dict => {
                let mut base = match self.0.remove(key) {
                    Some(Json::Object(m)) => m,
                    _ => Map::new(),
                };
                match value {
                    Json::Object(m) => {
                        for (k, v) in m {
                            base.insert(k, v);
                        }
                        self.0.insert(key, Json::Object(base));
                    }
                    other => {
                        self.0.insert(key, other);
                    }
                }
            }
            MergeKind::Append => {
                let mut list = match self.0.remove(key) {
                    Some(Json::Array(a)) => a,
                    Some(Json::Null) | None => vec![],
                    Some(other) => vec![other],
                };
                match value {
                    Json::Array(a) => list.extend(a),
                    Json::Null => {}
                    other => list.push(other),
                }
                self.0.insert(key, Json::Array(list));
            }
        }
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.get(key)
    }

    /// A string value (numbers and booleans formatted); None when absent or null.
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Json::String(s) => Some(s.clone()),
            Json::Null => None,
            Json::Bool(b) => Some(b.to_string()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A boolean value; strings "true"/"false" are accepted, as dbt does.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.0.get(key)? {
            Json::Bool(b) => Some(*b),
            Json::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// `enabled`, defaulting to true.
    pub fn enabled(&self) -> bool {
        self.get_bool("enabled").unwrap_or(true)
    }

    /// `materialized`, defaulting to `default`.
    pub fn materialized(&self, default: &str) -> String {
        self.get_str("materialized").unwrap_or_else(|| default.to_string())
    }

    /// `tags` as a list.
    pub fn tags(&self) -> Vec<String> {
        self.0.get("tags").map(string_items).unwrap_or_default()
    }

    /// Hooks (`pre-hook` or `post-hook`) as SQL strings; `{sql: ...}` objects are unwrapped.
    pub fn hooks(&self, key: &str) -> Vec<String> {
        let Some(v) = self.0.get(key) else { return vec![] };
        let items: Vec<&Json> = match v {
            Json::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        items
            .into_iter()
            .filter_map(|h| match h {
                Json::String(s) => Some(s.clone()),
                Json::Object(m) => m.get("sql").and_then(Json::as_str).map(str::to_string),
                _ => None,
            })
            .collect()
    }

    /// As a JSON object.
    pub fn to_json(&self) -> Json {
        Json::Object(self.0.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }
}

/// Strings from a string or a list.
pub fn string_items(v: &Json) -> Vec<String> {
    match v {
        Json::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        Json::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_follows_dbt_rules() {
        let mut base = Config::default();
        base.set("+materialized", json!("view"));
        base.set("tags", json!("a"));
        base.set("meta", json!({"owner": "x", "tier": 1}));
        base.set("pre_hook", json!("select 1"));
        let mut over = Config::default();
        over.set("materialized", json!("table"));
        over.set("tags", json!(["b", "a"]));
        over.set("meta", json!({"tier": 2}));
        over.set("pre-hook", json!(["select 2"]));
        base.merge(&over);
        assert_eq!(base.materialized("view"), "table");
        assert_eq!(base.tags(), vec!["a", "b"]);
        assert_eq!(base.get("meta"), Some(&json!({"owner": "x", "tier": 2})));
        assert_eq!(base.hooks("pre-hook"), vec!["select 1", "select 2"]);
    }

    #[test]
    fn entries_are_a_sorted_map() {
        let mut e = Entries::default();
        assert_eq!(e.insert("tags", json!(["a"])), None);
        assert_eq!(e.insert("my_custom_key", json!(1)), None);
        assert_eq!(e.insert("alias", json!("x")), None);
        assert_eq!(e.insert("tags", json!(["b"])), Some(json!(["a"])));
        assert_eq!(e.keys().collect::<Vec<_>>(), vec!["alias", "my_custom_key", "tags"]);
        assert_eq!(e.get("tags"), Some(&json!(["b"])));
        assert!(e.contains_key("my_custom_key") && !e.contains_key("schema"));
        assert_eq!(e.remove("alias"), Some(json!("x")));
        assert_eq!(e.remove("alias"), None);
        assert_eq!((e.len(), e.values().count()), (2, 2));
        // Known keys are not allocated; others are.
        assert!(e.0.iter().all(|(k, _)| matches!(k, Cow::Borrowed(_)) == (k == "tags")));
    }
}
