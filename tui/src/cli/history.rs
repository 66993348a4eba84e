//! `seedward history …`

use std::path::PathBuf;

use clap::{Args, Subcommand};
use p384::ecdsa::VerifyingKey;
use p384::pkcs8::DecodePublicKey as _;
use serde_json::Value;

use super::coordinator::AnchorArgs;
use super::verify::{audit_key, key_source_label};
use super::{CliError, Ctx, ShareArgs, json};
use seedward::ops::{self, AuditEntry, AuditedHistory};
use seedward::ops_bundle::{BundleAnchor, HistoryBundle, verify_bundle};
use seedward_shared::manifest::{ManifestDiff, PolicyFieldChange, ValueChange};

pub const HISTORY_AFTER_HELP: &str = "\
Examples:
  seedward history list
  seedward history show 2
  seedward history diff 1 2 --raw
  seedward history export --out history.json
  seedward history verify-bundle history.json --signing-key history-signing-key.pem   # offline";

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: HistoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Every generation, re-hashed and verified client-side.
    #[command(after_help = "\
Examples:
  seedward history list
  seedward history list --json | jq '.entries[] | select(.verified | not)'")]
    List {
        #[command(flatten)]
        anchor: AnchorArgs,
    },
    /// One generation's manifest (1 = the first).
    #[command(after_help = "\
Examples:
  seedward history show 1
  seedward history show 3 --raw > manifest-v3.json")]
    Show {
        /// Generation number, from 1.
        generation: u64,
        /// Print the manifest's exact bytes.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        anchor: AnchorArgs,
    },
    /// What changed between two generations.
    #[command(after_help = "\
Examples:
  seedward history diff 1 2
  seedward history diff 1 2 --raw      # plus a line diff of the exact bytes")]
    Diff {
        from: u64,
        to: u64,
        /// Add a unified line diff of the raw manifests.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        anchor: AnchorArgs,
    },
    /// Write the whole history as one JSON bundle that verifies offline.
    #[command(after_help = "\
Examples:
  seedward history export --out history.json
  seedward history export --out - | gzip > history.json.gz")]
    Export {
        /// Output file (a new file), or `-` for stdout.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        anchor: AnchorArgs,
    },
    /// Verify a history bundle offline (no Coordinator needed).
    #[command(after_help = "\
Without --signing-key or --seed-shares the bundle can only be checked for self-consistency
against the key it carries itself: it is then \"self-consistent but not anchored\".

Examples:
  seedward history verify-bundle history.json --signing-key history-signing-key.pem
  seedward history verify-bundle history.json --seed-shares seed-shares.json
  seedward history verify-bundle history.json --json")]
    VerifyBundle {
        /// The bundle file.
        bundle: PathBuf,
        /// Anchor: the history signing public key (PEM), e.g. history-signing-key.pem.
        #[arg(long, value_name = "PEM")]
        signing_key: Option<PathBuf>,
        /// Anchor: your seed share document (decrypted with your owner key).
        #[arg(long, value_name = "FILE")]
        seed_shares: Option<PathBuf>,
        /// Your seed share owner key (with --seed-shares).
        #[arg(long, value_name = "NAME", default_value = seedward::keystore::DEFAULT_OWNER_KEY)]
        owner_key: String,
    },
}

impl HistoryCommand {
    pub fn name(&self) -> &'static str {
        match self {
            HistoryCommand::List { .. } => "history list",
            HistoryCommand::Show { .. } => "history show",
            HistoryCommand::Diff { .. } => "history diff",
            HistoryCommand::Export { .. } => "history export",
            HistoryCommand::VerifyBundle { .. } => "history verify-bundle",
        }
    }
}

pub async fn run(ctx: &Ctx, cmd: HistoryCommand) -> Result<(), CliError> {
    match cmd {
        HistoryCommand::List { anchor } => list(ctx, &anchor).await,
        HistoryCommand::Show {
            generation,
            raw,
            anchor,
        } => show(ctx, generation, raw, &anchor).await,
        HistoryCommand::Diff {
            from,
            to,
            raw,
            anchor,
        } => diff(ctx, from, to, raw, &anchor).await,
        HistoryCommand::Export { out, anchor } => export(ctx, out, &anchor).await,
        HistoryCommand::VerifyBundle {
            bundle,
            signing_key,
            seed_shares,
            owner_key,
        } => verify_bundle_cmd(ctx, bundle, signing_key, seed_shares, owner_key),
    }
}

