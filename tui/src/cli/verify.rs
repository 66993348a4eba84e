//! `seedward verify`: the audit of the served history against the signing key (derived,
//! saved at setup, or from a threshold share document), the root CA pin, the workspace's
//! manifest and the Coordinator's evidence.

use p384::ecdsa::VerifyingKey;

use super::coordinator::{AnchorArgs, VerifyArgs, print_checks, trust_label};
use super::{CliError, Ctx, ShareArgs, json};
use seedward::keystore::DEFAULT_OWNER_KEY;
use seedward::ops::{self, EvidenceView, SigningKeySource};
use seedward::workspace::{MANIFEST_FILE, ROOT_CA_FILE, SEED_SHARES_FILE};

impl Default for AnchorArgs {
    /// The saved signing key, else the default owner key's seed share.
    fn default() -> Self {
        AnchorArgs {
            use_seed_share: false,
            share: ShareArgs {
                seed_shares: None,
                owner_key: DEFAULT_OWNER_KEY.to_string(),
            },
        }
    }
}

/// Finds the history signing key: the seed share when asked (or when nothing was saved),
/// else `history-signing-key.pem`. `Ok(None)` when neither is available.
pub async fn audit_key(
    ctx: &Ctx,
    anchor: &AnchorArgs,
) -> Result<Option<(VerifyingKey, SigningKeySource)>, CliError> {
    let explicit = anchor.use_seed_share || anchor.share.seed_shares.is_some();
    if !explicit && let Some(key) = ops::saved_signing_key(&ctx.workspace)? {
        return Ok(Some((key, SigningKeySource::SavedKey)));
    }
    let share_file = anchor
        .share
        .seed_shares
        .clone()
        .unwrap_or_else(|| ctx.workspace.path(SEED_SHARES_FILE));
    if !explicit && !share_file.exists() {
        return Ok(None);
    }
    // One threshold share derives nothing: the document's HistorySigningKey is the key
    // (a document written before it existed has none).
    if ops::read_share_document(&ctx.workspace, Some(&share_file))
        .is_ok_and(|(doc, _)| doc.threshold() > 1)
    {
        return Ok(
            ops::share_document_signing_key(&ctx.workspace, Some(&share_file))?
                .map(|key| (key, SigningKeySource::ShareDocument)),
        );
    }
    let store = ctx.keystore()?;
    if !explicit && store.find(&anchor.share.owner_key)?.is_none() {
        return Ok(None);
    }
    let owner = store.load_owner(&anchor.share.owner_key)?;
    let share = ops::decrypt_share(&ctx.workspace, Some(&share_file), &owner)?;
    super::warn_share_permissions(&share);
    let engine = share.engine()?;
    Ok(Some((
        *engine.transaction_verifying_key(),
        SigningKeySource::SeedShare,
    )))
}

pub fn key_source_label(k: SigningKeySource) -> &'static str {
    match k {
        SigningKeySource::SeedShare => "seed-share",
        SigningKeySource::SavedKey => "saved-key",
        SigningKeySource::ShareDocument => "share-document",
        SigningKeySource::None => "none",
    }
}

