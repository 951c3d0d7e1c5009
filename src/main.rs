//! The `strata` binary: parse argv, run, exit with the command's code.

fn main() -> std::process::ExitCode {
    let code = strata::main_with_args(std::env::args_os());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(2))
}
