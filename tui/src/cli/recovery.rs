//! Threshold recovery from the command line: `seedward recover` on a k-of-n deployment
//! (open or join the session and submit this owner's share), `seedward recovery status` and
//! `seedward recovery cancel`.

use std::time::SystemTime;

use clap::{Args, Subcommand};
use seedward::ops::{self, CoordinatorState, SessionInfo, SessionStatus};
use seedward::workspace::MANIFEST_FILE;
use seedward_shared::seedshare::SeedShareDocument;

use super::coordinator::{RecoverArgs, confirm_word, show_evidence, state_label};
use super::{CliError, Ctx, ShareArgs, json};

pub const RECOVERY_AFTER_HELP: &str = "\
Threshold deployments (SeedshareOwnerThreshold k >= 2) recover in a session that k owners
join from their own machines with `seedward recover`. These commands follow and end it.

Examples:
  seedward recovery status          # who has submitted, how many to go, time left
  seedward --json recovery status
  seedward recovery cancel          # end the open session (needs your owner key)";

/// `seedward recovery`
#[derive(Debug, Args)]
pub struct RecoveryArgs {
    #[command(subcommand)]
    pub command: RecoveryCommand,
}

#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Show the open recovery session (owners, who submitted, time left) or how the last ended.
    Status(StatusArgs),
    /// Cancel the open recovery session (an owner only: proven with your owner key).
    Cancel(CancelArgs),
}

impl RecoveryCommand {
    pub fn name(&self) -> &'static str {
        match self {
            RecoveryCommand::Status(_) => "recovery status",
            RecoveryCommand::Cancel(_) => "recovery cancel",
        }
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Name of your owner key, to mark your own row (optional).
    #[arg(long, value_name = "NAME")]
    pub owner_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub share: ShareArgs,
}

pub async fn run(ctx: &Ctx, args: RecoveryArgs) -> Result<(), CliError> {
    match args.command {
        RecoveryCommand::Status(a) => status(ctx, a).await,
        RecoveryCommand::Cancel(a) => cancel(ctx, a).await,
    }
}

async fn status(ctx: &Ctx, args: StatusArgs) -> Result<(), CliError> {
    let owner = match &args.owner_key {
        Some(name) => Some(ctx.keystore()?.load_owner(name)?),
        None => None,
    };
    let conn = ctx.connect().await?;
    let status = ops::recovery_session(&conn, owner.as_ref()).await?;
    print_status(ctx, &status);
    ctx.out
        .object("recovery status", true, &json::Session::of(&status));
    Ok(())
}

async fn cancel(ctx: &Ctx, args: CancelArgs) -> Result<(), CliError> {
    let owner = ctx.keystore()?.load_owner(&args.share.owner_key)?;
    let conn = ctx.connect().await?;
    let status = ops::cancel_session(&conn, &owner).await?;
    ctx.out.line(format!(
        "{} recovery session cancelled (owner key {})",
        ctx.out.check(),
        owner.public_key().fingerprint()
    ));
    print_status(ctx, &status);
    ctx.out
        .object("recovery cancel", true, &json::Session::of(&status));
    Ok(())
}

