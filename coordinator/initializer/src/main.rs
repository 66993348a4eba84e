//! `seedward-initializer`: fetches a workload's mesh certificate and workload secret from
//! the Coordinator and writes them to the shared secrets volume; `cryptsetup` sets up the
//! encrypted volume keyed by that secret. See docs/WORKLOADS.md.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use rcgen::PublicKeyData as _;
use seedward_client::Trust;
use seedward_initializer::cryptsetup::{Tools, VolumeConfig, setup_volume};
use seedward_initializer::evidence::{EvidenceSource, Mode};
use seedward_initializer::files::{self, write_credentials};
use seedward_initializer::{FetchConfig, fetch_credentials};
use zeroize::Zeroizing;

/// Seedward initializer: writes the workload's credentials to the secrets volume.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    fetch: FetchArgs,
    /// Log level or filter (tracing EnvFilter syntax).
    #[arg(long, env = "SEEDWARD_LOG", default_value = "info", global = true)]
    log_level: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Format (only if not LUKS), verify, open and mount the encrypted volume, then stay
    /// alive until SIGTERM and unmount and close it.
    Cryptsetup(CryptsetupArgs),
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// The Coordinator's workload API, host:port.
    #[arg(
        long,
        env = "SEEDWARD_COORDINATOR",
        default_value = "seedward-coordinator:1313"
    )]
    coordinator: String,
    /// The workload's policy hash (64 hex characters). Required with development evidence;
    /// in a TEE it comes from the hardware report (and, if given, must match it).
    #[arg(long, env = "SEEDWARD_POLICY_HASH")]
    policy_hash: Option<String>,
    /// Evidence to present: `snp`/`tdx` (from the platform, or fail), `auto` (the TEE the
    /// tsm provider names, else `none` with a warning), `none` (development).
    #[arg(long, env = "SEEDWARD_ATTESTATION", value_enum, default_value_t = ModeArg::Auto)]
    attestation: ModeArg,
    /// The configfs-tsm report directory.
    #[arg(long, env = "SEEDWARD_TSM_DIR", value_name = "DIR")]
    tsm_dir: Option<PathBuf>,
    /// Where to write tls-config/ and secrets/.
    #[arg(
        long,
        env = "SEEDWARD_SECRETS_ROOT",
        default_value = "/seedward",
        global = true
    )]
    secrets_root: PathBuf,
    /// Pin the Coordinator's root CA (the coordinator-root-ca.pem saved at setup). Without
    /// it the first certificate is trusted if it is issued by the root CA it returns.
    #[arg(long, env = "SEEDWARD_ROOT_CA")]
    root_ca: Option<PathBuf>,
    /// Give up after this many seconds of retrying.
    #[arg(long, env = "SEEDWARD_MAX_WAIT", default_value_t = 600)]
    max_wait_secs: u64,
    /// First retry delay in milliseconds; doubles up to 30 s.
    #[arg(long, env = "SEEDWARD_INITIAL_BACKOFF_MS", default_value_t = 500)]
    initial_backoff_ms: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Auto,
    Snp,
    Tdx,
    None,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Auto => Mode::Auto,
            ModeArg::Snp => Mode::Snp,
            ModeArg::Tdx => Mode::Tdx,
            ModeArg::None => Mode::None,
        }
    }
}

#[derive(Debug, Args)]
struct CryptsetupArgs {
    /// The block device (volumeDevices devicePath).
    #[arg(long, short = 'd')]
    device_path: PathBuf,
    /// Where to mount the decrypted filesystem.
    #[arg(long, short = 'm')]
    mount_point: PathBuf,
    /// The key file (default: <secrets-root>/secrets/workload-secret-seed).
    #[arg(long)]
    secret_file: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    // Before the workload key or secret exists: no core dump, no ptrace by the same user.
    if let Err(e) = seedward_fs::process::harden() {
        eprintln!("seedward-initializer: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log_level) {
        eprintln!("seedward-initializer: {e:#}");
        return std::process::ExitCode::from(2);
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seedward-initializer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => fetch(cli.fetch).await,
        Some(Command::Cryptsetup(args)) => cryptsetup(cli.fetch.secrets_root, args).await,
    }
}

async fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    let policy_hash: Option<[u8; 32]> = args
        .policy_hash
        .as_deref()
        .map(|text| {
            hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .context(
                    "--policy-hash must be 64 hex characters (SHA-256 of the workload's policy)",
                )
        })
        .transpose()?;
    let trust = match &args.root_ca {
        None => Trust::FirstUse,
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --root-ca {}", path.display()))?;
            Trust::pinned_root_pem(&pem).with_context(|| format!("--root-ca {}", path.display()))?
        }
    };
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("cannot generate the workload's P-256 key")?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    let spki = key.subject_public_key_info();
    let source = EvidenceSource::choose(args.attestation.into(), args.tsm_dir);
    let evidence = {
        let spki = spki.clone();
        tokio::task::spawn_blocking(move || source.produce(&spki, policy_hash))
            .await
            .context("producing the evidence did not complete")??
    };
    let policy_hash = hex::encode(&evidence.policy_hash);
    let config = FetchConfig {
        address: args.coordinator,
        evidence,
        trust,
        max_wait: Duration::from_secs(args.max_wait_secs),
        initial_backoff: Duration::from_millis(args.initial_backoff_ms.max(1)),
        max_backoff: Duration::from_secs(30),
    };
    tracing::info!(coordinator = %config.address, %policy_hash, kind = %config.evidence.kind, "requesting workload credentials");
    let response = fetch_credentials(&config, &spki).await?;
    let written = write_credentials(&args.secrets_root, &key_pem, &response)?;
    match &written.workload_secret {
        Some(path) => tracing::info!(path = %path.display(), "wrote the workload secret"),
        None => tracing::info!("the policy entry has no WorkloadSecretID: no workload secret"),
    }
    tracing::info!(root = %args.secrets_root.display(), files = written.files.len(), "wrote the TLS credentials");
    Ok(())
}

async fn cryptsetup(secrets_root: PathBuf, args: CryptsetupArgs) -> anyhow::Result<()> {
    let config = VolumeConfig {
        key_file: args
            .secret_file
            .unwrap_or_else(|| files::workload_secret_path(&secrets_root)),
        device: args.device_path,
        mount_point: args.mount_point,
        secrets_root,
        tools: Tools::default(),
    };
    let volume = tokio::task::spawn_blocking(move || setup_volume(&config))
        .await
        .context("the volume setup did not complete")??;
    tracing::info!(
        mapper = volume.mapper_name(),
        "volume mounted; waiting for SIGTERM"
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("terminating: unmounting and closing the volume");
    tokio::task::spawn_blocking(move || volume.teardown())
        .await
        .context("the volume teardown did not complete")??;
    Ok(())
}

fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid --log-level {filter:?}"))?;
    // Colours only for a terminal: the pod's log is a file.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