async fn audited(
    ctx: &Ctx,
    anchor: &AnchorArgs,
) -> Result<(AuditedHistory, Option<VerifyingKey>), CliError> {
    let conn = ctx.connect().await?;
    let key = audit_key(ctx, anchor).await?;
    let verifying = key.as_ref().map(|(k, _)| *k);
    let history = ops::audit_history(&conn, key).await?;
    Ok((history, verifying))
}

/// A real verification failure (not just "no key") is exit code 3.
fn check(history: &AuditedHistory) -> Result<(), CliError> {
    match (&history.failure, history.key_source) {
        (
            Some(f),
            ops::SigningKeySource::SeedShare
            | ops::SigningKeySource::SavedKey
            | ops::SigningKeySource::ShareDocument,
        ) => Err(CliError::verification(format!(
            "the history does not verify: {f}"
        ))),
        _ => Ok(()),
    }
}

fn entry(history: &AuditedHistory, generation: u64) -> Result<&AuditEntry, CliError> {
    history
        .entries
        .iter()
        .find(|e| e.chain.generation == generation)
        .ok_or_else(|| {
            CliError::usage(format!(
                "no generation {generation}: the history has generations 1 to {}",
                history.generation()
            ))
        })
}

async fn list(ctx: &Ctx, anchor: &AnchorArgs) -> Result<(), CliError> {
    let (history, _) = audited(ctx, anchor).await?;
    let out = &ctx.out;
    out.line(format!(
        "{:>4}  {:<16}  {:<16}  {:<8}  POLICIES",
        "GEN", "TRANSITION", "MANIFEST", "VERIFIED"
    ));
    for e in &history.entries {
        out.line(format!(
            "{:>4}  {:<16}  {:<16}  {:<8}  {}",
            e.chain.generation,
            e.chain.transition_hash.short(),
            e.chain.manifest_hash.short(),
            out.mark(e.verified()),
            e.manifest()
                .map(|m| m.policies().len().to_string())
                .unwrap_or_else(|| "unparsable".into())
        ));
    }
    match &history.failure {
        None => out.line(format!(
            "{} chain re-hashed and latest signature verified ({})",
            out.check(),
            key_source_label(history.key_source)
        )),
        Some(f) => out.line(format!("{} {f}", out.cross())),
    }
    let result = check(&history);
    out.object(
        "history list",
        result.is_ok(),
        &json::HistoryList {
            generation: history.generation(),
            latest_transition: history.latest.transition_hash().to_hex(),
            key_source: key_source_label(history.key_source),
            verified: history.all_verified(),
            failure: history.failure.as_deref(),
            entries: json::Entry::all(&history),
        },
    );
    result.map_err(CliError::reported)
}

async fn show(ctx: &Ctx, generation: u64, raw: bool, anchor: &AnchorArgs) -> Result<(), CliError> {
    let (history, _) = audited(ctx, anchor).await?;
    check(&history)?;
    let e = entry(&history, generation)?;
    let parsed: Value = serde_json::from_slice(&e.manifest_bytes).unwrap_or(Value::Null);
    if raw && !ctx.out.json() {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&e.manifest_bytes)
            .map_err(|err| CliError::other(format!("cannot write to stdout: {err}")))?;
        return Ok(());
    }
    let out = &ctx.out;
    out.line(format!(
        "generation {generation} {}",
        out.mark(e.verified())
    ));
    out.line(format!("transition {}", e.chain.transition_hash.to_hex()));
    out.line(format!("previous   {}", e.chain.previous.to_hex()));
    out.line(format!("manifest   {}", e.chain.manifest_hash.to_hex()));
    out.line(serde_json::to_string_pretty(&parsed).unwrap_or_default());
    out.object(
        "history show",
        true,
        &json::HistoryShow {
            generation,
            transition: e.chain.transition_hash.to_hex(),
            previous: e.chain.previous.to_hex(),
            manifest_hash: e.chain.manifest_hash.to_hex(),
            verified: e.verified(),
            manifest: &parsed,
        },
    );
    Ok(())
}

