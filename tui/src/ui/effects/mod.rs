//! The edges: each [`Effect`] runs on the UI's tokio runtime (key store calls on the blocking
//! pool) and answers with an [`Event`] over a channel. The decrypted seed share of a recovery
//! lives here, in the runner, never in the UI state; it is dropped (zeroized) when sent or
//! when the wizard is left.
//!
//! | module | effects |
//! |---|---|
//! | `status.rs` | the Coordinator's status: the periodic refresh and the setup wizard's check |
//! | `keys.rs` | the key store: list, generate, import, export a public key |
//! | `manifest.rs` | manifest files of the workspace: list, write the template, load and check |
//! | `setup.rs` | the first manifest and the share drill |
//! | `recovery.rs` | decrypt the share, pre-flight, send, re-verify; the share's vault |
//! | `board.rs` | the recovery board: poll the session, send this owner's share, cancel |
//! | `history.rs` | the audit, and history bundles (export, offline verification) |
//! | `update.rs` | a signed manifest update |

mod board;
mod history;
mod keys;
mod manifest;
mod recovery;
mod setup;
mod status;
mod update;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::client::evidence::AppraisalPolicy;
use std::sync::mpsc::Sender;

use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::manifest::Manifest;

use crate::keystore::{KeyInfo, KeyKind, KeyStore};
use crate::ops::{
    self, AuditedHistory, DecryptedShare, DrillReport, Preflight, Reverify, SetupOutcome,
    StatusView, UpdateOutcome,
};
use crate::workspace::Workspace;

pub use history::{BundleCheck, BundleExport};
#[cfg(test)]
pub(crate) use history::{export_bundle, verify_bundle_file};
pub use manifest::{LoadedManifest, POLICIES_DIR, list_manifests, load_manifest, write_template};

/// Work for the edges: each runs off the UI thread and answers with an [`Event`].
#[derive(Debug, Clone)]
pub enum Effect {
    Refresh,
    ListKeys,
    GenerateKey {
        kind: KeyKind,
        name: String,
    },
    ImportKey {
        kind: KeyKind,
        name: String,
        path: PathBuf,
    },
    ExportPublic {
        name: String,
    },
    ListManifests,
    UseTemplate {
        owner_hex: Vec<String>,
        workload_hex: Vec<String>,
    },
    LoadManifest {
        path: PathBuf,
    },
    CheckCoordinator,
    SetFirstManifest {
        manifest: Box<Manifest>,
        policies: Vec<Vec<u8>>,
        /// The typed word acknowledged an UNATTESTED Coordinator.
        allow_unattested: bool,
    },
    ShareDrill {
        owner_key: String,
    },
    DecryptShare {
        owner_key: String,
    },
    Preflight,
    SendRecovery {
        owner_key: String,
        preflight: Box<Preflight>,
        allow_unattested: bool,
    },
    Reverify {
        preflight: Box<Preflight>,
        response: Box<pb::RecoverResponse>,
    },
    ForgetShare,
    /// The recovery board: the open session, if any.
    PollSession,
    /// The recovery board: open or join the session and send this owner's share.
    SubmitShare {
        owner_key: String,
        allow_unattested: bool,
    },
    /// The recovery board: cancel the open session.
    CancelSession {
        owner_key: String,
    },
    Audit,
    /// Write the audited history as a bundle file into the workspace.
    ExportBundle {
        audit: Box<AuditedHistory>,
    },
    /// Verify a bundle file offline (no Coordinator).
    VerifyBundle {
        path: PathBuf,
    },
    UpdateManifest {
        manifest: Box<Manifest>,
        policies: Vec<Vec<u8>>,
        key: String,
        audited_latest: Digest,
    },
}

/// Results of effects.
#[derive(Debug)]
pub enum Event {
    Status {
        result: Result<Box<StatusView>, String>,
        latency_ms: u64,
    },
    Keys {
        result: Result<Vec<KeyInfo>, String>,
        warning: Option<String>,
        backend: String,
    },
    KeyAdded(Result<KeyInfo, String>),
    Exported(Result<PathBuf, String>),
    Manifests(Result<Vec<String>, String>),
    ManifestLoaded(Box<LoadedManifest>),
    TemplateWritten(Result<Vec<PathBuf>, String>),
    Coordinator {
        status: Result<Box<StatusView>, String>,
        workspace: Result<(), String>,
    },
    SetDone(Result<SetupOutcome, String>),
    DrillDone(Result<Box<DrillReport>, String>),
    Decrypted(Result<String, String>),
    Preflighted(Result<Box<Preflight>, String>),
    RecoverySent(Result<Box<pb::RecoverResponse>, String>),
    Reverified(Result<Box<Reverify>, String>),
    SessionPolled(Result<Box<ops::SessionStatus>, String>),
    /// A submission (`submitted`) or a cancel went through, or why not.
    SessionActed {
        result: Result<Box<ops::SessionStatus>, String>,
        submitted: bool,
    },
    Audited(Result<Box<AuditedHistory>, String>),
    BundleExported(Result<BundleExport, String>),
    BundleVerified(Result<Box<BundleCheck>, String>),
    Updated(Result<UpdateOutcome, (String, bool)>),
}

