//! The Seedward Coordinator: a slim daemon that turns a random seed into its keys, keeps
//! them in memory only, and persists a signed manifest history (docs/COORDINATOR.md).
//!
//! | module | role |
//! |---|---|
//! | [`core`] | the state machine and the driver that persists before it commits |
//! | [`store`] | the crash-safe filesystem history store |
//! | [`backend`] | `--store fs\|etcd` and the etcd flags: which history store to open |
//! | [`ca`], [`tls`] | root CA, mesh CA, the Coordinator's TLS identity |
//! | [`evidence`] | the evidence provider trait and the development (unattested) provider |
//! | [`error`] | core errors and their one mapping to gRPC status |
//! | [`refusals`] | refused requests in the log: rate-limited, summarised, with the peer's address |
//! | [`convert`], [`service`], [`server`] | the gRPC edge (wire types ↔ domain values), the services and their wiring |
//! | [`peer`] | peer recovery between replicas: the peer API (mutual TLS), the asking task |
//! | [`recoveries`] | who recovered this process (an owner or a peer), and when |
//! | [`connections`] | the connection cap, idle timeout and eviction, rate-limited log lines |
//! | [`credentials`], [`workload`] | workload evidence, mesh certificates and workload secrets; the workload API |

pub mod backend;
pub mod ca;
pub mod connections;
pub mod convert;
pub mod core;
pub mod credentials;
pub mod error;
pub mod evidence;
pub mod peer;
pub mod recoveries;
pub mod refusals;
pub mod replicas;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
pub mod workload;
pub mod workload_evidence;

pub use server::{RunningServer, ServerConfig, start};