/// The semantic diff, one change per line.
pub fn diff_lines(d: &ManifestDiff) -> Vec<String> {
    let mut lines = Vec::new();
    let short = |h: &str| h.chars().take(16).collect::<String>();
    for (hash, entry) in &d.policies_added {
        let secret = match entry.workload_secret_id.as_deref() {
            Some(id) if !id.is_empty() => format!(" WorkloadSecretID {id}"),
            _ => String::new(),
        };
        lines.push(format!(
            "+ policy {} role {} SANs [{}]{secret}",
            short(hash),
            entry.role,
            entry.sans.join(", ")
        ));
    }
    for (hash, entry) in &d.policies_removed {
        lines.push(format!("- policy {} role {}", short(hash), entry.role));
    }
    for change in &d.policies_changed {
        for c in &change.changes {
            lines.push(match c {
                PolicyFieldChange::Sans { added, removed } => format!(
                    "~ policy {} SANs +[{}] -[{}]",
                    short(&change.hash),
                    added.join(", "),
                    removed.join(", ")
                ),
                PolicyFieldChange::WorkloadSecretId { old, new } => format!(
                    "~ policy {} WorkloadSecretID {:?} → {:?}",
                    short(&change.hash),
                    old,
                    new
                ),
                PolicyFieldChange::Role { old, new } => {
                    format!("~ policy {} Role {old} → {new}", short(&change.hash))
                }
                _ => format!("~ policy {} changed", short(&change.hash)),
            });
        }
    }
    for v in &d.reference_values {
        lines.push(match v {
            ValueChange::Added { pointer, value } => {
                format!("+ ReferenceValues{pointer} = {value}")
            }
            ValueChange::Removed { pointer, value } => {
                format!("- ReferenceValues{pointer} (was {value})")
            }
            ValueChange::Changed { pointer, old, new } => {
                format!("~ ReferenceValues{pointer}: {old} → {new}")
            }
        });
    }
    for k in &d.workload_owners_added {
        lines.push(format!("+ workload owner {}", short(k)));
    }
    for k in &d.workload_owners_removed {
        lines.push(format!("- workload owner {}", short(k)));
    }
    for k in &d.seedshare_owners_added {
        lines.push(format!("+ seed share owner {}", short(k)));
    }
    for k in &d.seedshare_owners_removed {
        lines.push(format!("- seed share owner {}", short(k)));
    }
    if lines.is_empty() {
        lines.push("no semantic change".into());
    }
    lines
}

async fn diff(
    ctx: &Ctx,
    from: u64,
    to: u64,
    raw: bool,
    anchor: &AnchorArgs,
) -> Result<(), CliError> {
    let (history, _) = audited(ctx, anchor).await?;
    check(&history)?;
    let a = entry(&history, from)?;
    let b = entry(&history, to)?;
    let (Some(ma), Some(mb)) = (a.manifest(), b.manifest()) else {
        return Err(CliError::other(
            "one of the manifests does not parse; compare them with --raw",
        ));
    };
    let d = ManifestDiff::between(ma, mb);
    let out = &ctx.out;
    out.line(format!(
        "generation {from} ({}) → {to} ({})",
        a.chain.manifest_hash.short(),
        b.chain.manifest_hash.short()
    ));
    for line in diff_lines(&d) {
        out.line(line);
    }
    let raw_diff = raw.then(|| {
        let old = String::from_utf8_lossy(&a.manifest_bytes).into_owned();
        let new = String::from_utf8_lossy(&b.manifest_bytes).into_owned();
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .header(&format!("generation {from}"), &format!("generation {to}"))
            .to_string()
    });
    if let Some(text) = &raw_diff {
        out.line("");
        out.line(text.trim_end());
    }
    out.object(
        "history diff",
        true,
        &json::HistoryDiff {
            from,
            to,
            from_manifest: a.chain.manifest_hash.to_hex(),
            to_manifest: b.chain.manifest_hash.to_hex(),
            diff: &d,
            raw_diff: raw_diff.as_deref(),
        },
    );
    Ok(())
}

