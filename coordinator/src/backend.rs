//! Which history store the Coordinator runs on, and the flags that choose it.
//!
//! | `--store` | history lives in | for |
//! |---|---|---|
//! | `fs` (default) | `<state-dir>/history/` ([`crate::store::FsStore`]) | one replica, a laptop |
//! | `etcd` | `<--etcd-prefix>/history/…` in etcd ([`seedward_etcd::EtcdStore`]) | several replicas sharing one history (docs/HA.md) |
//!
//! [`StoreArgs`] is flattened into the binary's flags; [`StoreArgs::into_config`] reads the TLS
//! files and checks the combination, so that a wrong flag fails at start-up with a message
//! naming it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use seedward_etcd::{ClientIdentity, EtcdConfig, EtcdTls};

/// The history store chosen by the flags.
#[derive(Debug, Clone, Default)]
pub enum StoreConfig {
    /// The filesystem under the state directory.
    #[default]
    Fs,
    /// etcd, shared by several replicas.
    Etcd {
        etcd: EtcdConfig,
        prefix: String,
        /// `--advertise-address`: where this replica's user API is reached (its presence
        /// record); `None` = the listen address, or `<replica-id>:<port>` when that is a
        /// wildcard.
        advertise: Option<String>,
    },
}

impl StoreConfig {
    /// Where the history is, for logs.
    pub fn describe(&self, state_dir: &Path) -> String {
        match self {
            StoreConfig::Fs => format!("{}", state_dir.join("history").display()),
            StoreConfig::Etcd { etcd, prefix, .. } => {
                format!("etcd {} under {prefix}/history", etcd.endpoints.join(","))
            }
        }
    }
}

/// `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    Fs,
    Etcd,
}

/// The store flags of `seedward-coordinator`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Where the manifest history lives: `fs` (under --state-dir) or `etcd` (shared by
    /// several replicas; needs --etcd-endpoints).
    #[arg(long, env = "SEEDWARD_STORE", value_enum, default_value_t = StoreKind::Fs)]
    pub store: StoreKind,
    /// etcd member URLs, comma-separated: http://host:2379 or https://host:2379.
    #[arg(long, env = "SEEDWARD_ETCD_ENDPOINTS", value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,
    /// Key prefix of everything this deployment keeps in etcd.
    #[arg(long, env = "SEEDWARD_ETCD_PREFIX", default_value = seedward_etcd::DEFAULT_PREFIX)]
    pub etcd_prefix: String,
    /// PEM file of the CA that signed the etcd members' certificates (https:// endpoints).
    #[arg(long, env = "SEEDWARD_ETCD_CA")]
    pub etcd_ca: Option<PathBuf>,
    /// PEM client certificate for etcd's --client-cert-auth (with --etcd-key).
    #[arg(long, env = "SEEDWARD_ETCD_CERT", requires = "etcd_key")]
    pub etcd_cert: Option<PathBuf>,
    /// PEM private key of --etcd-cert.
    #[arg(long, env = "SEEDWARD_ETCD_KEY", requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,
    /// The etcd members' --max-request-bytes; larger manifests and policies are refused
    /// with a clear error before they are sent.
    #[arg(long, env = "SEEDWARD_ETCD_MAX_REQUEST_BYTES", default_value_t = seedward_etcd::DEFAULT_MAX_REQUEST_BYTES)]
    pub etcd_max_request_bytes: usize,
    /// Milliseconds one etcd call may take, failover between members included.
    #[arg(long, env = "SEEDWARD_ETCD_TIMEOUT_MS", default_value_t = seedward_etcd::DEFAULT_REQUEST_TIMEOUT.as_millis() as u64)]
    pub etcd_timeout_ms: u64,
    /// This replica's name in the replica set (default: the hostname).
    #[arg(long, env = "SEEDWARD_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// host:port where clients reach this replica, as shown on the replica board
    /// (default: the listen address, or <replica-id>:<port> when listening on a wildcard).
    #[arg(long, env = "SEEDWARD_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<String>,
}

