//! walden keeps PostgreSQL clusters recoverable: WAL archiving to object storage through compression and encryption stages.

pub mod ages;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod pg;
pub mod pipeline;
pub mod repo;
pub mod spool;
pub mod storage;

use std::ffi::OsString;
use std::path::Path;

use clap::Parser;

use crate::cli::Cli;
use crate::config::Settings;
use crate::error::{exit_code, Kind, Role};

/// Runs walden with these arguments and returns the process exit code.
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> u8 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return report_usage_error(err, &args),
    };
    let role = cli.command.role();
    exit_on_panic(role);
    let global = cli.global;
    let settings = Settings::resolve(
        global.settings.clone(),
        global.config.as_deref(),
        Path::new(config::DEFAULT_CONFIG_FILE),
    );
    let settings = match settings {
        Ok(settings) => settings,
        Err(err) => {
            let fallback = Settings::without_file(global.settings);
            logging::init(
                fallback.log_format(),
                fallback.log_level(),
                global.verbose,
                global.quiet,
            );
            tracing::error!("{err}");
            return exit_code(role, err.kind);
        }
    };
    logging::init(
        settings.log_format(),
        settings.log_level(),
        global.verbose,
        global.quiet,
    );
    let settings = settings.with_quiet(global.quiet);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            return exit_code(role, Kind::Failed);
        }
    };
    match runtime.block_on(commands::run(cli.command, &settings)) {
        Ok(()) => error::EXIT_OK,
        Err(err) => {
            // "Not in the archive" is how every recovery ends, and a standby
            // asks every few seconds: not an error, and not worth a line in
            // PostgreSQL's log each time (-v shows it). PostgreSQL itself logs
            // what the operator needs: "archive recovery complete", "started
            // streaming WAL", or a recovery target not reached.
            if role == Role::WalFetch && err.kind == Kind::NotFound {
                tracing::debug!("{err}");
            } else if err.kind == Kind::Warning {
                tracing::warn!("{err}");
            } else {
                tracing::error!("{err}");
            }
            exit_code(role, err.kind)
        }
    }
}

/// Makes a panic, on any thread, end the process with the status `role`
/// needs (see `error::panic_exit_code`), after the usual panic message.
fn exit_on_panic(role: Role) {
    let Some(code) = error::panic_exit_code(role) else {
        return;
    };
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(code.into());
    }));
}

/// clap's own errors: help and version are success; anything else is a usage
/// error, except for wal-fetch, where it must stop recovery (see error.rs).
fn report_usage_error(err: clap::Error, args: &[OsString]) -> u8 {
    use clap::error::ErrorKind as E;
    let _ = err.print();
    if matches!(err.kind(), E::DisplayHelp | E::DisplayVersion) {
        return error::EXIT_OK;
    }
    let role = if args.iter().any(|a| a == "wal-fetch") {
        Role::WalFetch
    } else if args.iter().any(|a| a == "status") {
        Role::Status
    } else {
        Role::Other
    };
    exit_code(role, Kind::Usage)
}
