//! Integration tests: one binary, a module per area, a shared [`util::TestProject`].

mod artifacts;
mod cli;
mod compare;
mod compile;
mod contracts;
mod diagnostics;
mod docs;
mod duckdb_features;
mod e2e;
mod fast_path;
mod freshness;
mod incremental;
mod lineage;
mod microbatch;
mod packages;
mod schema;
mod snapshots_e2e;
mod spark;
mod state;
mod static_parser;
mod testing;
mod util;
mod versions;
