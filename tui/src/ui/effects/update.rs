//! A manifest update, signed with the workload owner key against the audited latest
//! transition.

use seedward_shared::history::Digest;
use seedward_shared::manifest::Manifest;

use super::{Ctx, Event, blocking, connect};
use crate::ops;

/// `Effect::UpdateManifest`. The error says whether the Coordinator refused because the
/// history moved on meanwhile (`STALE_LATEST`).
pub(super) async fn update_manifest(
    ctx: &Ctx,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
    key: String,
    audited_latest: Digest,
) -> Event {
    Event::Updated(update(ctx, manifest, policies, key, audited_latest).await)
}

async fn update(
    ctx: &Ctx,
    manifest: &Manifest,
    policies: Vec<Vec<u8>>,
    key: String,
    audited_latest: Digest,
) -> Result<ops::UpdateOutcome, (String, bool)> {
    let keys = ctx.keys.clone();
    let signer = blocking(move || keys.load_workload(&key).map_err(|e| e.to_string()))
        .await
        .map_err(|e| (e, false))?;
    let conn = connect(ctx).await.map_err(|e| (e, false))?;
    ops::update_manifest(
        &conn,
        &ctx.workspace,
        manifest,
        policies,
        &signer,
        audited_latest,
    )
    .await
    .map_err(|e| {
        let stale = e.reason() == Some(crate::client::Reason::StaleLatest);
        (e.to_string(), stale)
    })
}