async fn export(ctx: &Ctx, out_path: PathBuf, anchor: &AnchorArgs) -> Result<(), CliError> {
    let (history, key) = audited(ctx, anchor).await?;
    check(&history)?;
    let verified = history.all_verified();
    let bundle = HistoryBundle::from_audit(&history, if verified { key.as_ref() } else { None })?;
    let text = bundle.to_json()?;
    if out_path.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    super::keys::write_new_public(&out_path, text.as_bytes(), "--out")?;
    let out = &ctx.out;
    out.line(format!(
        "{} wrote {} generation(s) to {} ({})",
        out.check(),
        history.generation(),
        out_path.display(),
        if verified {
            "verified; the signing public key is included"
        } else {
            "NOT verified: no signing key was available, none is included"
        }
    ));
    out.object(
        "history export",
        true,
        &json::HistoryExport {
            out: out_path.display().to_string(),
            generation: history.generation(),
            latest_transition: history.latest.transition_hash().to_hex(),
            verified,
            signing_key_included: bundle.signing_public_key_pem.is_some(),
        },
    );
    Ok(())
}

fn verify_bundle_cmd(
    ctx: &Ctx,
    path: PathBuf,
    signing_key: Option<PathBuf>,
    seed_shares: Option<PathBuf>,
    owner_key: String,
) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::other(format!("cannot read {}: {e}", path.display())))?;
    let bundle = HistoryBundle::from_json(&text)?;
    let anchor = match (signing_key, seed_shares) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "pass either --signing-key or --seed-shares, not both",
            ));
        }
        (Some(pem_path), None) => {
            let pem = std::fs::read_to_string(&pem_path)
                .map_err(|e| CliError::other(format!("cannot read {}: {e}", pem_path.display())))?;
            let key = VerifyingKey::from_public_key_pem(&pem).map_err(|_| {
                CliError::other(format!(
                    "{} is not a P-384 public key PEM",
                    pem_path.display()
                ))
            })?;
            BundleAnchor::SigningKey(key)
        }
        (None, Some(file)) => {
            let share_args = ShareArgs {
                seed_shares: Some(file),
                owner_key,
            };
            let store = ctx.keystore()?;
            let owner = store.load_owner(&share_args.owner_key)?;
            let share =
                ops::decrypt_share(&ctx.workspace, share_args.seed_shares.as_deref(), &owner)?;
            super::warn_share_permissions(&share);
            let engine = share.engine()?;
            BundleAnchor::SeedShare {
                signing_key: *engine.transaction_verifying_key(),
                root_ca: engine.root_ca_key().public_key(),
            }
        }
        (None, None) => BundleAnchor::None,
    };
    let verdict = verify_bundle(&bundle, &anchor)?;
    let out = &ctx.out;
    let h = &verdict.audit;
    out.line(format!(
        "bundle {}: generation {}, latest {}",
        path.display(),
        h.generation(),
        h.latest.transition_hash().to_hex()
    ));
    for e in &h.entries {
        out.line(format!(
            "  {} {:>4}  transition {}  manifest {}",
            out.mark(e.verified()),
            e.chain.generation,
            e.chain.transition_hash.short(),
            e.chain.manifest_hash.short()
        ));
    }
    for p in &verdict.problems {
        out.line(format!("{} {p}", out.cross()));
    }
    if verdict.ok() {
        if verdict.anchored {
            out.line(format!(
                "{} verified and anchored ({})",
                out.check(),
                match verdict.anchor {
                    "seed-share" => "signing key and root CA derived from your seed share",
                    _ => "signing key given with --signing-key",
                }
            ));
        } else {
            out.line(
                "self-consistent but not anchored: the bundle verifies with the signing key it carries itself, \
                 which proves nothing about its origin. Pass --signing-key history-signing-key.pem or --seed-shares to anchor it",
            );
        }
    }
    out.object(
        "history verify-bundle",
        verdict.ok(),
        &json::HistoryVerifyBundle {
            bundle: path.display().to_string(),
            anchored: verdict.anchored,
            anchor: verdict.anchor,
            generation: h.generation(),
            latest_transition: h.latest.transition_hash().to_hex(),
            root_ca_matches: verdict.root_ca_matches,
            missing_policies: &verdict.missing_policies,
            problems: &verdict.problems,
            entries: json::Entry::all(h),
        },
    );
    if verdict.ok() {
        Ok(())
    } else {
        Err(CliError::verification(format!(
            "the bundle does not verify: {}",
            verdict.problems.join("; ")
        ))
        .reported())
    }
}
