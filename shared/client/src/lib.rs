//! The client side of a Seedward Coordinator, for every program that talks to one: the
//! `seedward` console and its subcommands, the workload initializer, the tests.
//!
//! | module | what it holds |
//! |---|---|
//! | [`tls`] | TLS 1.3 with Seedward's trust rules: a Coordinator is a key, not a host name (first use, or a pinned root CA key) |
//! | [`user`] | the user API client ([`CoordinatorClient`]) that logs every RPC's outcome, never a payload |
//!
//! Refusals are `tonic::Status` values; [`Reason::of`] reads their typed reason.

pub mod tls;
pub mod user;

pub use seedward_proto::Reason;
pub use tls::{ClientError, Connection, Trust, connect, error_chain};
pub use user::{CoordinatorClient, MAX_RESPONSE_BYTES};
