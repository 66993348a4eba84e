//! The non-interactive subcommands: thin layers over [`seedward::ops`],
//! [`seedward::ops_bundle`] and [`seedward::keystore`].
//!
//! Every command prints human text on stdout (warnings and errors on stderr), or with
//! `--json` exactly one JSON object on stdout. Exit codes are [`exit`]'s constants and are
//! documented in docs/CLI.md.

mod coordinator;
mod evidence;
mod history;
mod json;
mod keys;
mod manifest;
mod out;
mod recovery;
mod replicas;
mod secret;
mod verify;

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use seedward::client::Reason;
use seedward::keystore::{KeyKind, KeyStore, KeyStoreError, KeyStorePreference};
use seedward::ops::{self, OpsError};
use seedward::workspace::{Workspace, WorkspaceError};

pub use out::Out;

/// Exit codes, stable and documented.
pub mod exit {
    pub const OK: u8 = 0;
    pub const OTHER: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const VERIFICATION: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const UNREACHABLE: u8 = 5;
}

/// The address subcommands use when neither `--coordinator` nor `SEEDWARD_COORDINATOR` is set.
pub const DEFAULT_COORDINATOR: &str = "127.0.0.1:1313";

const MAIN_AFTER_HELP: &str = "\
Without a subcommand, seedward opens the terminal UI (with an embedded local Coordinator
unless --coordinator is given).

Examples:
  seedward                                         # the terminal UI
  seedward keys generate --kind owner              # your seed share owner key
  seedward --coordinator 10.0.0.5:1313 status      # what state is the Coordinator in?
  seedward set --manifest manifest.json --policy coordinator.toml
  seedward verify                                  # audit the signed history into verify/
  seedward recover --yes                           # after a Coordinator restart

Exit codes: 0 ok, 1 other error, 2 usage, 3 verification failed,
            4 refused (by the Coordinator, or a permission check), 5 Coordinator unreachable.
See docs/CLI.md for every command, its JSON output and a full lifecycle script.";

