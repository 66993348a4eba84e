//! `seedward status | set | recover` (`verify` is in `verify.rs`)

use std::path::{Path, PathBuf};

use clap::Args;

use super::verify::audit_key;
use super::{CliError, Ctx, ShareArgs, json};
use seedward::client::evidence::ReferenceSource;
use seedward::keystore::{DEFAULT_OWNER_KEY, DEFAULT_WORKLOAD_KEY};
use seedward::ops::{self, CoordinatorState, EvidenceView, StatusView, TrustLevel};
use seedward::workspace::{MANIFEST_FILE, SEED_SHARES_FILE};
use seedward_shared::history::Digest;
use seedward_shared::manifest::{Manifest, ManifestDiff};

pub const STATUS_AFTER_HELP: &str = "\
Examples:
  seedward status
  seedward --coordinator 10.0.0.5:1313 status --json | jq -r .state";

pub const SET_AFTER_HELP: &str = "\
The first set on an uninitialized Coordinator is the setup: it saves seed-shares.json (0600),
coordinator-root-ca.pem, mesh-ca.pem and manifest.json in the workspace, then proves with
your owner key that your share recovers this Coordinator. Later sets are updates, signed
with the workload owner key.

Examples:
  seedward set --manifest manifest.json --policy coordinator.toml --policy web.toml
  seedward set --manifest manifest-v2.json --policy web.toml --atomic --yes
  seedward set --manifest m.json --atomic --expect-latest 3f2a…   # only if the latest is still the reviewed one";

pub const VERIFY_AFTER_HELP: &str = "\
Exit code 3 when the chain does not verify with the seed-derived or saved signing key, the
root CA is not the pinned one, or the active manifest differs from the workspace's manifest.json.

Examples:
  seedward verify                      # writes ./verify/
  seedward verify --out /tmp/audit --json
  seedward verify --use-seed-share     # derive the signing key from your seed share";

pub const RECOVER_AFTER_HELP: &str = "\
Steps: decrypt your share → pre-flight (the stored history must verify with the key derived
from your seed before anything is sent) → show the evidence → confirm → send → re-verify.

Examples:
  seedward recover                         # asks for a typed confirmation
  seedward recover --yes --seed-shares /backup/seed-shares.json";

/// `seedward set`
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The manifest JSON (sent byte for byte).
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// A policy document the manifest references (repeat for each).
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Update: sign against the latest transition of a fresh, verified history audit.
    #[arg(long)]
    pub atomic: bool,
    /// Update: sign against this transition hash (hex); the Coordinator refuses with STALE_LATEST if its latest moved.
    #[arg(long, value_name = "HASH")]
    pub expect_latest: Option<String>,
    /// Setup: your seed share owner key (for the share drill).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_OWNER_KEY)]
    pub owner_key: String,
    /// Update: the workload owner key that signs the update.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_WORKLOAD_KEY)]
    pub workload_key: String,
}

/// `seedward verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Where to write the audited history (default: verify/ in the workspace).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub anchor: AnchorArgs,
}

/// How the history's signing key is found.
#[derive(Debug, Clone, Args)]
pub struct AnchorArgs {
    /// Derive the signing key from your seed share instead of the saved history-signing-key.pem.
    #[arg(long)]
    pub use_seed_share: bool,
    #[command(flatten)]
    pub share: ShareArgs,
}

/// `seedward recover`
#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub share: ShareArgs,
    /// Recover even though the Coordinator's active manifest is not the workspace's manifest.json.
    #[arg(long)]
    pub force: bool,
}

pub fn trust_label(t: TrustLevel) -> &'static str {
    match t {
        TrustLevel::Pinned => "pinned",
        TrustLevel::PinMismatch => "pin-mismatch",
        TrustLevel::MissingPin => "unpinned",
        TrustLevel::FirstUse => "first-use",
    }
}

