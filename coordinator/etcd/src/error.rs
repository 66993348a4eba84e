use std::time::Duration;

/// An error talking to etcd. Messages name the operation and what to check; they never
/// contain stored values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// The configuration cannot work (no endpoint, TLS without `https://`, a bad prefix…).
    #[error("{0}")]
    Config(String),
    /// No endpoint answered in time: every member down, partitioned, or without a leader.
    #[error(
        "etcd did not complete {op} within {} ms (endpoints {endpoints}; last error: {last}); check that a majority of the etcd members is up and reachable from here",
        timeout.as_millis()
    )]
    Unavailable {
        op: &'static str,
        endpoints: String,
        timeout: Duration,
        last: String,
    },
    /// etcd answered with an error that retrying elsewhere cannot fix.
    #[error("etcd refused {op}: {message} ({code})")]
    Rejected {
        op: &'static str,
        code: String,
        message: String,
    },
    /// The TLS handshake with etcd failed: a certificate problem retrying cannot fix.
    #[error(
        "TLS to etcd at {endpoint} failed: {detail}; check that --etcd-ca is the CA that signed the etcd members' certificates, that they name the host in the endpoint URL, and that --etcd-cert/--etcd-key are a client certificate etcd trusts"
    )]
    Tls { endpoint: String, detail: String },
    /// The request is larger than etcd's `--max-request-bytes`; nothing was sent.
    #[error(
        "{size} bytes is more than etcd accepts ({limit} bytes per value with --etcd-max-request-bytes {max_request_bytes}); {REMEDY}"
    )]
    TooLarge {
        size: usize,
        limit: usize,
        max_request_bytes: usize,
    },
    /// etcd answered something this client cannot use (a protocol mismatch).
    #[error("etcd answered {op} unexpectedly: {detail}")]
    Protocol { op: &'static str, detail: String },
    /// The client was closed ([`crate::EtcdClient::close`]).
    #[error("the etcd client was shut down")]
    Closed,
}

/// How to raise the size limit; part of every size error.
pub(crate) const REMEDY: &str = "raise --max-request-bytes on every etcd member and pass the same number to the Coordinator's --etcd-max-request-bytes (etcd's default is 1572864, 1.5 MiB), or store a smaller manifest or policy";
