//! The recovery board's effects. The owner's threshold share is decrypted, checked against
//! its commitment, sealed and sent within one effect: it never reaches the UI state.

use super::{Ctx, Event, blocking, connect};
use crate::ops;

/// `Effect::PollSession`.
pub(super) async fn poll(ctx: &Ctx) -> Event {
    Event::SessionPolled(
        async {
            let conn = connect(ctx).await?;
            ops::recovery_session(&conn, None)
                .await
                .map(Box::new)
                .map_err(|e| e.to_string())
        }
        .await,
    )
}

/// `Effect::SubmitShare`.
pub(super) async fn submit(ctx: &Ctx, owner_key: String, allow_unattested: bool) -> Event {
    let result = async {
        let keys = ctx.keys.clone();
        let workspace = ctx.workspace.clone();
        let (owner, share) = blocking(move || {
            let owner = keys.load_owner(&owner_key).map_err(|e| e.to_string())?;
            let (document, _) =
                ops::read_share_document(&workspace, None).map_err(|e| e.to_string())?;
            if document.threshold() < 2 {
                return Err(
                    "this workspace's seed-shares.json holds the whole seed: use the recovery wizard (r on the dashboard)".to_string(),
                );
            }
            let share = document
                .open_key_share_with(&owner)
                .map_err(|e| e.to_string())?;
            Ok((owner, share))
        })
        .await?;
        let conn = connect(ctx).await?;
        ops::submit_share(&conn, &owner, share, allow_unattested)
            .await
            .map(Box::new)
            .map_err(|e| e.to_string())
    }
    .await;
    Event::SessionActed {
        result,
        submitted: true,
    }
}

/// `Effect::CancelSession`.
pub(super) async fn cancel(ctx: &Ctx, owner_key: String) -> Event {
    let result = async {
        let keys = ctx.keys.clone();
        let owner =
            blocking(move || keys.load_owner(&owner_key).map_err(|e| e.to_string())).await?;
        let conn = connect(ctx).await?;
        ops::cancel_session(&conn, &owner)
            .await
            .map(Box::new)
            .map_err(|e| e.to_string())
    }
    .await;
    Event::SessionActed {
        result,
        submitted: false,
    }
}
