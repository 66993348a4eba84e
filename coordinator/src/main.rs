//! `seedward-coordinator`: the daemon binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use seedward_coordinator::backend::StoreArgs;
use seedward_coordinator::evidence::{AttestationConfig, AttestationMode};
use seedward_coordinator::peer::PeerConfig;
use seedward_coordinator::server::VerificationConfig;
use seedward_coordinator::{ServerConfig, start};

/// Seedward Coordinator: derives its keys from a secret seed, keeps them in memory only,
/// and persists a signed manifest history. After a restart it refuses to act until a seed
/// share owner recovers it (`seedward recover`).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address of the gRPC user API (TLS).
    #[arg(long, env = "SEEDWARD_LISTEN", default_value = "127.0.0.1:1313")]
    listen: SocketAddr,
    /// Where the manifest history lives (default: the platform data directory).
    #[arg(long, env = "SEEDWARD_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Extra DNS names for the TLS certificate (repeatable).
    #[arg(long = "dns-name", env = "SEEDWARD_DNS_NAMES", value_delimiter = ',')]
    dns_names: Vec<String>,
    /// Log format.
    #[arg(long, env = "SEEDWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log level or filter (tracing EnvFilter syntax, e.g. `info` or `seedward_coordinator=debug`).
    #[arg(long, env = "SEEDWARD_LOG", default_value = "info")]
    log_level: String,
    /// Seconds a recovery challenge stays valid.
    #[arg(long, env = "SEEDWARD_CHALLENGE_TTL", default_value_t = 300)]
    challenge_ttl_secs: u64,
    /// Seconds a threshold recovery session stays open (docs/COORDINATOR.md, "Recovery sessions").
    #[arg(long, env = "SEEDWARD_RECOVERY_SESSION_TTL", default_value_t = 900)]
    recovery_session_ttl_secs: u64,
    /// Seconds a request may take before it is answered DEADLINE_EXCEEDED.
    #[arg(long, env = "SEEDWARD_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Most client connections held at once; kept 32 below the open-files limit as well.
    #[arg(long, env = "SEEDWARD_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection with no request in flight stays open.
    #[arg(long, env = "SEEDWARD_IDLE_TIMEOUT", default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Seconds a TLS handshake may take.
    #[arg(long, env = "SEEDWARD_HANDSHAKE_TIMEOUT", default_value_t = 10)]
    handshake_timeout_secs: u64,
    /// On SIGTERM/SIGINT, seconds in-flight requests may take before every connection is closed.
    #[arg(long, env = "SEEDWARD_SHUTDOWN_GRACE", default_value_t = 5)]
    shutdown_grace_secs: u64,
    /// The history was deliberately wiped: allow a first set (a new seed) although the state
    /// directory records that this Coordinator was initialized before (docs/COORDINATOR.md).
    #[arg(long, env = "SEEDWARD_ALLOW_REINITIALIZE")]
    allow_reinitialize: bool,
    /// Seconds a store operation may run before liveness reports NOT_SERVING.
    #[arg(long, env = "SEEDWARD_STORE_STALL_SECS", default_value_t = 10)]
    store_stall_secs: u64,
    /// The most manifest and policy bytes GetManifests sends in one message; a longer
    /// history is refused with HISTORY_TOO_LARGE and read with StreamManifests.
    #[arg(long, env = "SEEDWARD_MAX_HISTORY_MESSAGE_BYTES", default_value_t = 64 << 20)]
    max_history_message_bytes: usize,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    peer: PeerArgs,
    #[command(flatten)]
    attestation: AttestationArgs,
}

/// Peer recovery between replicas on one etcd store (docs/HA.md, "Peer recovery").
#[derive(Debug, clap::Args)]
struct PeerArgs {
    /// Address of the peer API (mutual TLS), e.g. 0.0.0.0:1314; off when absent. Other
    /// replicas recover from this one through it.
    #[arg(long, env = "SEEDWARD_PEER_LISTEN")]
    peer_listen: Option<SocketAddr>,
    /// Peers' peer API addresses, host:port, comma-separated (besides the replica board's).
    #[arg(long, env = "SEEDWARD_PEERS", value_delimiter = ',')]
    peers: Vec<String>,
    /// A name:port that resolves to every replica (a Kubernetes headless service),
    /// resolved again before every round of asking.
    #[arg(long, env = "SEEDWARD_PEER_DNS")]
    peer_dns: Option<String>,
    /// DEVELOPMENT ONLY: with --attestation none, hand the seed to (and take it from)
    /// unattested peers. Every replica needs it; every use is logged at WARN.
    #[arg(long, env = "SEEDWARD_ALLOW_UNATTESTED_PEERS")]
    allow_unattested_peers: bool,
    /// Milliseconds of the first pause after a round in which no peer helped (doubled
    /// each round, jittered).
    #[arg(long, env = "SEEDWARD_PEER_RETRY_MIN_MS", default_value_t = 500)]
    peer_retry_min_ms: u64,
    /// Longest pause between rounds, in milliseconds.
    #[arg(long, env = "SEEDWARD_PEER_RETRY_MAX_MS", default_value_t = 30_000)]
    peer_retry_max_ms: u64,
}