/// What every effect may use.
struct Ctx {
    address: String,
    workspace: Workspace,
    keys: KeyStore,
    appraisal: Arc<AppraisalPolicy>,
    /// The decrypted seed share during a recovery (see [`recovery`]).
    vault: tokio::sync::Mutex<Option<DecryptedShare>>,
}

/// Runs effects and sends their events.
#[derive(Clone)]
pub struct Runner {
    handle: tokio::runtime::Handle,
    tx: Sender<Event>,
    ctx: Arc<Ctx>,
}

impl Runner {
    pub fn new(
        handle: tokio::runtime::Handle,
        tx: Sender<Event>,
        address: String,
        workspace: Workspace,
        keys: KeyStore,
        appraisal: Arc<AppraisalPolicy>,
    ) -> Self {
        Self {
            handle,
            tx,
            ctx: Arc::new(Ctx {
                address,
                workspace,
                keys,
                appraisal,
                vault: tokio::sync::Mutex::new(None),
            }),
        }
    }

    pub fn spawn(&self, effect: Effect) {
        let ctx = self.ctx.clone();
        let tx = self.tx.clone();
        self.handle.spawn(async move {
            if let Some(event) = run(effect, &ctx).await {
                let _ = tx.send(event);
            }
        });
    }

    /// Drops the decrypted share, if any (on quit).
    pub fn forget_share(&self) {
        let ctx = self.ctx.clone();
        self.handle.block_on(async move {
            ctx.vault.lock().await.take();
        });
    }
}

/// Runs one effect; `None` for effects that answer nothing.
async fn run(effect: Effect, ctx: &Ctx) -> Option<Event> {
    Some(match effect {
        Effect::Refresh => status::refresh(ctx).await,
        Effect::CheckCoordinator => status::check_coordinator(ctx).await,
        Effect::ListKeys => keys::list(ctx).await,
        Effect::GenerateKey { kind, name } => keys::generate(ctx, kind, name).await,
        Effect::ImportKey { kind, name, path } => keys::import(ctx, kind, name, &path).await,
        Effect::ExportPublic { name } => keys::export_public(ctx, name).await,
        Effect::ListManifests => Event::Manifests(list_manifests(ctx.workspace.dir())),
        Effect::UseTemplate {
            owner_hex,
            workload_hex,
        } => Event::TemplateWritten(write_template(&ctx.workspace, &owner_hex, &workload_hex)),
        Effect::LoadManifest { path } => {
            Event::ManifestLoaded(Box::new(load_manifest(&ctx.workspace, &path)))
        }
        Effect::SetFirstManifest {
            manifest,
            policies,
            allow_unattested,
        } => setup::set_first_manifest(ctx, &manifest, policies, allow_unattested).await,
        Effect::ShareDrill { owner_key } => setup::share_drill(ctx, owner_key).await,
        Effect::DecryptShare { owner_key } => recovery::decrypt_share(ctx, owner_key).await,
        Effect::Preflight => recovery::preflight(ctx).await,
        Effect::SendRecovery {
            owner_key,
            preflight,
            allow_unattested,
        } => recovery::send(ctx, owner_key, &preflight, allow_unattested).await,
        Effect::Reverify {
            preflight,
            response,
        } => recovery::reverify(ctx, &preflight, &response).await,
        Effect::ForgetShare => {
            recovery::forget_share(ctx).await;
            return None;
        }
        Effect::PollSession => board::poll(ctx).await,
        Effect::SubmitShare {
            owner_key,
            allow_unattested,
        } => board::submit(ctx, owner_key, allow_unattested).await,
        Effect::CancelSession { owner_key } => board::cancel(ctx, owner_key).await,
        Effect::Audit => history::audit(ctx).await,
        Effect::ExportBundle { audit } => history::export(ctx, audit).await,
        Effect::VerifyBundle { path } => history::verify(ctx, &path).await,
        Effect::UpdateManifest {
            manifest,
            policies,
            key,
            audited_latest,
        } => update::update_manifest(ctx, &manifest, policies, key, audited_latest).await,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("internal error: {e}")))
}

async fn connect(ctx: &Ctx) -> Result<ops::Connection, String> {
    ops::connect(&ctx.address, &ctx.workspace, &ctx.appraisal)
        .await
        .map_err(|e| e.to_string())
}

/// A relative path is looked up in the current directory first, then in the workspace.
fn resolve(workspace: &Workspace, path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    let in_ws = workspace.dir().join(path);
    if in_ws.exists() {
        in_ws
    } else {
        path.to_path_buf()
    }
}