fn trust_text(s: &StatusView) -> &'static str {
    match s.trust {
        TrustLevel::Pinned => "pinned (the certificate chains to the root CA saved at setup)",
        TrustLevel::PinMismatch if s.takeover() => {
            "TAKEOVER: the Coordinator is ready but its certificate is NOT from the root CA saved at setup: it holds another deployment's keys (a replaced or wiped history set up again, or another Coordinator at this address). Do not send anything to it; see docs/RELIABILITY.md"
        }
        TrustLevel::PinMismatch => {
            "not yet pinned (the certificate is not from the saved root CA; expected while recovery is required)"
        }
        TrustLevel::MissingPin => {
            "unpinned (seed shares but no coordinator-root-ca.pem: recovery or the share drill derives it from your seed and writes it)"
        }
        TrustLevel::FirstUse => "first use (nothing pinned yet)",
    }
}

pub fn state_label(s: CoordinatorState) -> &'static str {
    match s {
        CoordinatorState::Uninitialized => "uninitialized",
        CoordinatorState::Ready => "ready",
        CoordinatorState::RecoveryRequired => "recovery-required",
        CoordinatorState::Stale => "stale",
        CoordinatorState::Unknown => "unknown",
    }
}

fn status_json(s: &StatusView) -> json::Status<'_> {
    json::Status {
        coordinator: &s.address,
        trust: trust_label(s.trust),
        state: state_label(s.state),
        generation: s.generation,
        latest_transition: s.latest.map(|d| d.to_hex()),
        root_ca_fingerprint: s.root_ca_fingerprint.as_deref(),
        evidence: json::Evidence::of(s.evidence.as_ref()),
        version: &s.version,
        next_step: s.state.next_step(),
        replica_set: s.replica_set.as_ref().map(|set| json::ReplicaSet {
            answered_by: &set.self_id,
            as_of_unix_ms: set.as_of_unix_ms,
            error: set.error.as_deref(),
            replicas: super::replicas::replicas_json(set),
        }),
        last_recovery: s.last_recovery.as_ref().map(|r| json::Recovery {
            by: &r.by,
            who: &r.who,
            at_unix_ms: r.at_unix_ms,
        }),
    }
}

fn print_status(ctx: &Ctx, s: &StatusView) {
    let out = &ctx.out;
    out.line(format!("Coordinator  {}", s.address));
    out.line(format!("state        {}", s.state.label()));
    out.line(format!("generation   {}", s.generation));
    out.line(format!(
        "latest       {}",
        s.latest.map(|d| d.to_hex()).unwrap_or_else(|| "-".into())
    ));
    out.line(format!(
        "root CA      {}",
        s.root_ca_fingerprint.clone().unwrap_or_else(|| "-".into())
    ));
    if s.takeover() {
        out.line(out.alarm(&format!("connection   {}", trust_text(s))));
    } else {
        out.line(format!("connection   {}", trust_text(s)));
    }
    out.line(format!(
        "evidence     {}",
        s.evidence
            .as_ref()
            .map(EvidenceView::summary)
            .unwrap_or_else(|| "none offered".into())
    ));
    if let Some(ev) = &s.evidence {
        print_checks(out, ev);
    }
    if let Some(set) = &s.replica_set {
        out.line(format!(
            "replicas     {} of {} ready (answered by {}; `seedward replicas` for the board)",
            set.ready(),
            set.replicas.len(),
            set.self_id
        ));
    }
    if let Some(recovery) = &s.last_recovery {
        out.line(format!("recovered    {}", recovery.describe()));
    }
    out.line(format!("version      {}", s.version));
    out.line(format!("next         {}", s.state.next_step()));
}

/// The checks of a TEE verdict, one line each (none for development evidence).
pub(super) fn print_checks(out: &crate::cli::Out, ev: &EvidenceView) {
    if ev.unattested() {
        return;
    }
    out.line(format!(
        "             checked against {}",
        ev.source.describe()
    ));
    print_check_lines(out, &ev.verdict.checks);
}

