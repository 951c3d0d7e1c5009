//! Compiles DuckDB's ICU extension (time zones, TIMESTAMPTZ arithmetic, collations) into strata.
//!
//! libduckdb-sys's `bundled` build compiles DuckDB with parquet and json, but its crate carries no
//! ICU sources, and its `icu` feature needs a DuckDB source checkout (`bundled-cmake`) that the
//! crates.io package does not have. DuckDB 2.0's ICU extension no longer depends on the ICU
//! library: it is ~30 C++ files with generated data, vendored from the DuckDB 2.0.0 sources in
//! `vendor/duckdb-icu` (see its PROVENANCE.md). They are compiled here against the headers of the
//! bundled DuckDB (libduckdb-sys publishes them as `DEP_DUCKDB_INCLUDE`), and registered at run
//! time with `duckdb_register_static_extension`, DuckDB's own mechanism for statically linked
//! extensions, so `LOAD icu` and autoloading find it without a network.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=vendor/duckdb-icu");
    println!("cargo:rerun-if-changed=vendor/duckdb-icu-shim");
    println!("cargo:rerun-if-changed=build.rs");
    let include =
        PathBuf::from(std::env::var("DEP_DUCKDB_INCLUDE").expect("libduckdb-sys publishes DEP_DUCKDB_INCLUDE"));
    // <root>/duckdb/src/include -> <root>/duckdb
    let duckdb_root = include.parent().and_then(Path::parent).expect("DuckDB source root").to_path_buf();
    let icu = Path::new("vendor/duckdb-icu");
    let mut files: Vec<PathBuf> = Vec::new();
    collect_cpp(icu, &mut files);
    files.push(PathBuf::from("vendor/duckdb-icu-shim/icu_describe.cpp"));
    files.sort();

    let mut build = cc::Build::new();
    // DuckDB's headers include its third-party headers (fmt, ...): the include folders its
    // bundled build uses, from the manifest libduckdb-sys compiles it by.
    for dir in base_include_dirs(&duckdb_root.join("manifest.json")) {
        build.include(duckdb_root.join(dir));
    }
    build
        .cpp(true)
        .files(&files)
        .include(&include)
        .include(icu.join("include"))
        .include(icu.join("collation/include"))
        .include(icu.join("datetime/include"))
        .include(duckdb_root.join("third_party/zstd/include"))
        .flag_if_supported("-std=c++17")
        .warnings(false)
        .flag_if_supported("-w")
        // The same build type as the DuckDB it links with: every profile strata defines compiles
        // dependencies without debug assertions, so libduckdb-sys defines NDEBUG (a DEBUG build
        // of DuckDB has other class layouts).
        .define("NDEBUG", None)
        .define("DUCKDB_EXTENSION_ICU_LINKED", Some("1"))
        // As DuckDB itself is compiled in every profile strata defines: optimised, without debug
        // info (which would make these objects ten times larger and much slower to compile).
        .debug(false)
        .opt_level(2);
    build.compile("strata_duckdb_icu");
}

/// `base.include_dirs` of DuckDB's source manifest (JSON, read by hand: a build dependency on a
/// JSON parser for one list is not worth its compile time).
fn base_include_dirs(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).expect("DuckDB's manifest.json next to its sources");
    let base = &text[text.find("\"base\"").expect("manifest base")..];
    let list = &base[base.find("\"include_dirs\"").expect("base include_dirs")..];
    let list = &list[list.find('[').expect("[")..list.find(']').expect("]")];
    list.split('"').skip(1).step_by(2).map(str::to_string).collect()
}

fn collect_cpp(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_cpp(&p, out);
        } else if p.extension().is_some_and(|x| x == "cpp") {
            out.push(p);
        }
    }
}
