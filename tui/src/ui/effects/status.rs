//! The Coordinator's status: the periodic refresh, and the setup wizard's check (which also
//! checks that the workspace can hold what a set writes).

use std::time::Instant;

use super::{Ctx, Event, connect};
use crate::ops::{self, StatusView};

async fn status(ctx: &Ctx) -> Result<Box<StatusView>, String> {
    let conn = connect(ctx).await?;
    ops::status(&conn)
        .await
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// `Effect::Refresh`: the status, with the round trip's latency.
pub(super) async fn refresh(ctx: &Ctx) -> Event {
    let start = Instant::now();
    let result = status(ctx).await;
    Event::Status {
        result,
        latency_ms: start.elapsed().as_millis() as u64,
    }
}

/// `Effect::CheckCoordinator`: the status, and whether the workspace is ready for a set.
pub(super) async fn check_coordinator(ctx: &Ctx) -> Event {
    let status = status(ctx).await;
    let workspace = ops::check_setup_preconditions(&ctx.workspace).map_err(|e| e.to_string());
    Event::Coordinator { status, workspace }
}