/// One line per check: ✓ with what was seen, ✗ with seen/expected and what to change, `-`
/// for a check that was not performed.
pub fn print_check_lines(out: &crate::cli::Out, checks: &[seedward_attestation::Check]) {
    for c in checks {
        let line = match c.ok {
            Some(true) => format!("  {} {} {}", out.mark(true), c.name, c.seen),
            Some(false) => format!(
                "  {} {}: seen {}, expected {}; {}",
                out.mark(false),
                c.name,
                c.seen,
                c.expected,
                c.hint
            ),
            None => format!("  - {}: not performed; {}", c.name, c.hint),
        };
        out.line(line);
    }
}

pub async fn status(ctx: &Ctx) -> Result<(), CliError> {
    let conn = ctx.connect().await?;
    let s = ops::status(&conn).await?;
    print_status(ctx, &s);
    if matches!(
        s.state,
        CoordinatorState::RecoveryRequired | CoordinatorState::Stale
    ) && let Ok(session) = ops::recovery_session(&conn, None).await
        && let Some(open) = &session.session
    {
        ctx.out.line(format!(
            "recovery session open: {} of {} owners needed, {} to go (seedward recovery status)",
            open.threshold,
            open.owners.len(),
            open.remaining
        ));
    }
    ctx.out.object("status", !s.takeover(), &status_json(&s));
    if s.takeover() {
        return Err(CliError::verification(
            "TAKEOVER: the Coordinator is ready with keys that are not this workspace's deployment's (its certificate is not from the pinned root CA)",
        )
        .reported());
    }
    Ok(())
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::other(format!("cannot read {what} {}: {e}", path.display())))
}

/// Loads and validates a manifest and its policies (before anything is sent).
fn load_manifest(args: &SetArgs) -> Result<(Manifest, Vec<Vec<u8>>), CliError> {
    let raw = read_file(&args.manifest, "the manifest")?;
    let manifest = Manifest::parse_and_validate(raw)
        .map_err(|e| CliError::other(format!("{}: {e}", args.manifest.display())))?;
    let policies = args
        .policies
        .iter()
        .map(|p| read_file(p, "the policy"))
        .collect::<Result<Vec<_>, _>>()?;
    manifest
        .check_policies(&policies)
        .map_err(|e| CliError::other(format!("{}: {e}", args.manifest.display())))?;
    Ok((manifest, policies))
}

/// Evidence + typed confirmation before a seed leaves or a manifest is replaced.
pub(super) fn show_evidence(ctx: &Ctx, s: &StatusView) {
    let summary = s
        .evidence
        .as_ref()
        .map(EvidenceView::summary)
        .unwrap_or_else(|| "no evidence offered".into());
    ctx.out.line(format!("evidence: {summary}"));
    if let Some(ev) = &s.evidence {
        print_checks(&ctx.out, ev);
    }
    ctx.out.line(format!("connection: {}", trust_text(s)));
}

