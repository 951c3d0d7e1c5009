//! A Spark target: dbt-spark's profile keys for `method: connect` (Spark Connect), the ones
//! strata implements ([`SUPPORTED_KEYS`]) and the ones it does not ([`UNSUPPORTED_KEYS`]).
//! dbt-spark's other methods (`thrift`, `http`, `odbc`, `session`) are an error at `method`.

use super::super::json_str;
use super::super::target::{EngineTarget, Locate, ReadTarget};
use crate::diagnostics::Diagnostic;
use serde_json::{Map, Value as Json};
use std::path::Path;

/// The Spark keys of a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The Spark Connect endpoint's host.
    pub host: String,
    /// Its port (Spark Connect's default, 15002).
    pub port: u16,
    /// A bearer token (a managed endpoint's), sent with every request.
    pub token: Option<String>,
    /// Whether the endpoint speaks TLS (`use_ssl`, or `sc://...;use_ssl=true`).
    pub use_ssl: bool,
    /// Seconds to wait for the endpoint to accept a connection (`connect_timeout`, default 10).
    pub connect_timeout: u64,
    /// Spark SQL settings set on every session (`server_side_parameters`).
    pub server_side_parameters: Map<String, Json>,
}

impl Settings {
    /// The Spark Connect URL: `sc://host:port/;token=...;use_ssl=true`.
    pub fn url(&self) -> String {
        let mut url = format!("sc://{}:{}/", self.host, self.port);
        if let Some(t) = &self.token {
            url.push_str(&format!(";token={t}"));
        }
        if self.use_ssl {
            url.push_str(";use_ssl=true");
        }
        url
    }
}

/// dbt-spark profile keys strata implements for `method: connect`.
pub const SUPPORTED_KEYS: &[&str] = &[
    "connect_retries",
    "connect_timeout",
    "database",
    "host",
    "method",
    "port",
    "schema",
    "server_side_parameters",
    "threads",
    "token",
    "type",
    "use_ssl",
];

/// dbt-spark profile keys of the methods strata does not implement: each is an error naming it.
pub const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    ("cluster", "`cluster` is for dbt-spark's http/odbc methods on Databricks; use method: connect"),
    ("endpoint", "`endpoint` is for dbt-spark's odbc method (a Databricks SQL warehouse); use method: connect"),
    ("organization", "`organization` is for dbt-spark's http/odbc methods on Databricks; use method: connect"),
    ("driver", "`driver` is for dbt-spark's odbc method; use method: connect"),
    ("user", "`user` is for dbt-spark's thrift method; Spark Connect authenticates with `token`"),
    ("auth", "`auth` is for dbt-spark's thrift method (LDAP, Kerberos); Spark Connect authenticates with `token`"),
    ("kerberos_service_name", "Kerberos is for dbt-spark's thrift method; Spark Connect authenticates with `token`"),
    ("poll_interval", "`poll_interval` is for dbt-spark's thrift method; Spark Connect streams results"),
    ("query_timeout", "strata does not time out queries"),
    ("retry_all", "strata does not retry failed statements"),
];

/// The methods of dbt-spark that strata does not implement.
const OTHER_METHODS: &[&str] = &["thrift", "http", "odbc", "session"];

