//! `seedward`: the seed share owner's console for a Seedward Coordinator.
//!
//! | module | role |
//! |---|---|
//! | [`ops`] | every operator action as plain async functions; the TUI and the subcommands share it |
//! | [`ops_bundle`] | offline audit material: the history bundle and the `verify/` folder |
//! | [`embedded`] | the local Coordinator `seedward` runs on loopback (feature `embedded-coordinator`) |
//! | [`state_lock`] | one embedded Coordinator per state directory (a lock file naming its holder) |
//! | [`keystore`] | owner keys at rest: OS keyring or 0600 files, and the public index |
//! | [`workspace`] | the operator's files: seed shares (0600), CA certificates, manifest |

/// The Coordinator client (TLS trust, user API), from `seedward-client`.
pub use seedward_client as client;
pub mod embedded;
pub mod keystore;
pub mod ops;
pub mod ops_bundle;
pub mod state_lock;
pub mod ui;
pub mod workspace;