/// The confirmation word: `unattested` when nothing attests the Coordinator, so that the
/// operator who types it acknowledges that (and `--yes` alone does not).
pub(super) fn confirm_word(s: &StatusView, word: &'static str) -> &'static str {
    if s.evidence.as_ref().is_some_and(|e| e.attested()) {
        word
    } else {
        "unattested"
    }
}

pub async fn set(ctx: &Ctx, args: SetArgs) -> Result<(), CliError> {
    let (manifest, policies) = load_manifest(&args)?;
    let conn = ctx.connect().await?;
    let s = ops::status(&conn).await?;
    match s.state {
        CoordinatorState::Uninitialized => setup(ctx, &conn, &s, &args, &manifest, policies).await,
        CoordinatorState::Ready => update(ctx, &conn, &s, &args, &manifest, policies).await,
        CoordinatorState::RecoveryRequired | CoordinatorState::Stale => {
            Err(CliError::refused(format!(
                "the Coordinator is {}: it holds no keys and cannot take a manifest. Run `seedward recover` first",
                s.state.label()
            )))
        }
        CoordinatorState::Unknown => Err(CliError::other(s.state.next_step())),
    }
}

async fn setup(
    ctx: &Ctx,
    conn: &ops::Connection,
    s: &StatusView,
    args: &SetArgs,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
) -> Result<(), CliError> {
    ops::check_setup_preconditions(&ctx.workspace)?;
    let store = ctx.keystore()?;
    let owner = store.load_owner(&args.owner_key)?;
    let owner_hex = owner.public_key().to_hex();
    if !manifest
        .seedshare_owner_pub_keys()
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&owner_hex))
    {
        return Err(CliError::other(format!(
            "your owner key {:?} ({}) is not in the manifest's SeedshareOwnerPubKeys, so its share could not be checked; add {owner_hex} to the manifest or pass --owner-key",
            args.owner_key,
            owner.public_key().fingerprint()
        )));
    }
    ctx.out.line(format!(
        "first-time setup of {} with manifest {} ({} policies, {} seed share owner(s))",
        s.address,
        manifest.hash().short(),
        manifest.policies().len(),
        manifest.seedshare_owner_pub_keys().len()
    ));
    // Judge the Coordinator by the manifest about to be set.
    let mut judged = conn.clone();
    judged.expect(manifest, ReferenceSource::ManifestBeingSet);
    let s = ops::status(&judged).await?;
    show_evidence(ctx, &s);
    let word = confirm_word(&s, "set");
    let allow_unattested = ctx.allow_unattested || (!ctx.yes && word == "unattested");
    ctx.confirm(
        "The Coordinator will generate the seed and return the encrypted seed shares to this workspace.",
        word,
    )?;
    let outcome =
        ops::set_first_manifest(conn, &ctx.workspace, manifest, policies, allow_unattested).await?;
    for f in &outcome.files {
        ctx.out
            .line(format!("{} saved {}", ctx.out.check(), f.display()));
    }
    // Right after a first set nobody else can have set a manifest: a drill that fails now
    // means the manifest was changed on its way (a relay that also forged the reply).
    let drill = ops::share_drill(conn, &ctx.workspace, &owner)
        .await
        .map_err(|e| match e {
            ops::OpsError::Verification(why) => ops::OpsError::Verification(format!(
                "the share drill right after setup failed: {why}. Someone else may hold the seed: do not use this deployment (nor the seed shares just saved); set up a new Coordinator, over a connection you trust"
            )),
            other => other,
        })?;
    ctx.out.line(format!(
        "{} transition {} (generation {})",
        ctx.out.check(),
        outcome.transition.to_hex(),
        outcome.generation
    ));
    if let Some(file) = &drill.signing_key_file {
        ctx.out
            .line(format!("{} saved {}", ctx.out.check(), file.display()));
    }
    match &drill.threshold_share {
        None => ctx.out.line(format!(
            "your share recovers this Coordinator {} (owner key {}, history and root CA verified with the key derived from your share)",
            ctx.out.check(),
            drill.owner_fingerprint
        )),
        Some(t) => ctx.out.line(format!(
            "your share is intact {} (owner key {}, share {} of {}, matches its commitment); any {} of the {} owners recover this Coordinator together{}",
            ctx.out.check(),
            drill.owner_fingerprint,
            t.index,
            t.owners,
            t.threshold,
            t.owners,
            if drill.signing_key_file.is_some() {
                "; the history verifies with the document's HistorySigningKey"
            } else {
                ""
            }
        )),
    }
    ctx.out.line(format!(
        "Keep {} safe and backed up: it is what brings this Coordinator back after a restart.",
        SEED_SHARES_FILE
    ));
    ctx.out.object(
        "set",
        true,
        &json::SetSetup {
            mode: "setup",
            transition: outcome.transition.to_hex(),
            generation: outcome.generation,
            seed_shares: outcome.seed_shares,
            files: outcome
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            drill: json::Drill {
                ok: true,
                owner_fingerprint: &drill.owner_fingerprint,
                generation: drill.generation,
                latest_transition: drill.latest.to_hex(),
                root_ca_matches: drill.root_ca_matches,
                signing_key_file: drill
                    .signing_key_file
                    .as_ref()
                    .map(|f| f.display().to_string()),
                threshold: drill.threshold_share.map(|t| json::ThresholdShare {
                    threshold: t.threshold,
                    owners: t.owners,
                    index: t.index,
                }),
            },
        },
    );
    Ok(())
}