/// Read a Spark output's keys. `host` may be a host name or a whole `sc://host:port` URL.
pub fn read(raw: &Map<String, Json>, _root: &Path, at: &dyn Locate) -> Result<ReadTarget, Vec<Diagnostic>> {
    let mut problems = vec![];
    let method = raw.get("method").and_then(json_str).unwrap_or_else(|| "connect".into());
    if OTHER_METHODS.contains(&method.as_str()) {
        problems.push(
            Diagnostic::error("E0312", format!("method: {method} is not supported by strata's Spark engine"))
                .with_span(at.key("method"))
                .with_note("strata talks to Spark through Spark Connect (gRPC); it has no Thrift, ODBC or in-process session client")
                .with_help("use `method: connect` with `host` and `port` (15002) of a Spark Connect server"),
        );
    } else if method != "connect" {
        problems.push(
            Diagnostic::error("E0312", format!("unknown method '{method}' for a Spark target"))
                .with_span(at.key("method"))
                .with_help("use `method: connect`"),
        );
    }
    let schema = raw.get("schema").and_then(json_str).unwrap_or_default();
    if let Some(db) = raw.get("database").and_then(json_str) {
        if db != schema {
            problems.push(
                Diagnostic::error("E0312", format!("database '{db}' differs from schema '{schema}'"))
                    .with_span(at.key("database"))
                    .with_note("on Spark a schema is a database; dbt-spark requires `database` to be omitted or equal to `schema`")
                    .with_help("remove `database` from the output"),
            );
        }
    }
    let host_raw = raw.get("host").and_then(json_str).unwrap_or_else(|| "127.0.0.1".into());
    let mut token = raw.get("token").and_then(json_str);
    let mut use_ssl = raw.get("use_ssl").and_then(Json::as_bool).unwrap_or(false);
    let mut port = None;
    let host = match host_raw.strip_prefix("sc://") {
        Some(rest) => {
            // sc://host:port/;param=value;...
            let (addr, params) = rest.split_once('/').unwrap_or((rest, ""));
            for p in params.split(';').filter(|p| !p.is_empty()) {
                match p.split_once('=') {
                    Some(("token", v)) => token = Some(v.to_string()),
                    Some(("use_ssl", v)) => use_ssl = v.eq_ignore_ascii_case("true"),
                    _ => {}
                }
            }
            match addr.rsplit_once(':') {
                Some((h, p)) => {
                    port = p.parse::<u16>().ok();
                    if port.is_none() {
                        problems.push(
                            Diagnostic::error("E0312", format!("port '{p}' in host '{host_raw}' is not a number"))
                                .with_span(at.key("host"))
                                .with_help("write `host: sc://127.0.0.1:15002`"),
                        );
                    }
                    h.to_string()
                }
                None => addr.to_string(),
            }
        }
        None => host_raw.clone(),
    };
    let port = match (port, raw.get("port")) {
        (Some(p), _) => p,
        (None, None) => 15002,
        (None, Some(v)) => match json_str(v).and_then(|s| s.parse::<u16>().ok()) {
            Some(p) => p,
            None => {
                problems.push(
                    Diagnostic::error("E0312", "`port` must be a port number")
                        .with_span(at.key("port"))
                        .with_help("Spark Connect listens on 15002 by default"),
                );
                15002
            }
        },
    };
    let connect_timeout = match raw.get("connect_timeout") {
        None => 10,
        Some(v) => match json_str(v).and_then(|s| s.parse::<u64>().ok()) {
            Some(s) => s,
            None => {
                problems.push(
                    Diagnostic::error("E0312", "`connect_timeout` must be a number of seconds")
                        .with_span(at.key("connect_timeout"))
                        .with_help("write `connect_timeout: 10`"),
                );
                10
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let s = Settings {
        host,
        port,
        token,
        use_ssl,
        connect_timeout,
        server_side_parameters: raw
            .get("server_side_parameters")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default(),
    };
    Ok((EngineTarget::Spark(s), super::DEFAULT_CATALOG.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Span;

    struct At;
    impl Locate for At {
        fn key(&self, key: &str) -> Span {
            Span::file_only(format!("profiles.yml#{key}"))
        }
        fn item(&self, key: &str, _: usize) -> Span {
            Span::file_only(format!("profiles.yml#{key}"))
        }
    }

    fn read_json(v: Json) -> Result<Settings, Vec<Diagnostic>> {
        let (t, db) = read(v.as_object().unwrap(), Path::new("."), &At)?;
        assert_eq!(db, "spark_catalog");
        match t {
            EngineTarget::Spark(s) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_and_port_or_a_whole_url() {
        let s =
            read_json(serde_json::json!({"type": "spark", "method": "connect", "host": "spark.local", "schema": "a"}))
                .unwrap();
        assert_eq!((s.host.as_str(), s.port, s.url()), ("spark.local", 15002, "sc://spark.local:15002/".to_string()));
        let s = read_json(
            serde_json::json!({"type": "spark", "host": "sc://h:443/;token=abc;use_ssl=true", "schema": "a"}),
        )
        .unwrap();
        assert_eq!((s.host.as_str(), s.port, s.token.as_deref(), s.use_ssl), ("h", 443, Some("abc"), true));
        assert_eq!(s.url(), "sc://h:443/;token=abc;use_ssl=true");
        let s =
            read_json(serde_json::json!({"type": "spark", "port": "16000", "schema": "a", "database": "a"})).unwrap();
        assert_eq!(s.port, 16000);
    }

    #[test]
    fn other_methods_and_a_database_other_than_the_schema_are_refused() {
        let errs = read_json(
            serde_json::json!({"type": "spark", "method": "thrift", "schema": "a", "database": "b", "port": "x"}),
        )
        .unwrap_err();
        let got: Vec<(String, String)> = errs
            .iter()
            .map(|d| (d.code.to_string(), d.span.as_ref().map(|s| s.file.display().to_string()).unwrap_or_default()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("E0312".to_string(), "profiles.yml#method".to_string()),
                ("E0312".to_string(), "profiles.yml#database".to_string()),
                ("E0312".to_string(), "profiles.yml#port".to_string()),
            ]
        );
        assert!(errs[0].message.contains("method: thrift is not supported"));
    }
}