/// The seed share owner's console for a Seedward Coordinator.
#[derive(Debug, Parser)]
#[command(name = "seedward", version, about, after_help = MAIN_AFTER_HELP)]
pub struct Cli {
    /// Coordinator address host:port (subcommands default to 127.0.0.1:1313; the UI to an embedded local Coordinator).
    #[arg(long, global = true, env = "SEEDWARD_COORDINATOR", value_name = "ADDR")]
    pub coordinator: Option<String>,
    /// The workspace folder with seed-shares.json, the pinned root CA and the key index (default: the current directory; for the UI with its embedded Coordinator, `workspace/` in the platform data directory, or in --state-dir).
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Print exactly one JSON object on stdout (schemas in docs/CLI.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// Answer yes to confirmations (a seed leaving this machine, a manifest being replaced, a private key export).
    #[arg(long, global = true)]
    pub yes: bool,
    /// No colours (also when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Console: plain text for screen readers and simple terminals: no box drawing, no
    /// colour, every mark in ASCII next to its words (also when TERM=dumb).
    #[arg(long)]
    pub plain: bool,
    /// Console: auditor mode: history, diff, export and verify only; no setup, recovery,
    /// update or key management keys at all.
    #[arg(long)]
    pub read_only: bool,
    /// Where owner keys live: the OS keyring, 0600 files in the workspace, or auto (keyring if reachable).
    #[arg(long, global = true, value_enum, default_value_t = KeyStoreArg::Auto, value_name = "STORE")]
    pub key_store: KeyStoreArg,
    /// State directory of the UI's embedded local Coordinator.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Send a seed, or set a first manifest, to a Coordinator whose evidence is of the
    /// development kind `none` (UNATTESTED: nothing proves what runs there). `--yes` alone
    /// is not enough for that.
    #[arg(long, global = true)]
    pub allow_unattested: bool,
    /// Accept SNP evidence whose revocation cannot be checked for lack of a CRL (the
    /// verdict names the waiver). Better: put AMD's CRL in --collateral-dir.
    #[arg(long, global = true)]
    pub waive_revocation_check: bool,
    /// A directory of collateral for verifying evidence offline: SNP CRLs (`*.crl`).
    #[arg(long, global = true, value_name = "DIR")]
    pub collateral_dir: Option<PathBuf>,
    /// TESTS ONLY: trust this test ARK bundle (PEM) instead of AMD's pinned roots. A
    /// release build also needs SEEDWARD_ALLOW_TEST_TRUST_ANCHOR=1.
    #[arg(long, global = true, value_name = "PEM", hide = true)]
    pub test_trust_anchor: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// How evidence is judged, from the global flags.
    pub fn appraisal_policy(
        &self,
    ) -> Result<seedward::client::evidence::AppraisalPolicy, OpsError> {
        ops::appraisal_policy(
            self.test_trust_anchor.as_deref(),
            self.waive_revocation_check,
            self.collateral_dir.as_deref(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyStoreArg {
    Auto,
    Keyring,
    File,
}

impl From<KeyStoreArg> for KeyStorePreference {
    fn from(value: KeyStoreArg) -> Self {
        match value {
            KeyStoreArg::Auto => KeyStorePreference::Auto,
            KeyStoreArg::Keyring => KeyStorePreference::Keyring,
            KeyStoreArg::File => KeyStorePreference::File,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Seed share owner key (X25519).
    Owner,
    /// Workload owner key (ECDSA P-384).
    Workload,
}

impl From<KindArg> for KeyKind {
    fn from(value: KindArg) -> Self {
        match value {
            KindArg::Owner => KeyKind::SeedShareOwner,
            KindArg::Workload => KeyKind::WorkloadOwner,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, import, export and list owner keys.
    #[command(after_help = keys::KEYS_AFTER_HELP)]
    Keys(keys::KeysArgs),
    /// Write an example manifest with this workspace's keys.
    #[command(after_help = manifest::MANIFEST_AFTER_HELP)]
    Manifest(manifest::ManifestArgs),
    /// Show the Coordinator's state, generation, latest transition and evidence.
    #[command(after_help = coordinator::STATUS_AFTER_HELP)]
    Status,
    /// Show the replica set of a Coordinator on a shared store (etcd).
    #[command(after_help = replicas::REPLICAS_AFTER_HELP)]
    Replicas,
    /// Set the manifest: first-time setup, or a signed update.
    #[command(after_help = coordinator::SET_AFTER_HELP)]
    Set(coordinator::SetArgs),
    /// Audit the whole signed history and write it to a verify/ folder.
    #[command(after_help = coordinator::VERIFY_AFTER_HELP)]
    Verify(coordinator::VerifyArgs),
    /// Bring a restarted Coordinator back with your seed share.
    #[command(after_help = coordinator::RECOVER_AFTER_HELP)]
    Recover(coordinator::RecoverArgs),
    /// Follow or cancel a threshold recovery session (k of n owners).
    #[command(after_help = recovery::RECOVERY_AFTER_HELP)]
    Recovery(recovery::RecoveryArgs),
    /// Inspect, diff, export and verify the manifest history.
    #[command(after_help = history::HISTORY_AFTER_HELP)]
    History(history::HistoryArgs),
    /// Verify recorded attestation evidence offline against a manifest's reference values.
    #[command(after_help = evidence::EVIDENCE_AFTER_HELP)]
    Evidence(evidence::EvidenceArgs),
    /// Derive a workload secret offline from your seed share.
    #[command(after_help = secret::WORKLOAD_SECRET_AFTER_HELP)]
    WorkloadSecret(secret::WorkloadSecretArgs),
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Keys(k) => k.command.name(),
            Command::Manifest(m) => m.command.name(),
            Command::Status => "status",
            Command::Replicas => "replicas",
            Command::Evidence(e) => e.command.name(),
            Command::Set(_) => "set",
            Command::Verify(_) => "verify",
            Command::Recover(_) => "recover",
            Command::Recovery(r) => r.command.name(),
            Command::History(h) => h.command.name(),
            Command::WorkloadSecret(_) => "workload-secret",
        }
    }
}

/// Options shared by commands that need the owner key and a seed share document.
#[derive(Debug, Clone, Args)]
pub struct ShareArgs {
    /// The seed share document (default: seed-shares.json in the workspace).
    #[arg(long, value_name = "FILE")]
    pub seed_shares: Option<PathBuf>,
    /// Name of your seed share owner key in the key store.
    #[arg(long, value_name = "NAME", default_value = seedward::keystore::DEFAULT_OWNER_KEY)]
    pub owner_key: String,
}

/// What every command gets.
pub struct Ctx {
    pub out: Out,
    pub workspace: Workspace,
    pub address: String,
    pub yes: bool,
    pub allow_unattested: bool,
    pub key_store: KeyStorePreference,
    pub appraisal: std::sync::Arc<seedward::client::evidence::AppraisalPolicy>,
}

impl Ctx {
    /// Opens the key store, printing its fallback warning (text mode) once.
    pub fn keystore(&self) -> Result<KeyStore, CliError> {
        let store = KeyStore::open(&self.workspace, self.key_store)?;
        if let Some(w) = store.warning() {
            self.out.warn(w);
        }
        Ok(store)
    }

    pub async fn connect(&self) -> Result<ops::Connection, CliError> {
        Ok(ops::connect(&self.address, &self.workspace, &self.appraisal).await?)
    }

    /// Asks for a typed confirmation on a terminal, unless `--yes`. Without a terminal
    /// and without `--yes` the command stops with a usage error.
    pub fn confirm(&self, question: &str, word: &str) -> Result<(), CliError> {
        if self.yes {
            return Ok(());
        }
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Err(CliError::usage(format!(
                "{question} There is no terminal to ask on: pass --yes to confirm"
            )));
        }
        let mut stderr = std::io::stderr();
        let _ = write!(
            stderr,
            "{question}\nType {word:?} to continue, anything else to stop: "
        );
        let _ = stderr.flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::other(format!("cannot read the confirmation: {e}")))?;
        if line.trim() == word {
            Ok(())
        } else {
            Err(CliError::new(
                exit::OTHER,
                "aborted",
                "stopped at the confirmation; nothing was changed",
            ))
        }
    }
}

/// An error with its exit code and a machine-readable kind.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub kind: &'static str,
    pub reason: Option<Reason>,
    pub message: String,
    /// The command already printed its JSON object (with `"ok": false`).
    pub reported: bool,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    pub fn new(code: u8, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            kind,
            reason: None,
            message: message.into(),
            reported: false,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, "usage", message)
    }
    pub fn verification(message: impl Into<String>) -> Self {
        Self::new(exit::VERIFICATION, "verification", message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(exit::REFUSED, "refused", message)
    }
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(exit::OTHER, "error", message)
    }
    pub fn reported(mut self) -> Self {
        self.reported = true;
        self
    }
}

impl From<OpsError> for CliError {
    fn from(err: OpsError) -> Self {
        let message = err.to_string();
        if let OpsError::SentButFailed { cause, .. } = err {
            let mut e = CliError::from(*cause);
            e.message = message;
            return e;
        }
        if err.is_unreachable() {
            let mut e = CliError::new(exit::UNREACHABLE, "unreachable", message);
            e.message.push_str(
                "\nCheck the address (--coordinator or SEEDWARD_COORDINATOR) and that the Coordinator is running.",
            );
            return e;
        }
        match &err {
            OpsError::Verification(_) => CliError::verification(message),
            OpsError::Unattested { .. } => CliError::new(exit::REFUSED, "unattested", message),
            OpsError::Refused { code, reason, .. } => {
                let mut e = match reason {
                    Some(r) if r.is_verification_failure() => CliError::verification(message),
                    _ if *code == tonic::Code::Unavailable => {
                        CliError::new(exit::UNREACHABLE, "unreachable", message)
                    }
                    _ => CliError::refused(message),
                };
                e.reason = *reason;
                if let Some(r) = reason {
                    e.message = format!("{} [{r}]", e.message);
                    if *r == Reason::StaleLatest {
                        e.message.push_str(
                            "\nThe history moved on since you audited it: run `seedward history list`, review the new transitions, then run the update again.",
                        );
                    }
                }
                e
            }
            OpsError::Workspace(WorkspaceError::TooOpen { .. }) => CliError::refused(message),
            _ => CliError::other(message),
        }
    }
}

impl From<KeyStoreError> for CliError {
    fn from(err: KeyStoreError) -> Self {
        let message = err.to_string();
        match err {
            KeyStoreError::Workspace(WorkspaceError::TooOpen { .. }) => CliError::refused(message),
            KeyStoreError::InvalidName(_) => CliError::usage(message),
            KeyStoreError::KeyringUnreachable { .. } => {
                CliError::new(exit::OTHER, "keyring", message)
            }
            _ => CliError::other(message),
        }
    }
}

impl From<WorkspaceError> for CliError {
    fn from(err: WorkspaceError) -> Self {
        OpsError::Workspace(err).into()
    }
}

/// Runs a subcommand and returns the process exit code.
pub fn run(cli: Cli, command: Command) -> u8 {
    init_logging();
    let no_color = cli.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let out = Out::new(cli.json, no_color);
    let name = command.name();
    let workspace = match &cli.workspace {
        Some(dir) => Workspace::new(dir),
        None => match std::env::current_dir() {
            Ok(dir) => Workspace::new(dir),
            Err(e) => {
                return out.fail(
                    name,
                    &CliError::other(format!("cannot read the current directory: {e}")),
                );
            }
        },
    };
    let appraisal = match cli.appraisal_policy() {
        Ok(policy) => policy,
        Err(e) => return out.fail(name, &e.into()),
    };
    let ctx = Ctx {
        out,
        workspace,
        address: cli
            .coordinator
            .clone()
            .unwrap_or_else(|| DEFAULT_COORDINATOR.to_string()),
        yes: cli.yes,
        allow_unattested: cli.allow_unattested,
        key_store: cli.key_store.into(),
        appraisal: std::sync::Arc::new(appraisal),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return ctx.out.fail(
                name,
                &CliError::other(format!("cannot start the async runtime: {e}")),
            );
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Keys(args) => keys::run(&ctx, args.command),
            Command::Manifest(args) => manifest::run(&ctx, args.command),
            Command::Status => coordinator::status(&ctx).await,
            Command::Replicas => replicas::replicas(&ctx).await,
            Command::Evidence(args) => evidence::run(&ctx, args).await,
            Command::Set(args) => coordinator::set(&ctx, args).await,
            Command::Verify(args) => verify::verify(&ctx, args).await,
            Command::Recover(args) => coordinator::recover(&ctx, args).await,
            Command::Recovery(args) => recovery::run(&ctx, args).await,
            Command::History(args) => history::run(&ctx, args.command).await,
            Command::WorkloadSecret(args) => secret::workload_secret(&ctx, args),
        }
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => ctx.out.fail(name, &e),
    }
}

/// Says once per process, on stderr (stdout stays the command's output), that the seed
/// share document is accessible to others, and how to fix it.
fn warn_share_permissions(share: &ops::DecryptedShare) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if let Some(warning) = &share.permission_warning
        && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        eprintln!("warning: {warning}");
    }
}

/// With `SEEDWARD_LOG` set (tracing EnvFilter syntax, e.g. `debug` or `seedward=trace`),
/// subcommands log to stderr; stdout stays the command's output (one JSON object with
/// `--json`). Without it, nothing is logged.
fn init_logging() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("SEEDWARD_LOG") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
