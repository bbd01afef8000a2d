//! The on-store format: where each kind of object lives, and the repository's identity record.

pub mod catalog;
pub mod identity;
pub mod layout;
pub mod manifest;
pub mod tarpart;
pub mod wal;

pub use identity::RepoIdentity;
