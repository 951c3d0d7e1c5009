//! Packages end to end: `strata deps` from local folders, git repositories made in a temp dir
//! (plain paths and file:// URLs with tags) and a package hub served by the test on 127.0.0.1;
//! package-lock.yml reproduced offline; the tests/fixtures/packages project, whose local `kit`
//! package uses dbt_utils' patterns, built and checked against the rows dbt-core 1.10 produced.

use crate::util::TestProject;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn cell(p: &TestProject, sql: &str) -> Vec<Vec<String>> {
    p.query("shop.duckdb", sql)
}

#[test]
fn package_project_builds_the_tables_dbt_builds() {
    let p = TestProject::fixture("packages");
    let deps = p.run(&["deps"]);
    assert_eq!(deps.code, 0, "{}", deps.stderr);
    insta::assert_snapshot!("deps_local", p.normalize(&deps.stderr));
    insta::assert_snapshot!("lock_local", p.read("package-lock.yml"));
    let out = p.run(&["build"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("Done. PASS=21 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=21"), "{}", out.stderr);
    // A package's nodes compile under the package's own folder, as dbt lays them out.
    assert!(p.read("target/compiled/kit/models/kit_calendar.sql").contains("generate_series"));
    assert!(p.read("target/run/kit/models/schema.yml/not_null_kit_calendar_date_day.sql").contains("date_day"));

    // Every expected row below is what `dbt build` (dbt-core 1.10.23, dbt-duckdb) wrote for
    // this project, with the two bare package test names written as kit.<name> for dbt.
    // star() with except, from the columns in the database.
    assert_eq!(cell(&p, "select * from orders_star order by 1 limit 2"), [["1", "10"], ["2", "10"]]);
    // surrogate keys through dbt.hash(dbt.concat(...)).
    assert_eq!(
        cell(&p, "select order_key from orders_keyed where order_id = 1"),
        [["dd56b78777e20754464527f860399711"]]
    );
    // union_relations over relations with different columns.
    assert_eq!(
        cell(&p, "select * from orders_unioned order by order_id"),
        [["orders_2023", "100", "5", "NULL"], ["orders_2023", "101", "6", "NULL"], ["orders_2024", "200", "7", "web"]]
    );
    // pivot over values read with run_query when the model runs.
    assert_eq!(
        cell(&p, "select * from orders_pivoted order by customer_id"),
        [["10", "1", "1", "0"], ["11", "0", "1", "0"], ["12", "1", "0", "1"]]
    );
    // A package model using date_spine with generate_series; the root's `vars: kit:` wins over
    // kit's own kit_end, and the root's `models: kit:` config makes it a table.
    assert_eq!(
        cell(&p, "select days, first_day::varchar, last_day::varchar from calendar_days"),
        [["10", "2024-01-01", "2024-01-10"]]
    );
    assert_eq!(
        cell(&p, "select table_type from information_schema.tables where table_name = 'kit_calendar'"),
        [["BASE TABLE"]]
    );
    // `dispatch:` puts shop before kit, so shop's default__greeting beats kit's duckdb__greeting;
    // shout has no override, so kit's duckdb__ variant wins over its default__.
    assert_eq!(cell(&p, "select * from greetings"), [["hello from shop", "HI!"]]);
    // Mutable lists and dicts, caller(x) and varargs/kwargs inside package macros.
    // An undefined variable prints as nothing, as with Jinja2's default Undefined.
    assert_eq!(cell(&p, "select * from jinja_features"), [["A,B,z", "2", "<1><2>", "a+b", ""]]);

    // dbt's built-in macros as packages call them (relation helpers, run_query tables, graph,
    // cross-database macros); dbt wrote the same row, with the same column types.
    assert_eq!(
        cell(&p, "select * exclude (last_of_feb), last_of_feb::varchar from macro_library"),
        [[
            "raw_orders",
            "one,two",
            "channel",
            "status,n",
            "placed,returned,shipped",
            "5",
            "a11,b22,a:1,b:2,3,2,b",
            "macro_library",
            "77194479b2a7c2698a54a10abfeeda85",
            "2",
            "4",
            "true",
            "7",
            "2",
            "b",
            "placed|placed|returned|shipped|shipped",
            "2024-02-29"
        ]]
    );
    // A package's seed and the model on it are built; its source and docs are in the graph.
    assert_eq!(cell(&p, "select countries from kit_country_count"), [["2"]]);
    let ls = p.run(&["ls", "-s", "package:kit", "--output", "json"]);
    let mut listed: Vec<String> = ls
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["unique_id"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    insta::assert_debug_snapshot!("kit_nodes", listed);

    // The tests include package generic tests, namespaced and bare.
    let rr: serde_json::Value = serde_json::from_str(&p.read("target/run_results.json")).unwrap();
    let mut ids: Vec<&str> = rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["unique_id"].as_str().filter(|u| u.starts_with("test.")))
        .collect();
    ids.sort();
    insta::assert_debug_snapshot!("package_test_ids", ids);
}

#[test]
fn run_operation_calls_a_macro_with_args() {
    let p = TestProject::fixture("packages");
    assert_eq!(p.run(&["deps"]).code, 0);
    let out = p.run(&["run-operation", "record_operation", "--args", "{label: nightly, times: 3}"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("recorded nightly x3"), "{}", out.stderr);
    // print() is data: it goes to stdout, alone.
    assert_eq!(out.stdout, "label: nightly\n");
    assert_eq!(cell(&p, "select * from ops_log"), [["nightly", "3"]]);
    // A package macro by its namespaced name.
    assert_eq!(p.run(&["run-operation", "kit.greeting"]).code, 0);
    let bad = p.run(&["run-operation", "record_operaton"]);
    assert_eq!(bad.code, 2);
    insta::assert_snapshot!("run_operation_unknown", p.normalize(&bad.stderr));
}

#[test]
fn packages_installed_by_dbt_need_no_deps() {
    // dbt deps copies hub and git packages into dbt_packages/ and writes no strata state.
    let p = TestProject::fixture("packages");
    copy_dir(&p.root.join("local_packages/kit"), &p.root.join("dbt_packages/kit"));
    let out = p.run(&["build", "-s", "greetings", "+calendar_days"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(cell(&p, "select * from greetings"), [["hello from shop", "HI!"]]);
}

#[test]
fn a_declared_package_that_is_not_installed_stops_the_build() {
    let p = TestProject::fixture("packages");
    let out = p.run(&["build"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("not_installed", p.normalize(&out.stderr));
    assert!(!p.root.join("shop.duckdb").exists());
}

#[test]
fn dispatch_to_a_macro_no_namespace_defines_is_located() {
    let p = TestProject::fixture("packages");
    assert_eq!(p.run(&["deps"]).code, 0);
    p.write("models/broken.sql", "select 1 as x\n-- {{ adapter.dispatch('nonexistent', 'kit')() }}\n");
    let out = p.run(&["compile", "-s", "broken"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    insta::assert_snapshot!("dispatch_unknown", p.normalize(&out.stderr));
}

#[test]
fn bad_package_entries_are_located_diagnostics() {
    let p = TestProject::fixture("packages");
    // A local path that does not exist (did-you-mean from what is there).
    p.write("packages.yml", "packages:\n  - local: local_packages/kitt\n");
    let out = p.run(&["deps"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("missing_local", p.normalize(&out.stderr));

    // A cycle: a needs b, b needs a.
    for (name, dep) in [("a", "b"), ("b", "a")] {
        p.write(&format!("pkgs/{name}/dbt_project.yml"), &format!("name: pkg_{name}\nversion: '1.0'\n"));
        p.write(&format!("pkgs/{name}/packages.yml"), &format!("packages:\n  - local: ../{dep}\n"));
    }
    p.write("packages.yml", "packages:\n  - local: pkgs/a\n");
    let out = p.run(&["deps"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("cycle", p.normalize(&out.stderr));
    assert!(!p.root.join("package-lock.yml").exists());
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository holding a package named `gitkit` under `sub/`, with tag v1.0.0 on the first
/// commit and a second commit after it.
fn git_repo(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("sub/macros")).unwrap();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("sub/dbt_project.yml"), "name: gitkit\nversion: '1.0.0'\n").unwrap();
    std::fs::write(dir.join("sub/macros/v.sql"), "{% macro gitkit_version() %}1.0.0{% endmacro %}\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "one"]);
    git(dir, &["tag", "v1.0.0"]);
    let tagged = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("sub/macros/v.sql"), "{% macro gitkit_version() %}2.0.0-dev{% endmacro %}\n").unwrap();
    git(dir, &["commit", "-qam", "two"]);
    tagged
}

#[test]
fn git_packages_install_a_tag_and_reinstall_from_the_lock_offline() {
    let p = TestProject::fixture("packages");
    let repo = p.root.parent().unwrap().join("gitkit_repo");
    let tagged = git_repo(&repo);
    let url = format!("file://{}", repo.display());
    p.write(
        "packages.yml",
        &format!("packages:\n  - local: local_packages/kit\n  - git: \"{url}\"\n    revision: v1.0.0\n    subdirectory: sub\n"),
    );
    p.write("models/git_version.sql", "select '{{ gitkit.gitkit_version() }}' as v\n");
    let out = p.run(&["deps"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lock = p.read("package-lock.yml");
    assert!(lock.contains(&format!("revision: \"{tagged}\"")), "{lock}");
    assert!(p.root.join("dbt_packages/gitkit/dbt_project.yml").is_file());
    assert!(!p.root.join("dbt_packages/gitkit/.git").exists());
    assert_eq!(p.run(&["run", "-s", "git_version"]).code, 0);
    assert_eq!(cell(&p, "select v from git_version"), [["1.0.0"]]);

    // The repository moves on and goes away; the lock and the cache still give the tag.
    git(&repo, &["tag", "-f", "v1.0.0"]);
    std::fs::remove_dir_all(&repo).unwrap();
    std::fs::remove_dir_all(p.root.join("dbt_packages")).unwrap();
    let again = p.run(&["deps"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("Installed the versions in package-lock.yml"), "{}", again.stderr);
    assert_eq!(p.read("package-lock.yml"), lock);
    assert!(p.read("dbt_packages/gitkit/macros/v.sql").contains("1.0.0"));
}

#[test]
fn git_packages_from_a_plain_path_and_unknown_revisions() {
    let p = TestProject::fixture("packages");
    let repo = p.root.parent().unwrap().join("plain_repo");
    git_repo(&repo);
    // No revision: the default branch's head.
    p.write("packages.yml", &format!("packages:\n  - git: \"{}\"\n    subdirectory: sub\n", repo.display()));
    assert_eq!(p.run(&["deps"]).code, 0);
    assert!(p.read("dbt_packages/gitkit/macros/v.sql").contains("2.0.0-dev"));

    p.write("packages.yml", &format!("packages:\n  - git: \"{}\"\n    revision: v1.0.1\n", repo.display()));
    let out = p.run(&["deps"]);
    assert_eq!(out.code, 2);
    let text = p.normalize(&out.stderr);
    assert!(text.contains("error[E0905]: revision 'v1.0.1' does not exist in [TMP]/plain_repo"), "{text}");
    assert!(text.contains("did you mean 'v1.0.0'?"), "{text}");
    assert!(text.contains("--> packages.yml:3:5"), "{text}");
}

/// A package hub on 127.0.0.1: `/api/v1/<org>/<name>.json` and the tarballs it lists.
struct Hub {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn tarball(name: &str, version: &str, deps: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(vec![], flate2::Compression::fast()));
    let top = format!("{name}-{version}");
    let mut add = |path: &str, text: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("{top}/{path}"), text.as_bytes()).unwrap();
    };
    add("dbt_project.yml", &format!("name: {name}\nversion: '{version}'\n"));
    add("macros/v.sql", &format!("{{% macro {name}_version() %}}{version}{{% endmacro %}}\n"));
    if !deps.is_empty() {
        add("packages.yml", deps);
    }
    tar.into_inner().unwrap().finish().unwrap()
}

impl Hub {
    /// acme/base 1.0.0, 1.1.0, 2.0.0; acme/extra 1.0.0, which needs acme/base >=1.0.0,<1.1.0.
    fn start() -> Hub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
        let mut versions = |org_name: &str, name: &str, list: &[&str], deps: &str| {
            let mut v = serde_json::Map::new();
            for ver in list {
                let path = format!("/tarballs/{name}-{ver}.tar.gz");
                files.insert(path.clone(), tarball(name, ver, deps));
                v.insert(
                    ver.to_string(),
                    serde_json::json!({"name": name, "version": ver, "downloads": {"tarball": format!("{url}{path}")}}),
                );
            }
            let doc = serde_json::json!({"name": name, "namespace": "acme", "versions": v});
            files.insert(format!("/api/v1/{org_name}.json"), doc.to_string().into_bytes());
        };
        versions("acme/base", "base", &["1.0.0", "1.1.0", "2.0.0"], "");
        versions(
            "acme/extra",
            "extra",
            &["1.0.0"],
            "packages:\n  - package: acme/base\n    version: [\">=1.0.0\", \"<1.1.0\"]\n",
        );
        files.insert("/api/v1/index.json".into(), br#"["acme/base", "acme/extra"]"#.to_vec());
        files.insert("/tarballs/tarkit.tar.gz".into(), tarball("tarkit", "0.1.0", ""));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = conn else { continue };
                // Read the whole request head, however the client's writes arrive.
                let mut req = vec![];
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let req = String::from_utf8_lossy(&req).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                match files.get(&path) {
                    Some(body) => {
                        let _ =
                            write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                        let _ = s.write_all(body);
                    }
                    None => {
                        let _ = write!(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            }
        });
        Hub { url, stop, thread: Some(thread) }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn hub_versions_resolve_across_dependencies_and_reinstall_offline() {
    let mut hub = Hub::start();
    let p = TestProject::fixture("packages");
    let url = hub.url.clone();
    let env = [("DBT_PACKAGE_HUB_URL", url.as_str())];
    // The root allows any base >= 1.0.0; extra narrows it to < 1.1.0. dependencies.yml is read
    // when there is no packages.yml, and a tarball entry installs from its URL.
    std::fs::remove_file(p.root.join("packages.yml")).unwrap();
    p.write(
        "dependencies.yml",
        &format!("packages:\n  - package: acme/base\n    version: \">=1.0.0\"\n  - package: acme/extra\n    version: 1.0.0\n  - tarball: {url}/tarballs/tarkit.tar.gz\n    name: tarkit\n"),
    );
    let out = p.run_env(&["deps"], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The hash covers the URL, whose port changes from run to run.
    let lock = p.read("package-lock.yml").replace(&url, "[HUB]");
    let lock = regex::Regex::new("sha1_hash: [0-9a-f]{40}").unwrap().replace(&lock, "sha1_hash: [HASH]");
    insta::assert_snapshot!("lock_hub", lock);
    assert!(p.read("dbt_packages/base/macros/v.sql").contains("1.0.0"));
    assert!(p.read("dbt_packages/tarkit/macros/v.sql").contains("0.1.0"));

    // Offline: the hub is gone, dbt_packages/ too; the lock and the download cache remain.
    hub.stop();
    std::fs::remove_dir_all(p.root.join("dbt_packages")).unwrap();
    let again = p.run_env(&["deps"], &env);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(p.read("dbt_packages/base/macros/v.sql").contains("1.0.0"));
    assert!(p.read("dbt_packages/extra/dbt_project.yml").contains("1.0.0"));
    assert!(p.read("dbt_packages/tarkit/dbt_project.yml").contains("0.1.0"));
}

#[test]
fn hub_version_conflicts_and_unknown_packages_are_diagnostics() {
    let hub = Hub::start();
    let p = TestProject::fixture("packages");
    let env = [("DBT_PACKAGE_HUB_URL", hub.url.as_str())];
    p.write(
        "packages.yml",
        "packages:\n  - package: acme/base\n    version: \">=2.0.0\"\n  - package: acme/extra\n    version: 1.0.0\n",
    );
    let out = p.run_env(&["deps"], &env);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("hub_conflict", p.normalize(&out.stderr).replace(&hub.url, "[HUB]"));
    assert!(!p.root.join("dbt_packages/base").exists());

    p.write("packages.yml", "packages:\n  - package: acme/bsae\n    version: 1.0.0\n");
    let out = p.run_env(&["deps"], &env);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("hub_unknown", p.normalize(&out.stderr).replace(&hub.url, "[HUB]"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_root_model_named_like_a_package_model_is_located() {
    let p = TestProject::fixture("packages");
    assert_eq!(p.run(&["deps"]).code, 0);
    // Refs prefer the node's own package, but both would be built as main.kit_calendar.
    p.write("models/kit_calendar.sql", "select 1 as date_day\n");
    // A key this strata does not know in a package's dbt_project.yml is only a warning.
    let kit = p.read("local_packages/kit/dbt_project.yml");
    p.write("local_packages/kit/dbt_project.yml", &format!("{kit}\nsome-future-key: true\n"));
    let out = p.run(&["parse"]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!("same_relation", p.normalize(&out.stderr));
}

#[test]
fn config_in_a_generic_test_definition_is_a_default_the_yaml_overrides() {
    // kit's at_least_rows sets severity 'warn' in its definition; dbt-core 1.10 reports the
    // plain instance as WARN 1 and the one with `severity: error` in YAML as FAIL 1.
    let p = TestProject::fixture("packages");
    assert_eq!(p.run(&["deps"]).code, 0);
    p.write("models/tiny.sql", "select 1 as x\n");
    p.write(
        "models/tiny.yml",
        "version: 2\nmodels:\n  - name: tiny\n    data_tests:\n      - kit.at_least_rows:\n          arguments:\n            n: 10\n      - kit.at_least_rows:\n          name: at_least_rows_strict\n          arguments:\n            n: 10\n          config:\n            severity: error\n",
    );
    let out = p.run(&["build", "-s", "tiny", "--no-audit"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("WARN 1 kit_at_least_rows_tiny_10"), "{}", out.stderr);
    assert!(out.stderr.contains("FAIL 1 at_least_rows_strict"), "{}", out.stderr);
}
