//! Hidden `completions`: prints the shell completion scripts committed under `completions/`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{Error, Result};

pub fn run(args: &CompletionsArgs) -> Result<()> {
    std::io::stdout()
        .write_all(&script(args.shell))
        .map_err(|e| Error::failed(format!("cannot write completions: {e}")))
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "walden", &mut out);
    out
}

/// The committed file name for `shell`'s script.
pub fn file_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "walden.bash",
        Shell::Zsh => "_walden",
        Shell::Fish => "walden.fish",
        Shell::Elvish => "walden.elv",
        Shell::PowerShell => "_walden.ps1",
        _ => "walden.completion",
    }
}
