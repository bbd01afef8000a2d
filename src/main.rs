//! walden's entry point: parse, run, exit with the code from `error::exit_code`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(walden::run(std::env::args_os()))
}
