//! `seedward workload-secret`

use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::{CliError, Ctx, ShareArgs, json};
use seedward::ops;

pub const WORKLOAD_SECRET_AFTER_HELP: &str = "\
Derives the 64-byte workload secret for a WorkloadSecretID from your seed share, offline:
no Coordinator is contacted. It is the value the Coordinator hands to workloads with that ID.

Examples:
  seedward workload-secret --id db                  # 128 hex characters on stdout
  seedward workload-secret --id db --out db.secret  # a new file, mode 0400
  seedward workload-secret --id db --seed-shares /backup/seed-shares.json --owner-key laptop
  seedward workload-secret --id db --other-owner-key bob.pem   # k of n: k owners' keys";

/// `seedward workload-secret`
#[derive(Debug, Args)]
pub struct WorkloadSecretArgs {
    /// The policy's WorkloadSecretID.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// Write the 128 hex characters to this new file (mode 0400) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub share: ShareArgs,
    /// Threshold deployments: another owner's private key file (PKCS#8 PEM, as written by
    /// `seedward keys export --private`); repeat until k owners are given.
    #[arg(long, value_name = "FILE")]
    pub other_owner_key: Vec<PathBuf>,
}

/// A note when the workspace's active manifest has no policy with WorkloadSecretID `id` (a
/// typo derives a secret as readily as the right ID, and no workload would ever get it).
fn unused_id_note(ctx: &Ctx, id: &str) -> Option<String> {
    use seedward::workspace::MANIFEST_FILE;
    let bytes = ctx.workspace.read(MANIFEST_FILE).ok()??;
    let manifest = seedward_shared::manifest::Manifest::parse(bytes).ok()?;
    let ids: Vec<&str> = manifest
        .policies()
        .values()
        .filter_map(|p| p.workload_secret_id.as_deref())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.contains(&id) {
        return None;
    }
    let known = if ids.is_empty() {
        "it has none".to_string()
    } else {
        format!("it has {}", ids.join(", "))
    };
    Some(format!(
        "no policy of the active {MANIFEST_FILE} uses WorkloadSecretID {id:?} ({known}); no workload receives this secret. Check the ID"
    ))
}

pub fn workload_secret(ctx: &Ctx, args: WorkloadSecretArgs) -> Result<(), CliError> {
    if args.id.is_empty() {
        return Err(CliError::usage("--id must not be empty"));
    }
    let store = ctx.keystore()?;
    let owner = store.load_owner(&args.share.owner_key)?;
    let (document, _) =
        ops::read_share_document(&ctx.workspace, args.share.seed_shares.as_deref())?;
    let share = if document.threshold() > 1 {
        let mut owners = vec![owner];
        for path in &args.other_owner_key {
            let pem = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("--other-owner-key {}: {e}", path.display()))
            })?);
            owners.push(
                seedward_shared::keys::OwnerKeyPair::from_pkcs8_pem(&pem).map_err(|e| {
                    CliError::usage(format!(
                        "--other-owner-key {}: not an owner private key ({e})",
                        path.display()
                    ))
                })?,
            );
        }
        ops::combine_offline(&document, &owners)?
    } else {
        if !args.other_owner_key.is_empty() {
            return Err(CliError::usage(
                "--other-owner-key is for threshold deployments; this seed share document holds the whole seed",
            ));
        }
        ops::decrypt_share(&ctx.workspace, args.share.seed_shares.as_deref(), &owner)?
    };
    super::warn_share_permissions(&share);
    let secret = ops::workload_secret(&share, &args.id)?;
    if let Some(note) = unused_id_note(ctx, &args.id) {
        ctx.out.warn(&note);
    }
    let hex = Zeroizing::new(hex::encode(secret.expose()));
    match &args.out {
        Some(path) => {
            seedward::workspace::write_secret_file(path, hex.as_bytes(), 0o400)?;
            ctx.out.line(format!(
                "{} workload secret for {:?} written to {} (mode 0400)",
                ctx.out.check(),
                args.id,
                path.display()
            ));
            ctx.out.object(
                "workload-secret",
                true,
                &json::WorkloadSecret {
                    id: &args.id,
                    out: Some(path.display().to_string()),
                    secret_hex: None,
                },
            );
        }
        None => {
            if ctx.out.json() {
                ctx.out.object(
                    "workload-secret",
                    true,
                    &json::WorkloadSecret {
                        id: &args.id,
                        out: None,
                        secret_hex: Some(hex.as_str()),
                    },
                );
            } else {
                println!("{}", hex.as_str());
            }
        }
    }
    Ok(())
}
