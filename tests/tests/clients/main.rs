//! The operator's tools end to end: the `seedward` CLI (golden outputs, exit codes, the real
//! Secret Service) and the TUI in a real pseudo-terminal (tmux), against a real Coordinator
//! process; and secret hygiene over the whole lifecycle at trace level.
//!
//! One test binary for every client-facing suite; each module says what it covers. Run one
//! with `cargo test -p seedward-tests --test clients -- MODULE::`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod cli_support;
mod tui_support;

mod attestation_e2e;
mod cli_failures;
mod cli_keyring;
mod cli_lifecycle;
mod secret_hygiene;
mod threshold;
mod tui_e2e;
mod tui_hangup;
mod tui_history;
mod tui_recovery;
mod tui_small;
mod tui_update;
