//! The `strata` binary: parse argv, run, exit with the command's code.

/// mimalloc instead of the system allocator: strata allocates many small strings and maps, and
/// (the crate's `override` feature) DuckDB's C++ allocates through malloc and free, which
/// mimalloc replaces in this binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cancel = std::sync::Arc::new(strata::cancel::Cancel::default());
    let on_signal = cancel.clone();
    // Without a handler the process just ends; with one that fails to install, the same.
    let _ = ctrlc::set_handler(move || {
        if on_signal.signal() == strata::cancel::Action::Exit {
            std::process::exit(130);
        }
    });
    let code = strata::main_with_cancel(std::env::args_os(), cancel);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(2))
}
