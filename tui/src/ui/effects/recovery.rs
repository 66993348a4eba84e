//! The recovery wizard's steps. The decrypted seed share is held in the runner's vault from
//! `DecryptShare` until it is sent (`SendRecovery` takes it) or forgotten (`ForgetShare`,
//! when the wizard is left or the UI quits); it never reaches the UI state.

use super::{Ctx, Event, blocking, connect};
use crate::ops::{self, Preflight};
use seedward_proto::v1 as pb;

const NO_SHARE: &str =
    "the decrypted seed share is no longer held (the wizard was left); start the recovery again";

/// `Effect::DecryptShare`: into the vault; the event carries only the owner's fingerprint.
pub(super) async fn decrypt_share(ctx: &Ctx, owner_key: String) -> Event {
    let keys = ctx.keys.clone();
    let workspace = ctx.workspace.clone();
    let result = blocking(move || {
        let owner = keys.load_owner(&owner_key).map_err(|e| e.to_string())?;
        if let Ok((document, _)) = ops::read_share_document(&workspace, None)
            && document.threshold() > 1
        {
            return Err(crate::ui::text::threshold_not_wizard(
                document.threshold(),
                document.seed_shares.len(),
            ));
        }
        ops::decrypt_share(&workspace, None, &owner).map_err(|e| e.to_string())
    })
    .await;
    match result {
        Ok(share) => {
            // The console owns the terminal: the warning goes to its log file.
            if let Some(warning) = &share.permission_warning {
                tracing::warn!("{warning}");
            }
            let fingerprint = share.owner_fingerprint.clone();
            *ctx.vault.lock().await = Some(share);
            Event::Decrypted(Ok(fingerprint))
        }
        Err(e) => Event::Decrypted(Err(e)),
    }
}

/// `Effect::Preflight`: with the share in the vault.
pub(super) async fn preflight(ctx: &Ctx) -> Event {
    let vault = ctx.vault.lock().await;
    let result = match vault.as_ref() {
        None => Err(NO_SHARE.to_string()),
        Some(share) => {
            async {
                let conn = connect(ctx).await?;
                // The step is titled "Pre-flight"; its diagnosis reads on its own.
                let preflight = ops::recovery_preflight_explained(&conn, share, &ctx.workspace)
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

/// `Effect::SendRecovery`: takes the share out of the vault, whatever the outcome.
pub(super) async fn send(
    ctx: &Ctx,
    owner_key: String,
    preflight: &Preflight,
    allow_unattested: bool,
) -> Event {
    let share = ctx.vault.lock().await.take();
    let result = async {
        let share = share.ok_or_else(|| NO_SHARE.to_string())?;
        let keys = ctx.keys.clone();
        let owner =
            blocking(move || keys.load_owner(&owner_key).map_err(|e| e.to_string())).await?;
        let conn = connect(ctx).await?;
        ops::send_recovery(&conn, &owner, share, preflight, allow_unattested)
            .await
            .map(Box::new)
            .map_err(|e| e.to_string())
    }
    .await;
    Event::RecoverySent(result)
}

/// `Effect::Reverify`.
pub(super) async fn reverify(
    ctx: &Ctx,
    preflight: &Preflight,
    response: &pb::RecoverResponse,
) -> Event {
    Event::Reverified(
        async {
            let conn = connect(ctx).await?;
            ops::reverify_after_recovery(&conn, &ctx.workspace, preflight, response)
                .await
                .map(Box::new)
                .map_err(|e| e.to_string())
        }
        .await,
    )
}

/// `Effect::ForgetShare`: drops (zeroizes) the share, if any.
pub(super) async fn forget_share(ctx: &Ctx) {
    ctx.vault.lock().await.take();
}
