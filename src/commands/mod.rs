//! One module per command; `run` dispatches to them.

pub mod backup_list;
pub mod backup_push;
pub mod check;
pub mod completions;
pub mod demo;
pub mod drill;
pub mod info;
pub mod man;
pub mod progress;
pub mod prune;
pub mod restore;
pub mod status;
pub mod verify;
pub mod wal_fetch;
pub mod wal_push;

use crate::cli::Command;
use crate::config::Settings;
use crate::error::Result;

pub async fn run(command: Command, settings: &Settings) -> Result<()> {
    match command {
        Command::WalPush(args) => wal_push::run(&args, settings).await,
        Command::WalFetch(args) => wal_fetch::run(&args, settings).await,
        Command::BackupPush(args) => backup_push::run(&args, settings).await,
        Command::BackupList(args) => backup_list::run(&args, settings).await,
        Command::Restore(args) => restore::run(&args, settings).await,
        Command::Prune(args) => prune::run(&args, settings).await,
        Command::Verify(args) => verify::run(&args, settings).await,
        Command::Status(args) => status::run(&args, settings).await,
        Command::Drill(args) => drill::run(&args, settings).await,
        Command::Check(args) => check::run(&args, settings).await,
        Command::Info(args) => info::run(&args, settings).await,
        Command::Demo(args) => demo::run(&args, settings).await,
        Command::Man(args) => man::run(&args),
        Command::Completions(args) => completions::run(&args),
    }
}
