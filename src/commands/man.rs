//! Hidden `man`: writes the man pages committed under `man/`.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::error::{Error, Result};

pub fn run(args: &ManArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", args.out_dir.display())))?;
    for (name, page) in pages() {
        write(&args.out_dir.join(name), &page)?;
    }
    Ok(())
}

/// Every man page: `walden.1` and `walden-<command>.1` for each visible command.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let root = Cli::command();
    let mut pages = vec![("walden.1".to_string(), render(root.clone()))];
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("walden-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).display_name(name.clone());
        pages.push((format!("{name}.1"), render(page)));
    }
    pages
}

fn render(command: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    out
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}