/// `seedward recover` on a threshold deployment.
pub async fn recover(
    ctx: &Ctx,
    args: RecoverArgs,
    document: SeedShareDocument,
) -> Result<(), CliError> {
    let owner = ctx.keystore()?.load_owner(&args.share.owner_key)?;
    let share = document
        .open_key_share_with(&owner)
        .map_err(|e| CliError::verification(e.to_string()))?;
    ctx.out.line(format!(
        "{} your share is intact (owner key {}, share {} of {}, matches its commitment)",
        ctx.out.check(),
        owner.public_key().fingerprint(),
        share.index(),
        document.seed_shares.len()
    ));
    let conn = ctx.connect().await?;
    // Is this the deployment the workspace set up?
    if let Some(saved) = ctx.workspace.read(MANIFEST_FILE)? {
        let response = conn.client.manifests().await.map_err(ops::OpsError::from)?;
        let same = response.manifests.last().is_some_and(|m| *m == saved);
        if !same {
            if args.force {
                ctx.out.warn(&format!(
                    "the Coordinator's active manifest is not this workspace's {MANIFEST_FILE}; submitting anyway (--force)"
                ));
            } else {
                return Err(CliError::verification(format!(
                    "the Coordinator's active manifest is not this workspace's {MANIFEST_FILE}: someone set another manifest since, or this is another deployment. Inspect it with `seedward history list`, then rerun with --force"
                )));
            }
        }
    }
    let s = ops::status(&conn).await?;
    show_evidence(ctx, &s);
    let word = confirm_word(&s, "recover");
    let allow_unattested = ctx.allow_unattested || (!ctx.yes && word == "unattested");
    ctx.confirm(
        &format!(
            "Your share will be sent, end-to-end encrypted, to the recovery session of the Coordinator at {}. {} of {} owners must send theirs.",
            ctx.address,
            document.threshold(),
            document.seed_shares.len()
        ),
        word,
    )?;
    let status = ops::submit_share(&conn, &owner, share, allow_unattested).await?;
    ctx.out.line(format!(
        "{} the Coordinator accepted your share",
        ctx.out.check()
    ));
    let Some(recovered) = &status.recovered else {
        print_status(ctx, &status);
        ctx.out.object("recover", true, &json::Session::of(&status));
        return Ok(());
    };
    ctx.out.line(format!(
        "{} yours was the last share needed: the Coordinator combined the shares and verified its whole history (generation {})",
        ctx.out.check(),
        recovered.generation
    ));
    let after = ops::reverify_after_session(&conn, &ctx.workspace, recovered).await?;
    let ok = after.state == CoordinatorState::Ready;
    ctx.out.line(format!(
        "{} state is {} (connected pinned to the root CA saved at setup)",
        ctx.out.mark(ok),
        after.state.label()
    ));
    let checklist = [
        "The mesh CA changed (a fresh key per recovery): restart every workload so that it gets a new certificate.",
        "The root CA key is unchanged: clients that pin the root CA need nothing.",
        "Run `seedward verify` to audit the history.",
    ];
    ctx.out.line("after recovery:");
    for item in checklist {
        ctx.out.line(format!("  [ ] {item}"));
    }
    let mut summary = json::Session::of(&status);
    summary.state = state_label(after.state);
    ctx.out.object("recover", ok, &summary);
    if ok {
        Ok(())
    } else {
        Err(CliError::verification("the Coordinator is not ready after the recovery").reported())
    }
}

fn clock(at: SystemTime) -> String {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

fn print_status(ctx: &Ctx, status: &SessionStatus) {
    match &status.session {
        Some(session) => print_session(ctx, session),
        None => ctx.out.line(format!(
            "no recovery session is open (Coordinator {})",
            status.state.label()
        )),
    }
    if let Some(ended) = &status.last_ended {
        let detail = match ended.outcome.as_str() {
            "cancelled" => format!(" by owner key {}", ended.detail),
            "failed" => format!(": {}", ended.detail),
            _ => String::new(),
        };
        ctx.out.line(format!(
            "last session {}… {}{} at {}",
            &ended.id[..8.min(ended.id.len())],
            ended.outcome,
            detail,
            clock(ended.at)
        ));
    }
}

fn print_session(ctx: &Ctx, s: &SessionInfo) {
    ctx.out.line(format!(
        "recovery session {}…: {} of {} owners needed, {} submitted, {} to go",
        &s.id_hex()[..8],
        s.threshold,
        s.owners.len(),
        s.submitted,
        s.remaining
    ));
    for o in &s.owners {
        let you = if o.you { "  (you)" } else { "" };
        match o.submitted_at {
            Some(at) => ctx.out.line(format!(
                "  {} share {:>3}  {}  submitted {}{you}",
                ctx.out.check(),
                o.index,
                o.fingerprint,
                clock(at)
            )),
            None => ctx.out.line(format!(
                "  · share {:>3}  {}  waiting{you}",
                o.index, o.fingerprint
            )),
        }
    }
    for w in &s.wrong_shares {
        ctx.out.line(format!(
            "  ✗ at {} owner key {} sent a share that is not share {} (it does not match its commitment)",
            clock(w.at),
            w.fingerprint,
            w.index
        ));
    }
    let left = s.time_left(SystemTime::now()).as_secs();
    ctx.out.line(format!(
        "expires at {} (in {}m {:02}s); then it ends and a new one must be opened",
        clock(s.expires_at),
        left / 60,
        left % 60
    ));
}
