//! Shared helpers: copy a fixture project to a temp dir, run the strata binary in it, and
//! normalise output (timestamps, durations, temp paths) for snapshots.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fixture project copied into a fresh temp dir.
pub struct TestProject {
    /// Keeps the temp dir alive.
    _dir: tempfile::TempDir,
    /// The project folder inside it.
    pub root: PathBuf,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name();
            if name == "target" || name == "logs" {
                continue;
            }
            copy_dir(&entry.path(), &dest);
        } else if !entry.file_name().to_string_lossy().ends_with(".duckdb") {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

impl TestProject {
    /// Copy `tests/fixtures/<name>` (or any folder relative to the crate) into a temp dir.
    pub fn fixture(name: &str) -> TestProject {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
        Self::from_path(&src, name)
    }

    /// Copy a folder relative to the crate root.
    pub fn from_path(src: &Path, name: &str) -> TestProject {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(name.replace('/', "_"));
        copy_dir(src, &root);
        TestProject { _dir: dir, root }
    }

    /// Run `strata <args> --project-dir <root>` with a clean environment.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    /// Like `run`, with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(args).arg("--project-dir").arg(&self.root).current_dir(self.root.parent().unwrap());
        for var in [
            "DBT_PROFILES_DIR",
            "DBT_TARGET",
            "DBT_PROJECT_DIR",
            "DBT_TARGET_PATH",
            "DBT_LOG_PATH",
            "DBT_LOG_FORMAT",
            "DBT_DEBUG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("NO_COLOR", "1").env("HOME", self.root.parent().unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run strata");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    /// Read a file of the project.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Write a file of the project.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Replace temp paths, clock times and durations so output can be snapshotted.
    pub fn normalize(&self, text: &str) -> String {
        let root = self.root.to_string_lossy().to_string();
        let parent = self.root.parent().unwrap().to_string_lossy().to_string();
        let text = text.replace(&root, "[PROJECT]").replace(&parent, "[TMP]");
        let time = regex::Regex::new(r"(?m)^\d\d:\d\d:\d\d  ").unwrap();
        let text = time.replace_all(&text, "");
        let secs = regex::Regex::new(r"\d+\.\d\d(s| seconds)").unwrap();
        let text = secs.replace_all(&text, "N.NN$1");
        // Dot leaders depend on the width of the duration; fold them.
        let dots = regex::Regex::new(r" \.{2,} ").unwrap();
        dots.replace_all(&text, " ... ").to_string()
    }

    /// Query the project's DuckDB file (tests only; the crate under test owns its own
    /// connection and has exited by now).
    pub fn query(&self, db_file: &str, sql: &str) -> Vec<Vec<String>> {
        // strata's ICU (TIMESTAMPTZ values, time zones), as strata's own connections have it; the
        // project folder, so views over relative file paths resolve as in strata.
        strata::adapter::duckdb::register_icu().expect("register ICU");
        let conn = duckdb::Connection::open(self.root.join(db_file)).expect("open duckdb");
        let root = self.root.to_string_lossy().replace('\'', "''");
        conn.execute_batch(&format!("SET file_search_path = '{root}'")).expect("file_search_path");
        let mut stmt = conn.prepare(sql).expect("prepare");
        let mut rows = stmt.query([]).expect("query");
        let mut out = vec![];
        while let Some(row) = rows.next().expect("row") {
            let n = row.as_ref().column_count();
            let mut r = vec![];
            for i in 0..n {
                let v: duckdb::types::Value = row.get(i).expect("value");
                r.push(match v {
                    duckdb::types::Value::Null => "NULL".to_string(),
                    duckdb::types::Value::Text(s) => s,
                    duckdb::types::Value::Boolean(b) => b.to_string(),
                    duckdb::types::Value::Int(i) => i.to_string(),
                    duckdb::types::Value::BigInt(i) => i.to_string(),
                    duckdb::types::Value::HugeInt(i) => i.to_string(),
                    duckdb::types::Value::Double(f) => f.to_string(),
                    other => format!("{other:?}"),
                });
            }
            out.push(r);
        }
        out
    }
}