impl PeerArgs {
    fn into_config(self, etcd: bool) -> anyhow::Result<PeerConfig> {
        if !etcd {
            let set = [
                (self.peer_listen.is_some(), "--peer-listen"),
                (!self.peers.is_empty(), "--peers"),
                (self.peer_dns.is_some(), "--peer-dns"),
                (self.allow_unattested_peers, "--allow-unattested-peers"),
            ];
            if let Some((_, flag)) = set.iter().find(|(on, _)| *on) {
                anyhow::bail!(
                    "{flag} is set but the store is the filesystem: peer recovery needs replicas sharing one store; add --store etcd"
                );
            }
        }
        for peer in self.peers.iter().chain(self.peer_dns.iter()) {
            let ok = peer
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                anyhow::bail!(
                    "--peers/--peer-dns {peer:?} is not host:port (e.g. seedward-coordinator-1.seedward-coordinator:1314)"
                );
            }
        }
        if self.peer_retry_min_ms == 0 || self.peer_retry_min_ms > self.peer_retry_max_ms {
            anyhow::bail!(
                "--peer-retry-min-ms must be at least 1 and at most --peer-retry-max-ms ({})",
                self.peer_retry_max_ms
            );
        }
        Ok(PeerConfig {
            listen: self.peer_listen,
            peers: self.peers,
            dns: self.peer_dns,
            allow_unattested: self.allow_unattested_peers,
            retry_min: Duration::from_millis(self.peer_retry_min_ms),
            retry_max: Duration::from_millis(self.peer_retry_max_ms),
            ..PeerConfig::default()
        })
    }
}

/// How the Coordinator attests itself and verifies others (docs/ATTESTATION.md).
#[derive(Debug, clap::Args)]
struct AttestationArgs {
    /// Evidence this Coordinator produces: `snp` or `tdx` (refuses to start unless the
    /// platform produces a report), `auto` (the TEE the tsm provider names, else `none`
    /// with a warning), `none` (development: UNATTESTED).
    #[arg(long, env = "SEEDWARD_ATTESTATION", value_enum, default_value_t = Mode::Auto)]
    attestation: Mode,
    /// The configfs-tsm report directory.
    #[arg(long, env = "SEEDWARD_TSM_DIR", value_name = "DIR")]
    tsm_dir: Option<PathBuf>,
    /// Collateral to hand out with the evidence and to verify workloads with: SNP CRLs
    /// (`*.crl`, DER or PEM), TDX `tdx-collateral.json`.
    #[arg(long, env = "SEEDWARD_COLLATERAL_DIR", value_name = "DIR")]
    collateral_dir: Option<PathBuf>,
    /// Accept workload evidence whose revocation cannot be checked for lack of a CRL.
    #[arg(long, env = "SEEDWARD_WAIVE_REVOCATION_CHECK")]
    waive_revocation_check: bool,
    /// TESTS ONLY: trust this test ARK bundle (PEM) instead of AMD's pinned roots. A
    /// release build also needs SEEDWARD_ALLOW_TEST_TRUST_ANCHOR=1.
    #[arg(long, value_name = "PEM", hide = true)]
    test_trust_anchor: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Auto,
    Snp,
    Tdx,
    None,
}

impl From<Mode> for AttestationMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Auto => AttestationMode::Auto,
            Mode::Snp => AttestationMode::Snp,
            Mode::Tdx => AttestationMode::Tdx,
            Mode::None => AttestationMode::None,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> anyhow::Result<()> {
    // Before any secret exists: no core dump, no ptrace by the same user (docs/COORDINATOR.md,
    // "Secrets in memory").
    seedward_fs::process::harden()?;
    let args = Args::parse();
    init_logging(args.log_format, &args.log_level)?;
    let state_dir = match args.state_dir {
        Some(dir) => dir,
        None => directories::ProjectDirs::from("", "", "seedward")
            .map(|d| d.data_dir().join("coordinator"))
            .context("no home directory to put the state in; pass --state-dir")?,
    };
    let mut config = ServerConfig::new(args.listen, state_dir);
    config.dns_names = args.dns_names;
    config.core.challenge_ttl = Duration::from_secs(args.challenge_ttl_secs);
    config.core.recovery_session_ttl = Duration::from_secs(args.recovery_session_ttl_secs);
    config.core.allow_reinitialize = args.allow_reinitialize;
    config.core.store_stall_limit = Duration::from_secs(args.store_stall_secs);
    config.core.max_history_message_bytes = args.max_history_message_bytes;
    config.request_timeout = Duration::from_secs(args.request_timeout_secs);
    config.connections.max_connections = args.max_connections.max(1);
    config.connections.idle_timeout = Duration::from_secs(args.idle_timeout_secs.max(1));
    config.connections.handshake_timeout = Duration::from_secs(args.handshake_timeout_secs.max(1));
    config.connections.shutdown_grace = Duration::from_secs(args.shutdown_grace_secs);
    config.replica_id = args.store.replica_id()?;
    config.store = args.store.into_config()?;
    config.peer = args.peer.into_config(matches!(
        config.store,
        seedward_coordinator::backend::StoreConfig::Etcd { .. }
    ))?;
    config.attestation = AttestationConfig {
        mode: args.attestation.attestation.into(),
        tsm_dir: args.attestation.tsm_dir,
        collateral_dir: args.attestation.collateral_dir,
    };
    config.verification = VerificationConfig {
        test_trust_anchor: args.attestation.test_trust_anchor,
        waive_revocation: args.attestation.waive_revocation_check,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = start(config).await?;
        // The handlers are installed before the address is announced: a SIGTERM sent as soon
        // as the line appears is a graceful stop, not the default action (death by signal).
        let stop = shutdown_signal()?;
        println!("seedward-coordinator listening on {}", server.local_addr());
        stop.await;
        tracing::info!("shutting down");
        server.shutdown().await
    })
}

fn init_logging(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid --log-level {filter:?}"))?;
    // Colours only for a terminal: a redirected log (a file, journald, kubectl logs) gets
    // plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Installs the SIGTERM and SIGINT handlers now; the future ends at the first signal.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