async fn update(
    ctx: &Ctx,
    conn: &ops::Connection,
    s: &StatusView,
    args: &SetArgs,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
) -> Result<(), CliError> {
    let store = ctx.keystore()?;
    let key = store.load_workload(&args.workload_key)?;
    let active: Option<Manifest>;
    let base: Digest = if let Some(hex) = &args.expect_latest {
        let base = hex.parse::<Digest>().map_err(|_| {
            CliError::usage("--expect-latest must be a 64-character hex transition hash")
        })?;
        let audit = ops::audit_history(conn, None).await?;
        active = audit.active().and_then(|e| e.manifest().cloned());
        base
    } else if args.atomic {
        let key = audit_key(ctx, &AnchorArgs::default()).await?;
        let audit = ops::audit_history(conn, key).await?;
        if !audit.all_verified() {
            return Err(CliError::verification(format!(
                "refusing the atomic update: the history did not verify ({})",
                audit.failure.clone().unwrap_or_default()
            )));
        }
        active = audit.active().and_then(|e| e.manifest().cloned());
        audit.latest.transition_hash()
    } else {
        let audit = ops::audit_history(conn, None).await?;
        active = audit.active().and_then(|e| e.manifest().cloned());
        s.latest
            .ok_or_else(|| CliError::other("the Coordinator reports no latest transition"))?
    };
    let diff = active
        .as_ref()
        .map(|old| ManifestDiff::between(old, manifest));
    ctx.out.line(format!(
        "update of {} from generation {} (latest {}) to manifest {}",
        s.address,
        s.generation,
        base.short(),
        manifest.hash().short()
    ));
    if let Some(diff) = &diff {
        for line in super::history::diff_lines(diff) {
            ctx.out.line(format!("  {line}"));
        }
    }
    show_evidence(ctx, s);
    ctx.confirm("This replaces the active manifest.", "update")?;
    let outcome =
        ops::update_manifest(conn, &ctx.workspace, manifest, policies, &key, base).await?;
    ctx.out.line(format!(
        "{} transition {} (generation {}), signed with workload owner key {}",
        ctx.out.check(),
        outcome.transition.to_hex(),
        outcome.generation,
        key.public_key().fingerprint()
    ));
    ctx.out.line("The mesh CA changed: restart the workloads so that they get certificates from the new mesh CA.");
    ctx.out.object(
        "set",
        true,
        &json::SetUpdate {
            mode: "update",
            atomic: args.atomic || args.expect_latest.is_some(),
            base: base.to_hex(),
            transition: outcome.transition.to_hex(),
            generation: outcome.generation,
            diff: diff.as_ref(),
        },
    );
    Ok(())
}