pub async fn verify(ctx: &Ctx, args: VerifyArgs) -> Result<(), CliError> {
    let conn = ctx.connect().await?;
    let key = audit_key(ctx, &args.anchor).await?;
    let history = ops::audit_history(&conn, key).await?;
    let mut problems: Vec<String> = Vec::new();
    if let Some(f) = &history.failure {
        problems.push(f.clone());
    }
    // The root CA must be the pinned one (its key survives recoveries).
    let pin = ctx
        .workspace
        .read(ROOT_CA_FILE)?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let root_ca_matches_pin = pin.as_deref().map(|pin| {
        let a = ops::cert_public_key(pin);
        a.is_some() && a == ops::cert_public_key(&history.root_ca_cert)
    });
    if root_ca_matches_pin == Some(false) {
        problems.push(format!(
            "the Coordinator's root CA key is not the one pinned in {ROOT_CA_FILE}"
        ));
    }
    let saved = ctx.workspace.read(MANIFEST_FILE)?;
    let manifest_matches = saved
        .as_deref()
        .map(|bytes| history.active().is_some_and(|a| a.manifest_bytes == bytes));
    if manifest_matches == Some(false) {
        problems.push(format!(
            "the active manifest differs from the workspace's {MANIFEST_FILE} (someone else set a manifest since; inspect with `seedward history diff`)"
        ));
    }
    // The evidence, judged against the workspace's manifest.json: a TEE report that does not
    // verify, or evidence that does not bind this connection, is a problem; development
    // evidence is shown as UNATTESTED (there is nothing to verify).
    let status = ops::status(&conn).await?;
    if let Some(ev) = &status.evidence {
        if !ev.bound() {
            problems.push(
                "the Coordinator's evidence does not bind this connection's TLS key: a relay or an impostor answered".into(),
            );
        } else if !ev.attested() && !ev.unattested() {
            problems.push(format!(
                "the Coordinator's {} evidence does not verify against {}: {}",
                ev.kind.as_str(),
                ev.source.describe(),
                ev.verdict.problems(200).join("; ")
            ));
        }
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| ctx.workspace.path("verify"));
    let folder = seedward::ops_bundle::write_verify_folder(&dir, &history)?;
    let ok = problems.is_empty();
    let out = &ctx.out;
    out.line(format!(
        "history of {}: generation {}, latest {}",
        ctx.address,
        history.generation(),
        history.latest.transition_hash().to_hex()
    ));
    out.line(format!(
        "signing key: {}",
        match history.key_source {
            SigningKeySource::SeedShare => "derived from your seed share",
            SigningKeySource::SavedKey => "history-signing-key.pem (saved at setup)",
            SigningKeySource::ShareDocument => "the HistorySigningKey of seed-shares.json",
            SigningKeySource::None =>
                "none available (run the setup's share drill, or pass --use-seed-share)",
        }
    ));
    for e in &history.entries {
        out.line(format!(
            "  {} {:>4}  transition {}  manifest {}",
            out.mark(e.verified()),
            e.chain.generation,
            e.chain.transition_hash.short(),
            e.chain.manifest_hash.short()
        ));
    }
    out.line(format!(
        "{} latest signature",
        out.mark(history.all_verified())
    ));
    match root_ca_matches_pin {
        Some(m) => out.line(format!("{} root CA is the pinned one", out.mark(m))),
        None => out.line(format!(
            "- no {ROOT_CA_FILE} in the workspace to compare the root CA with"
        )),
    }
    match manifest_matches {
        Some(m) => out.line(format!(
            "{} active manifest equals {MANIFEST_FILE}",
            out.mark(m)
        )),
        None => out.line(format!(
            "- no {MANIFEST_FILE} in the workspace to compare with"
        )),
    }
    out.line(format!(
        "evidence: {}",
        status
            .evidence
            .as_ref()
            .map(EvidenceView::summary)
            .unwrap_or_else(|| "no evidence offered".into())
    ));
    if let Some(ev) = &status.evidence {
        print_checks(out, ev);
    }
    out.line(format!("written to {}", folder.display()));
    if ok {
        out.line(format!("{} verified", out.check()));
    }
    out.object(
        "verify",
        ok,
        &json::Verify {
            coordinator: &ctx.address,
            trust: trust_label(conn.trust),
            generation: history.generation(),
            latest_transition: history.latest.transition_hash().to_hex(),
            key_source: key_source_label(history.key_source),
            verified: history.all_verified(),
            coordinator_claims_verified: history.coordinator_verified,
            root_ca_matches_pin,
            manifest_matches_workspace: manifest_matches,
            evidence: json::Evidence::of(status.evidence.as_ref()),
            problems: &problems,
            folder: folder.display().to_string(),
            entries: json::Entry::all(&history),
        },
    );
    if ok {
        Ok(())
    } else {
        Err(
            CliError::verification(format!("verification failed: {}", problems.join("; ")))
                .reported(),
        )
    }
}