impl StoreArgs {
    /// The store configuration, with the TLS files read.
    pub fn into_config(self) -> anyhow::Result<StoreConfig> {
        match self.store {
            StoreKind::Fs => {
                let etcd_flags = [
                    (!self.etcd_endpoints.is_empty(), "--etcd-endpoints"),
                    (self.etcd_ca.is_some(), "--etcd-ca"),
                    (self.etcd_cert.is_some(), "--etcd-cert"),
                    (self.advertise_address.is_some(), "--advertise-address"),
                ];
                if let Some((_, flag)) = etcd_flags.iter().find(|(set, _)| *set) {
                    bail!("{flag} is set but the store is the filesystem; add --store etcd");
                }
                Ok(StoreConfig::Fs)
            }
            StoreKind::Etcd => {
                let mut etcd = EtcdConfig::new(self.etcd_endpoints);
                etcd.max_request_bytes = self.etcd_max_request_bytes;
                etcd.request_timeout = Duration::from_millis(self.etcd_timeout_ms);
                if let Some(ca) = &self.etcd_ca {
                    let client = match (&self.etcd_cert, &self.etcd_key) {
                        (Some(cert), Some(key)) => Some(ClientIdentity {
                            cert_pem: read_pem(cert, "--etcd-cert")?,
                            key_pem: read_pem(key, "--etcd-key")?,
                        }),
                        _ => None,
                    };
                    etcd.tls = Some(EtcdTls {
                        ca_pem: read_pem(ca, "--etcd-ca")?,
                        client,
                    });
                } else if self.etcd_cert.is_some() {
                    bail!(
                        "--etcd-cert needs --etcd-ca (the CA that signed the etcd members' certificates)"
                    );
                }
                etcd.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
                seedward_etcd::store::validate_prefix(&self.etcd_prefix)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if let Some(address) = &self.advertise_address
                    && (address.is_empty()
                        || address.len() > 255
                        || address.chars().any(|c| c.is_control() || c.is_whitespace()))
                {
                    bail!(
                        "--advertise-address {address:?} is not a host:port (no spaces or control characters, at most 255 bytes)"
                    );
                }
                Ok(StoreConfig::Etcd {
                    etcd,
                    prefix: self.etcd_prefix,
                    advertise: self.advertise_address,
                })
            }
        }
    }

    /// `--replica-id`, or the hostname.
    pub fn replica_id(&self) -> anyhow::Result<String> {
        let id = match &self.replica_id {
            Some(id) => id.clone(),
            None => hostname().context("cannot read the hostname; pass --replica-id")?,
        };
        seedward_etcd::validate_replica_id(&id).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(id)
    }
}

fn read_pem(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))
}

/// The kernel's hostname (Linux), else `$HOSTNAME`.
fn hostname() -> anyhow::Result<String> {
    let name = match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(name) => name,
        Err(_) => {
            std::env::var("HOSTNAME").context("no /proc/sys/kernel/hostname and no $HOSTNAME")?
        }
    };
    let name = name.trim();
    if name.is_empty() {
        bail!("the hostname is empty");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        store: StoreArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<StoreConfig> {
        let flags = Flags::try_parse_from(std::iter::once("x").chain(args.iter().copied()))?;
        flags.store.into_config()
    }

    #[test]
    fn the_filesystem_is_the_default() {
        assert!(matches!(parse(&[]).unwrap(), StoreConfig::Fs));
    }

    #[test]
    fn etcd_flags_build_an_etcd_config() {
        let StoreConfig::Etcd { etcd, prefix, .. } = parse(&[
            "--store",
            "etcd",
            "--etcd-endpoints",
            "http://a:2379,http://b:2379",
            "--etcd-prefix",
            "/prod/seedward",
            "--etcd-timeout-ms",
            "2500",
        ])
        .unwrap() else {
            panic!("not etcd");
        };
        assert_eq!(etcd.endpoints, ["http://a:2379", "http://b:2379"]);
        assert_eq!(prefix, "/prod/seedward");
        assert_eq!(etcd.request_timeout, Duration::from_millis(2500));
        assert_eq!(etcd.max_request_bytes, 1_572_864);
    }

    #[test]
    fn wrong_combinations_name_the_flag() {
        for (args, needle) in [
            (&["--etcd-endpoints", "http://a:1"][..], "add --store etcd"),
            (&["--store", "etcd"][..], "--etcd-endpoints"),
            (
                &["--store", "etcd", "--etcd-endpoints", "https://a:1"][..],
                "--etcd-ca",
            ),
            (
                &[
                    "--store",
                    "etcd",
                    "--etcd-endpoints",
                    "http://a:1",
                    "--etcd-prefix",
                    "x",
                ][..],
                "--etcd-prefix",
            ),
            (
                &[
                    "--store",
                    "etcd",
                    "--etcd-endpoints",
                    "https://a:1",
                    "--etcd-ca",
                    "/nonexistent/ca.pem",
                ][..],
                "--etcd-ca /nonexistent/ca.pem",
            ),
        ] {
            let err = format!("{:#}", parse(args).unwrap_err());
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        // A client certificate without its key is refused by clap itself.
        assert!(
            parse(&[
                "--store",
                "etcd",
                "--etcd-endpoints",
                "http://a:1",
                "--etcd-cert",
                "c.pem"
            ])
            .is_err()
        );
    }

    #[test]
    fn replica_id_defaults_to_the_hostname_and_is_checked() {
        let flags = Flags::try_parse_from(["x"]).unwrap();
        assert!(!flags.store.replica_id().unwrap().is_empty());
        let flags = Flags::try_parse_from(["x", "--replica-id", "a/b"]).unwrap();
        assert!(flags.store.replica_id().is_err());
    }
}
