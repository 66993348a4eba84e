//! The history audit, and history bundles: export the audited history to a file, verify a
//! bundle file offline.

use std::path::{Path, PathBuf};

use seedward_shared::history::Digest;

use super::{Ctx, Event, blocking, connect, resolve};
use crate::ops::{self, DecryptedShare, SigningKeySource};
use crate::ops_bundle;
use crate::workspace::SIGNING_KEY_FILE;

/// A history bundle written by the TUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleExport {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes.
    pub digest: Digest,
    pub generation: u64,
    /// The signing public key that verified the history is embedded.
    pub signing_key_included: bool,
}

/// The offline verdict on a bundle file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCheck {
    pub path: PathBuf,
    pub ok: bool,
    pub anchored: bool,
    /// What the signature was checked with, in words.
    pub anchor: String,
    pub generation: u64,
    pub latest: Digest,
    pub problems: Vec<String>,
    /// "generation N (manifest …): why" for every entry that does not verify.
    pub failing: Vec<String>,
}

/// `Effect::Audit`: verified with the key derived from the share in the vault (during a
/// recovery), else with `history-signing-key.pem` saved at setup.
pub(super) async fn audit(ctx: &Ctx) -> Event {
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
            None => match ops::saved_signing_key(&ctx.workspace).map_err(|e| e.to_string())? {
                Some(k) => Some((k, SigningKeySource::SavedKey)),
                // A threshold owner derives no key; the share document carries it.
                None => ops::share_document_signing_key(&ctx.workspace, None)
                    .map_err(|e| e.to_string())?
                    .map(|k| (k, SigningKeySource::ShareDocument)),
            },
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

/// `Effect::ExportBundle`.
pub(super) async fn export(ctx: &Ctx, audit: Box<ops::AuditedHistory>) -> Event {
    let key = signing_key(ctx).await;
    let dir = ctx.workspace.dir().to_path_buf();
    Event::BundleExported(
        blocking(move || export_bundle(&dir, &audit, key).map_err(|e| e.to_string())).await,
    )
}

/// `Effect::VerifyBundle`: anchored to the saved signing key when there is one.
pub(super) async fn verify(ctx: &Ctx, path: &Path) -> Event {
    let path = resolve(&ctx.workspace, path);
    let anchor = match ops::saved_signing_key(&ctx.workspace) {
        Ok(Some(k)) => Some((ops_bundle::BundleAnchor::SigningKey(k), text_anchor_saved())),
        Ok(None) => None,
        Err(e) => return Event::BundleVerified(Err(e.to_string())),
    };
    Event::BundleVerified(blocking(move || verify_bundle_file(&path, anchor).map(Box::new)).await)
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
