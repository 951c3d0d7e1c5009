//! Integration tests: one binary, a module per area, a shared [`util::TestProject`].

mod cli;
mod compile;
mod diagnostics;
mod e2e;
mod testing;
mod util;
