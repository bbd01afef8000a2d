//! The on-store format: where each kind of object lives, and the repository's identity record.

pub mod catalog;
pub mod chain_restore;
pub mod chains;
pub mod continuity;
pub mod drills;
pub mod file_list;
pub mod forks;
pub mod identity;
pub mod inventory;
pub mod layout;
pub mod manifest;
pub mod part_restore;
pub mod retention;
pub mod selection;
pub mod tar_recut;
pub mod tarpart;
pub mod wal;
pub mod window;

pub use identity::RepoIdentity;
