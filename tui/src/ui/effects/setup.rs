//! The setup wizard's irreversible step and its drill: set the first manifest, then decrypt
//! the share just written and check it against the Coordinator.

use seedward_shared::manifest::Manifest;

use super::{Ctx, Event, blocking, connect};
use crate::ops;

/// `Effect::SetFirstManifest`.
pub(super) async fn set_first_manifest(
    ctx: &Ctx,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
    allow_unattested: bool,
) -> Event {
    Event::SetDone(
        async {
            let conn = connect(ctx).await?;
            ops::set_first_manifest(&conn, &ctx.workspace, manifest, policies, allow_unattested)
                .await
                .map_err(|e| e.to_string())
        }
        .await,
    )
}

/// `Effect::ShareDrill`.
pub(super) async fn share_drill(ctx: &Ctx, owner_key: String) -> Event {
    Event::DrillDone(
        async {
            let keys = ctx.keys.clone();
            let owner =
                blocking(move || keys.load_owner(&owner_key).map_err(|e| e.to_string())).await?;
            let conn = connect(ctx).await?;
            ops::share_drill(&conn, &ctx.workspace, &owner)
                .await
                .map(Box::new)
                .map_err(|e| e.to_string())
        }
        .await,
    )
}