pub async fn recover(ctx: &Ctx, args: RecoverArgs) -> Result<(), CliError> {
    let (document, _) =
        ops::read_share_document(&ctx.workspace, args.share.seed_shares.as_deref())?;
    if document.threshold() > 1 {
        return super::recovery::recover(ctx, args, document).await;
    }
    let store = ctx.keystore()?;
    let owner = store.load_owner(&args.share.owner_key)?;
    let share = ops::decrypt_share(&ctx.workspace, args.share.seed_shares.as_deref(), &owner)?;
    super::warn_share_permissions(&share);
    ctx.out.line(format!(
        "{} decrypted your seed share (owner key {})",
        ctx.out.check(),
        share.owner_fingerprint
    ));
    let conn = ctx.connect().await?;
    // A refused pre-flight is diagnosed from the workspace's pin and last-seen transition
    // (another deployment's share or Coordinator, a tampered pointer, a damaged store).
    let preflight = ops::recovery_preflight_explained(&conn, &share, &ctx.workspace)
        .await
        .map_err(|e| match e {
            ops::OpsError::Verification(message) => {
                ops::OpsError::Verification(format!("pre-flight: {message}"))
            }
            other => other,
        })?;
    ctx.out.line(format!(
        "{} pre-flight: the stored history (generation {}, latest {}) verifies with the key derived from your seed",
        ctx.out.check(),
        preflight.generation,
        preflight.latest.short()
    ));
    // Was the store rolled back behind what this workspace saw last?
    ops::check_rollback(&ctx.workspace, &preflight, args.force)?;
    // Is this the deployment the workspace set up?
    if let Some(saved) = ctx.workspace.read(MANIFEST_FILE)? {
        let response = conn.client.manifests().await.map_err(ops::OpsError::from)?;
        let same = response.manifests.last().is_some_and(|m| *m == saved);
        if !same {
            if args.force {
                ctx.out.warn(&format!(
                    "the Coordinator's active manifest is not this workspace's {MANIFEST_FILE}; recovering anyway (--force)"
                ));
            } else {
                return Err(CliError::verification(format!(
                    "the Coordinator's active manifest is not this workspace's {MANIFEST_FILE}: its history verifies with your seed, but someone set another manifest since. Inspect it with `seedward history list`, then rerun with --force"
                )));
            }
        }
    }
    show_evidence(ctx, &preflight.status);
    if let Some(warning) = preflight
        .status
        .replica_set
        .as_ref()
        .and_then(ops::ReplicaSetView::owner_recovery_not_needed)
    {
        ctx.out.warn(&warning);
    }
    let word = confirm_word(&preflight.status, "recover");
    let allow_unattested = ctx.allow_unattested || (!ctx.yes && word == "unattested");
    ctx.confirm(
        &format!(
            "Your seed will be sent, end-to-end encrypted, to the Coordinator at {}.",
            ctx.address
        ),
        word,
    )?;
    let response = ops::send_recovery(&conn, &owner, share, &preflight, allow_unattested).await?;
    ctx.out.line(format!(
        "{} the Coordinator accepted the seed",
        ctx.out.check()
    ));
    let re = ops::reverify_after_recovery(&conn, &ctx.workspace, &preflight, &response).await?;
    let ok = re.root_ca_matches_pin
        && re.history_unchanged
        && re.status.state == CoordinatorState::Ready;
    ctx.out.line(format!(
        "{} state is {}",
        ctx.out.mark(re.status.state == CoordinatorState::Ready),
        re.status.state.label()
    ));
    ctx.out.line(format!(
        "{} root CA key is the pinned one",
        ctx.out.mark(re.root_ca_matches_pin)
    ));
    ctx.out.line(format!(
        "{} history unchanged (generation {})",
        ctx.out.mark(re.history_unchanged),
        re.status.generation
    ));
    let checklist = [
        "The mesh CA changed (a fresh key per recovery): restart every workload so that it gets a new certificate.",
        "Clients that pinned the old mesh CA need the new mesh-ca.pem (saved in the workspace).",
        "The root CA key is unchanged: clients that pin the root CA need nothing.",
        "Run `seedward verify` to audit the history and refresh the verify/ folder.",
    ];
    if let Some(note) = preflight
        .status
        .replica_set
        .as_ref()
        .and_then(ops::ReplicaSetView::peers_will_follow)
    {
        ctx.out.line(format!("{} {note}", ctx.out.check()));
    }
    ctx.out.line("after recovery:");
    for item in checklist {
        ctx.out.line(format!("  [ ] {item}"));
    }
    ctx.out.object(
        "recover",
        ok,
        &json::Recover {
            coordinator: &ctx.address,
            state: state_label(re.status.state),
            generation: re.status.generation,
            latest_transition: preflight.latest.to_hex(),
            evidence: json::Evidence::of(preflight.status.evidence.as_ref()),
            root_ca_matches_pin: re.root_ca_matches_pin,
            history_unchanged: re.history_unchanged,
            mesh_ca_changed: re.mesh_ca_changed,
            checklist: &checklist,
        },
    );
    if ok {
        Ok(())
    } else {
        Err(
            CliError::verification("after recovery the Coordinator does not check out (see above)")
                .reported(),
        )
    }
}
