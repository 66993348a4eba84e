//! The `seedward-coordinator` daemon, end to end: the real binary over real TLS sockets, on a
//! real state directory or a real etcd cluster, driven by the real client library, by the
//! operator's own flows and by an independent Python client.
//!
//! One test binary (one link, one process) for every daemon-facing suite; each module says
//! what it covers. Run one with `cargo test -p seedward-tests --test coordinator -- MODULE::`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

#[path = "../clients/cli_support.rs"]
mod cli_support;
mod support;

mod connections;
mod crash;
mod deploy_assets;
mod errors;
mod etcd_coordinator;
mod etcd_store;
mod history_stream;
mod lifecycle;
mod load;
mod logs_and_timeouts;
mod peer_recovery;
mod process_hardening;
mod python_client;
mod races;
mod tamper;
