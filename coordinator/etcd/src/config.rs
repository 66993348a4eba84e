//! How to reach etcd: endpoints, TLS, timeouts and the request size limit.
//!
//! # Invariants
//! - Endpoints are `http://host:port` or `https://host:port`, all with the same scheme;
//!   `https` needs [`EtcdTls`] and TLS needs `https` (a CA given with plain-text endpoints
//!   would silently not be used, so it is an error).
//! - The client private key is never printed (`Debug` redacts it).

use std::fmt;
use std::time::Duration;

use crate::EtcdError;

/// etcd's default `--max-request-bytes`: 1.5 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1_572_864;
/// Default key prefix of everything Seedward keeps in etcd.
pub const DEFAULT_PREFIX: &str = "/seedward";
/// Default bound of one store or client call, retries and failover included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound of one TCP (and TLS) connection attempt to one endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Where etcd is and how to talk to it.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// `http://host:port` or `https://host:port`, one per member (or a load balancer).
    pub endpoints: Vec<String>,
    /// TLS to etcd; required by, and only allowed with, `https://` endpoints.
    pub tls: Option<EtcdTls>,
    /// Bound of one connection attempt to one endpoint.
    pub connect_timeout: Duration,
    /// Bound of one call, across all retries and endpoints: a partitioned or dead cluster
    /// makes a call fail after this long, never hang.
    pub request_timeout: Duration,
    /// The etcd members' `--max-request-bytes` (default 1.5 MiB). Values are refused
    /// before they are sent when a request would exceed it.
    pub max_request_bytes: usize,
}

/// TLS to etcd: the CA that signed the members' certificates, and optionally a client
/// certificate for etcd's `--client-cert-auth`.
#[derive(Clone)]
pub struct EtcdTls {
    /// PEM, one or more certificates.
    pub ca_pem: Vec<u8>,
    pub client: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, both PEM.
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl EtcdConfig {
    /// Defaults for everything but the endpoints.
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            tls: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }

    /// Splits a comma-separated endpoint list (`--etcd-endpoints`), trimming blanks.
    pub fn parse_endpoints(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Checks the invariants in the module docs.
    pub fn validate(&self) -> Result<(), EtcdError> {
        if self.endpoints.is_empty() {
            return Err(EtcdError::Config(
                "no etcd endpoint given; pass --etcd-endpoints http://host:2379[,…]".into(),
            ));
        }
        let mut https = None;
        for endpoint in &self.endpoints {
            let this = if endpoint.starts_with("https://") {
                true
            } else if endpoint.starts_with("http://") {
                false
            } else {
                return Err(EtcdError::Config(format!(
                    "etcd endpoint `{endpoint}` has no scheme; write http://host:port or https://host:port"
                )));
            };
            if https.is_some_and(|h| h != this) {
                return Err(EtcdError::Config(
                    "etcd endpoints mix http:// and https://; use one scheme for all".into(),
                ));
            }
            https = Some(this);
        }
        match (https == Some(true), self.tls.is_some()) {
            (true, false) => Err(EtcdError::Config(
                "https:// etcd endpoints need the CA that signed etcd's certificates; pass --etcd-ca FILE".into(),
            )),
            (false, true) => Err(EtcdError::Config(
                "--etcd-ca/--etcd-cert/--etcd-key are set but the etcd endpoints are http://; use https:// endpoints for TLS".into(),
            )),
            _ => Ok(()),
        }?;
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(EtcdError::Config("etcd timeouts must be above zero".into()));
        }
        if self.max_request_bytes < crate::store::REQUEST_OVERHEAD_BYTES * 2 {
            return Err(EtcdError::Config(format!(
                "--etcd-max-request-bytes {} is too small; etcd's default is {DEFAULT_MAX_REQUEST_BYTES}",
                self.max_request_bytes
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdTls")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("client", &self.client)
            .finish()
    }
}

impl fmt::Debug for ClientIdentity {
    /// Redacts the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn endpoint_lists_are_split_and_trimmed() {
        assert_eq!(
            EtcdConfig::parse_endpoints(" http://a:1, http://b:2 ,,"),
            vec!["http://a:1".to_string(), "http://b:2".to_string()]
        );
    }

    #[test]
    fn invalid_configurations_say_what_to_do() {
        let cases: [(EtcdConfig, &str); 5] = [
            (EtcdConfig::new(vec![]), "--etcd-endpoints"),
            (EtcdConfig::new(vec!["a:2379".into()]), "no scheme"),
            (
                EtcdConfig::new(vec!["http://a:1".into(), "https://b:1".into()]),
                "mix",
            ),
            (EtcdConfig::new(vec!["https://a:1".into()]), "--etcd-ca"),
            (
                EtcdConfig {
                    tls: Some(EtcdTls {
                        ca_pem: vec![],
                        client: None,
                    }),
                    ..EtcdConfig::new(vec!["http://a:1".into()])
                },
                "use https://",
            ),
        ];
        for (config, needle) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        EtcdConfig::new(vec!["http://127.0.0.1:2379".into()])
            .validate()
            .unwrap();
    }

    #[test]
    fn debug_redacts_the_client_key() {
        let tls = EtcdTls {
            ca_pem: b"ca".to_vec(),
            client: Some(ClientIdentity {
                cert_pem: b"cert".to_vec(),
                key_pem: b"-----BEGIN PRIVATE KEY-----secret".to_vec(),
            }),
        };
        let text = format!("{tls:?}");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
