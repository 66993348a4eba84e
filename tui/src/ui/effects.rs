//! The edges: each [`Effect`] runs on the UI's tokio runtime (key store calls on the blocking
//! pool) and answers with an [`Event`] over a channel. The decrypted seed share of a recovery
//! lives here, in the runner, never in the UI state; it is dropped (zeroized) when sent or
//! when the wizard is left.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Instant;

use seedward_shared::history::Digest;
use seedward_shared::manifest::Manifest;

use super::app::{BundleCheck, BundleExport, Effect, Event, LoadedManifest};
use crate::keystore::{INDEX_FILE, KeyStore};
use crate::ops::{self, DecryptedShare, SigningKeySource};
use crate::ops_bundle;
use crate::workspace::{SEED_SHARES_FILE, SIGNING_KEY_FILE, Workspace};

/// Folder of the workspace that holds policy documents.
pub const POLICIES_DIR: &str = "policies";
/// File names of the template's example policies, in [`Manifest::template`] order.
const TEMPLATE_POLICY_NAMES: [&str; 2] = ["coordinator.policy", "web.policy"];

struct Ctx {
    address: String,
    workspace: Workspace,
    keys: KeyStore,
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
    ) -> Self {
        Self {
            handle,
            tx,
            ctx: Arc::new(Ctx {
                address,
                workspace,
                keys,
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("internal error: {e}")))
}

async fn connect(ctx: &Ctx) -> Result<ops::Connection, String> {
    ops::connect(&ctx.address, &ctx.workspace)
        .await
        .map_err(|e| e.to_string())
}

async fn run(effect: Effect, ctx: &Ctx) -> Option<Event> {
    Some(match effect {
        Effect::Refresh => {
            let start = Instant::now();
            let result = async {
                let conn = connect(ctx).await?;
                ops::status(&conn)
                    .await
                    .map(Box::new)
                    .map_err(|e| e.to_string())
            }
            .await;
            Event::Status {
                result,
                latency_ms: start.elapsed().as_millis() as u64,
            }
        }
        Effect::ListKeys => {
            let keys = ctx.keys.clone();
            let result = blocking(move || keys.list().map_err(|e| e.to_string())).await;
            Event::Keys {
                result,
                warning: ctx.keys.warning().map(str::to_string),
                backend: backend_label(&ctx.keys),
            }
        }
        Effect::GenerateKey { kind, name } => {
            let keys = ctx.keys.clone();
            Event::KeyAdded(
                blocking(move || keys.generate(kind, &name).map_err(|e| e.to_string())).await,
            )
        }
        Effect::ImportKey { kind, name, path } => {
            let path = resolve(&ctx.workspace, &path);
            let keys = ctx.keys.clone();
            Event::KeyAdded(
                blocking(move || {
                    let pem = read_pem(&path)?;
                    keys.import_pem(kind, &name, &pem)
                        .map_err(|e| e.to_string())
                })
                .await,
            )
        }
        Effect::ExportPublic { name } => {
            let keys = ctx.keys.clone();
            let workspace = ctx.workspace.clone();
            Event::Exported(
                blocking(move || {
                    let pem = keys.export_public_pem(&name).map_err(|e| e.to_string())?;
                    workspace
                        .write_public(&format!("{name}.pub.pem"), pem.as_bytes())
                        .map_err(|e| e.to_string())
                })
                .await,
            )
        }
        Effect::ListManifests => Event::Manifests(list_manifests(ctx.workspace.dir())),
        Effect::UseTemplate {
            owner_hex,
            workload_hex,
        } => Event::TemplateWritten(write_template(&ctx.workspace, &owner_hex, &workload_hex)),
        Effect::LoadManifest { path } => {
            Event::ManifestLoaded(Box::new(load_manifest(&ctx.workspace, &path)))
        }
        Effect::CheckCoordinator => {
            let status = async {
                let conn = connect(ctx).await?;
                ops::status(&conn)
                    .await
                    .map(Box::new)
                    .map_err(|e| e.to_string())
            }
            .await;
            let workspace =
                ops::check_setup_preconditions(&ctx.workspace).map_err(|e| e.to_string());
            Event::Coordinator { status, workspace }
        }
        Effect::SetFirstManifest { manifest, policies } => Event::SetDone(
            async {
                let conn = connect(ctx).await?;
                ops::set_first_manifest(&conn, &ctx.workspace, &manifest, policies)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await,
        ),
        Effect::ShareDrill { owner_key } => Event::DrillDone(
            async {
                let keys = ctx.keys.clone();
                let owner =
                    blocking(move || keys.load_owner(&owner_key).map_err(|e| e.to_string()))
                        .await?;
                let conn = connect(ctx).await?;
                ops::share_drill(&conn, &ctx.workspace, &owner)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await,
        ),
        Effect::DecryptShare { owner_key } => {
            let keys = ctx.keys.clone();
            let workspace = ctx.workspace.clone();
            let result = blocking(move || {
                let owner = keys.load_owner(&owner_key).map_err(|e| e.to_string())?;
                ops::decrypt_share(&workspace, None, &owner).map_err(|e| e.to_string())
            })
            .await;
            match result {
                Ok(share) => {
                    let fingerprint = share.owner_fingerprint.clone();
                    *ctx.vault.lock().await = Some(share);
                    Event::Decrypted(Ok(fingerprint))
                }
                Err(e) => Event::Decrypted(Err(e)),
            }
        }
        Effect::Preflight => {
            let vault = ctx.vault.lock().await;
            let result = match vault.as_ref() {
                None => Err(NO_SHARE.to_string()),
                Some(share) => {
                    async {
                        let conn = connect(ctx).await?;
                        // The step is titled "Pre-flight"; its diagnosis reads on its own.
                        let preflight =
                            ops::recovery_preflight_explained(&conn, share, &ctx.workspace)
                                .await
                                .map_err(|e| match e {
                                    ops::OpsError::Verification(message) => message,
                                    other => other.to_string(),
                                })?;
                        // A store rolled back behind what this workspace saw is refused
                        // before anything is sent (the CLI's --force is the way through).
                        ops::check_rollback(&ctx.workspace, &preflight, false)
                            .map_err(|e| e.to_string())?;
                        Ok(Box::new(preflight))
                    }
                    .await
                }
            };
            Event::Preflighted(result)
        }
        Effect::SendRecovery {
            owner_key,
            preflight,
        } => {
            let share = ctx.vault.lock().await.take();
            let result = async {
                let share = share.ok_or_else(|| NO_SHARE.to_string())?;
                let keys = ctx.keys.clone();
                let owner =
                    blocking(move || keys.load_owner(&owner_key).map_err(|e| e.to_string()))
                        .await?;
                let conn = connect(ctx).await?;
                ops::send_recovery(&conn, &owner, share, &preflight)
                    .await
                    .map(Box::new)
                    .map_err(|e| e.to_string())
            }
            .await;
            Event::RecoverySent(result)
        }
        Effect::Reverify {
            preflight,
            response,
        } => Event::Reverified(
            ops::reverify_after_recovery(&ctx.address, &ctx.workspace, &preflight, &response)
                .await
                .map(Box::new)
                .map_err(|e| e.to_string()),
        ),
        Effect::ForgetShare => {
            ctx.vault.lock().await.take();
            return None;
        }
        Effect::Audit => {
            let key = {
                let vault = ctx.vault.lock().await;
                match vault.as_ref().map(DecryptedShare::engine) {
                    Some(Ok(engine)) => Some((
                        *engine.transaction_verifying_key(),
                        SigningKeySource::SeedShare,
                    )),
                    _ => None,
                }
            };
            let result = async {
                let key = match key {
                    Some(k) => Some(k),
                    None => ops::saved_signing_key(&ctx.workspace)
                        .map_err(|e| e.to_string())?
                        .map(|k| (k, SigningKeySource::SavedKey)),
                };
                let conn = connect(ctx).await?;
                ops::audit_history(&conn, key)
                    .await
                    .map(Box::new)
                    .map_err(|e| e.to_string())
            }
            .await;
            Event::Audited(result)
        }
        Effect::ExportBundle { audit } => {
            let key = signing_key(ctx).await;
            let dir = ctx.workspace.dir().to_path_buf();
            Event::BundleExported(
                blocking(move || export_bundle(&dir, &audit, key).map_err(|e| e.to_string())).await,
            )
        }
        Effect::VerifyBundle { path } => {
            let path = resolve(&ctx.workspace, &path);
            let anchor = match ops::saved_signing_key(&ctx.workspace) {
                Ok(Some(k)) => Some((ops_bundle::BundleAnchor::SigningKey(k), text_anchor_saved())),
                Ok(None) => None,
                Err(e) => return Some(Event::BundleVerified(Err(e.to_string()))),
            };
            Event::BundleVerified(
                blocking(move || verify_bundle_file(&path, anchor).map(Box::new)).await,
            )
        }
        Effect::UpdateManifest {
            manifest,
            policies,
            key,
            audited_latest,
        } => Event::Updated(update(ctx, &manifest, policies, key, audited_latest).await),
    })
}

/// The key that verifies the history now: derived from the decrypted share (during a
/// recovery), else `history-signing-key.pem` saved at setup.
async fn signing_key(ctx: &Ctx) -> Option<p384::ecdsa::VerifyingKey> {
    {
        let vault = ctx.vault.lock().await;
        if let Some(Ok(engine)) = vault.as_ref().map(DecryptedShare::engine) {
            return Some(*engine.transaction_verifying_key());
        }
    }
    ops::saved_signing_key(&ctx.workspace).ok().flatten()
}

fn text_anchor_saved() -> String {
    format!("{SIGNING_KEY_FILE} (saved at setup)")
}

/// Packs the audited history into a new bundle file in `dir`. The signing key is embedded
/// only if the history verified and `key` is the key that verifies it.
pub(crate) fn export_bundle(
    dir: &Path,
    audit: &ops::AuditedHistory,
    key: Option<p384::ecdsa::VerifyingKey>,
) -> Result<BundleExport, ops::OpsError> {
    let key = key.filter(|k| audit.all_verified() && audit.latest.verify(k).is_ok());
    let bundle = ops_bundle::HistoryBundle::from_audit(audit, key.as_ref())?;
    let (path, digest) = ops_bundle::write_new_bundle(dir, audit.generation(), &bundle.to_json()?)?;
    Ok(BundleExport {
        path,
        digest,
        generation: audit.generation(),
        signing_key_included: bundle.signing_public_key_pem.is_some(),
    })
}

/// Reads and verifies a bundle file offline.
pub(crate) fn verify_bundle_file(
    path: &Path,
    anchor: Option<(ops_bundle::BundleAnchor, String)>,
) -> Result<BundleCheck, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bundle = ops_bundle::HistoryBundle::from_json(&text).map_err(|e| e.to_string())?;
    let (anchor, anchor_text) = anchor.unwrap_or((
        ops_bundle::BundleAnchor::None,
        "its own embedded key".into(),
    ));
    let verdict = ops_bundle::verify_bundle(&bundle, &anchor).map_err(|e| e.to_string())?;
    let failing = ops_bundle::failing_entries(&verdict);
    let problems = verdict
        .problems
        .iter()
        .filter(|p| failing.is_empty() || verdict.audit.failure.as_ref() != Some(*p))
        .cloned()
        .collect();
    Ok(BundleCheck {
        path: path.to_path_buf(),
        ok: verdict.ok(),
        anchored: verdict.anchored,
        anchor: anchor_text,
        generation: verdict.audit.generation(),
        latest: verdict.audit.latest.transition_hash(),
        problems,
        failing,
    })
}

const NO_SHARE: &str =
    "the decrypted seed share is no longer held (the wizard was left); start the recovery again";

async fn update(
    ctx: &Ctx,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
    key: String,
    audited_latest: Digest,
) -> Result<ops::UpdateOutcome, (String, bool)> {
    let keys = ctx.keys.clone();
    let signer = blocking(move || keys.load_workload(&key).map_err(|e| e.to_string()))
        .await
        .map_err(|e| (e, false))?;
    let conn = connect(ctx).await.map_err(|e| (e, false))?;
    ops::update_manifest(
        &conn,
        &ctx.workspace,
        manifest,
        policies,
        &signer,
        audited_latest,
    )
    .await
    .map_err(|e| {
        let stale = e.reason() == Some(crate::client::Reason::StaleLatest);
        (e.to_string(), stale)
    })
}

fn backend_label(keys: &KeyStore) -> String {
    match keys.backend() {
        crate::keystore::Backend::Keyring => "OS keyring".into(),
        crate::keystore::Backend::File => "0600 files in the workspace (keys/)".into(),
        crate::keystore::Backend::Memory => "memory (nothing persisted)".into(),
    }
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

fn read_pem(path: &Path) -> Result<String, String> {
    if path.as_os_str().is_empty() {
        return Err("no path given: type the path of a PEM file".into());
    }
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read {}: {e}. Give the path of a PKCS#8 PEM file (-----BEGIN PRIVATE KEY-----); nothing was stored",
            path.display()
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        format!(
            "{} is not a text PEM file (binary DER?); convert it with `openssl pkey -in FILE -out key.pem`; nothing was stored",
            path.display()
        )
    })
}

/// `*.json` files of the workspace that could be manifests.
pub fn list_manifests(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".json")
                && n != SEED_SHARES_FILE
                && n != INDEX_FILE
                && !n.starts_with('.')
                && !n.starts_with(ops_bundle::BUNDLE_FILE_PREFIX)
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Writes the template manifest (to the first free of `manifest.json`, `manifest-2.json`, …
/// unless one already holds exactly these bytes) and its policy documents to `policies/`.
/// Returns the manifest's path first, then the policies'.
pub fn write_template(
    workspace: &Workspace,
    owner_hex: &[String],
    workload_hex: &[String],
) -> Result<Vec<PathBuf>, String> {
    let template = Manifest::template(owner_hex, workload_hex);
    let dir = workspace.dir();
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    let manifest_path = (1..100)
        .map(|i| {
            if i == 1 {
                dir.join("manifest.json")
            } else {
                dir.join(format!("manifest-{i}.json"))
            }
        })
        .find(|p| match std::fs::read(p) {
            Ok(existing) => existing == template.manifest,
            Err(_) => true,
        })
        .ok_or_else(|| "too many manifest-N.json files in the workspace; clean up".to_string())?;
    write_if_absent(&manifest_path, &template.manifest)?;
    files.push(manifest_path);
    let policies = dir.join(POLICIES_DIR);
    std::fs::create_dir_all(&policies)
        .map_err(|e| format!("cannot create {}: {e}", policies.display()))?;
    for (i, doc) in template.policies.iter().enumerate() {
        let mut path = policies.join(TEMPLATE_POLICY_NAMES.get(i).copied().unwrap_or("policy"));
        if std::fs::read(&path).is_ok_and(|old| old != *doc) {
            path = policies.join(format!("{}.policy", &Digest::of(doc).to_hex()[..12]));
        }
        write_if_absent(&path, doc)?;
        files.push(path);
    }
    Ok(files)
}

fn write_if_absent(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads, parses and validates a manifest, and collects its policy documents from
/// `policies/` of the workspace.
pub fn load_manifest(workspace: &Workspace, path: &Path) -> LoadedManifest {
    // Manifests are picked from the workspace listing: relative means relative to it.
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        workspace.dir().join(path)
    };
    let mut loaded = LoadedManifest {
        path: path.clone(),
        manifest: None,
        parse_error: None,
        issues: Vec::new(),
        warnings: Vec::new(),
        policies: Vec::new(),
        policy_error: None,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            loaded.parse_error = Some(format!("cannot read {}: {e}", path.display()));
            return loaded;
        }
    };
    let manifest = match Manifest::parse(bytes) {
        Ok(m) => m,
        Err(e) => {
            loaded.parse_error = Some(e.to_string());
            return loaded;
        }
    };
    if let Err(errors) = manifest.validate() {
        loaded.issues = errors
            .issues()
            .iter()
            .map(|i| (i.path().to_string(), i.to_string()))
            .collect();
    }
    loaded.warnings = manifest
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect();
    let wanted: Vec<Digest> = manifest
        .policies()
        .keys()
        .filter_map(|k| k.parse::<Digest>().ok())
        .collect();
    let dir = workspace.dir().join(POLICIES_DIR);
    let mut docs: Vec<Vec<u8>> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            if let Ok(doc) = std::fs::read(&p)
                && wanted.contains(&Digest::of(&doc))
                && !docs.contains(&doc)
            {
                docs.push(doc);
            }
        }
    }
    if loaded.issues.is_empty()
        && let Err(e) = manifest.check_policies(&docs)
    {
        loaded.policy_error = Some(format!("{e} (looked in {})", dir.display()));
    }
    loaded.policies = docs;
    loaded.manifest = Some(manifest);
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_round_trips_through_load() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let owner = seedward_shared::keys::OwnerKeyPair::generate(&mut rand_core::OsRng);
        let files = write_template(&ws, &[owner.public_key().to_hex()], &[]).unwrap();
        assert_eq!(files.len(), 3);
        let loaded = load_manifest(&ws, Path::new("manifest.json"));
        assert!(loaded.is_valid(), "{loaded:?}");
        assert_eq!(loaded.policies.len(), 2);
        assert_eq!(
            list_manifests(dir.path()).unwrap(),
            vec!["manifest.json".to_string()]
        );
        // Writing it again reuses the same file.
        let again = write_template(&ws, &[owner.public_key().to_hex()], &[]).unwrap();
        assert_eq!(again[0], files[0]);
    }

    #[test]
    fn broken_manifest_names_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        std::fs::write(dir.path().join("bad.json"), b"{\"Policies\": ").unwrap();
        let loaded = load_manifest(&ws, Path::new("bad.json"));
        assert!(!loaded.is_valid());
        assert!(loaded.parse_error.unwrap().contains("not valid JSON"));
    }
}
