//! The workload side end to end: the real `seedward-initializer` binary against a real
//! Coordinator (certificates, workload secrets, pinning), and its LUKS volume setup with the
//! real `cryptsetup` on a file image.
//!
//! Run one module with `cargo test -p seedward-tests --test initializer -- MODULE::`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod cryptsetup;
mod workloads;
