//! The static parser (ref/source/config calls read from a model's syntax, without rendering)
//! gives the same manifest as rendering every model (`--no-static-parser`), on every fixture.

use crate::util::TestProject;
use serde_json::Value as Json;

/// manifest.json without its per-invocation metadata.
fn manifest(p: &TestProject) -> Json {
    let mut m: Json = serde_json::from_str(&p.read("target/manifest.json")).expect("manifest.json");
    m.as_object_mut().unwrap().remove("metadata");
    m
}

/// `parse --debug`: its exit code, its output without the debug and timing lines, the manifest
/// (when written) and how many SQL files the static parser read.
fn parse(p: &TestProject, extra: &[&str]) -> (i32, String, Option<Json>, usize) {
    let _ = std::fs::remove_dir_all(p.root.join("target"));
    let mut args = vec!["parse", "--debug"];
    args.extend(extra);
    let out = p.run(&args);
    let read = regex::Regex::new(r"static parser: (\d+) of \d+ SQL files")
        .unwrap()
        .captures(&out.stderr)
        .map_or(0, |c| c[1].parse().unwrap());
    let kept: Vec<&str> =
        out.stderr.lines().filter(|l| !l.contains("static parser:") && !l.contains("Running with")).collect();
    let text = p.normalize(&kept.join("\n"));
    let timing = regex::Regex::new(r"(?m)^.*: \d+\.\d+s$\n?").unwrap();
    let text = timing.replace_all(&text, "").to_string();
    let m = p.root.join("target/manifest.json").exists().then(|| manifest(p));
    (out.code, text, m, read)
}

#[test]
fn every_fixture_parses_the_same_with_and_without_the_static_parser() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut projects = vec![TestProject::from_path(&root.join("example_project"), "example_project")];
    let mut names: Vec<String> = std::fs::read_dir(root.join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    projects.extend(names.iter().map(|n| TestProject::fixture(n)));
    let mut read_total = 0;
    for p in &projects {
        let name = p.root.file_name().unwrap().to_string_lossy().to_string();
        let (code, text, m, read) = parse(p, &[]);
        let (code_r, text_r, m_r, read_r) = parse(p, &["--no-static-parser"]);
        assert_eq!(read_r, 0, "{name}: --no-static-parser still read {read_r} files statically");
        assert_eq!(code, code_r, "{name}: exit codes differ\n{text}\n---\n{text_r}");
        assert_eq!(text, text_r, "{name}: output differs");
        assert_eq!(m, m_r, "{name}: manifest.json differs");
        read_total += read;
    }
    // The comparison means something: most models of the example project are read statically.
    let (_, _, _, example_read) = parse(&projects[0], &[]);
    assert!(example_read > 0 && read_total > example_read, "static parser read {example_read} / {read_total}");
}
