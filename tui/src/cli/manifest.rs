//! `seedward manifest template`

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, Ctx, json};
use seedward::keystore::{DEFAULT_OWNER_KEY, DEFAULT_WORKLOAD_KEY};
use seedward_shared::history::Digest;
use seedward_shared::manifest::Manifest;

pub const MANIFEST_AFTER_HELP: &str = "\
Examples:
  seedward manifest template --out-dir deploy
  seedward set --manifest deploy/manifest.json --policy deploy/policy-1.toml --policy deploy/policy-2.toml";

#[derive(Debug, Args)]
pub struct ManifestArgs {
    #[command(subcommand)]
    pub command: ManifestCommand,
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Write an example manifest with this workspace's owner keys, and its policy documents.
    #[command(after_help = "\
Examples:
  seedward manifest template --out-dir deploy
  seedward manifest template --out-dir deploy --owner-key laptop --no-workload-key   # immutable deployment")]
    Template {
        /// Folder for manifest.json and policy-<n>.toml (created; existing files are not replaced).
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
        /// The seed share owner key to list in SeedshareOwnerPubKeys.
        #[arg(long, value_name = "NAME", default_value = DEFAULT_OWNER_KEY)]
        owner_key: String,
        /// The workload owner key to list in WorkloadOwnerPubKeys.
        #[arg(long, value_name = "NAME", default_value = DEFAULT_WORKLOAD_KEY)]
        workload_key: String,
        /// Leave WorkloadOwnerPubKeys empty: the manifest can never be updated.
        #[arg(long)]
        no_workload_key: bool,
    },
}

impl ManifestCommand {
    pub fn name(&self) -> &'static str {
        match self {
            ManifestCommand::Template { .. } => "manifest template",
        }
    }
}

pub fn run(ctx: &Ctx, cmd: ManifestCommand) -> Result<(), CliError> {
    let ManifestCommand::Template {
        out_dir,
        owner_key,
        workload_key,
        no_workload_key,
    } = cmd;
    let store = ctx.keystore()?;
    let not_found = |name: &str, kind: &str| {
        CliError::other(format!(
            "no {kind} key named {name:?} in the key store; create it with `seedward keys generate --kind {kind}`"
        ))
    };
    let owner = store
        .find(&owner_key)?
        .ok_or_else(|| not_found(&owner_key, "owner"))?;
    let workload = if no_workload_key {
        Vec::new()
    } else {
        vec![
            store
                .find(&workload_key)?
                .ok_or_else(|| not_found(&workload_key, "workload"))?
                .public_hex,
        ]
    };
    let template = Manifest::template(&[owner.public_hex], &workload);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| CliError::other(format!("cannot create {}: {e}", out_dir.display())))?;
    let manifest_path = out_dir.join("manifest.json");
    super::keys::write_new_public(&manifest_path, &template.manifest, "--out-dir")?;
    let mut policy_paths = Vec::new();
    for (i, policy) in template.policies.iter().enumerate() {
        let path = out_dir.join(format!("policy-{}.toml", i + 1));
        super::keys::write_new_public(&path, policy, "--out-dir")?;
        policy_paths.push((path, Digest::of(policy)));
    }
    ctx.out.line(format!(
        "{} wrote {}",
        ctx.out.check(),
        manifest_path.display()
    ));
    for (path, hash) in &policy_paths {
        ctx.out.line(format!(
            "{} wrote {} (sha256 {})",
            ctx.out.check(),
            path.display(),
            hash.short()
        ));
    }
    let mut command = format!("seedward set --manifest {}", manifest_path.display());
    for (path, _) in &policy_paths {
        command.push_str(&format!(" --policy {}", path.display()));
    }
    ctx.out
        .line(format!("Edit them for your deployment, then: {command}"));
    ctx.out.object(
        "manifest template",
        true,
        &json::ManifestTemplate {
            manifest: manifest_path.display().to_string(),
            policies: policy_paths
                .iter()
                .map(|(p, h)| json::PolicyFile {
                    path: p.display().to_string(),
                    sha256: h.to_hex(),
                })
                .collect(),
        },
    );
    Ok(())
}
