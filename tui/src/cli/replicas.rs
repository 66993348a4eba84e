//! `seedward replicas`: the replica board of a Coordinator on a shared store.

use super::coordinator::state_label;
use super::json::{ReplicaJson, ReplicasJson};
use super::{CliError, Ctx};
use seedward::ops::{self, CoordinatorState, ReplicaSetView, ago};

pub const REPLICAS_AFTER_HELP: &str = "\
Every replica's self-reported presence record (state, generation, latest transition, evidence
kind, since when), as the answering replica last read it from etcd. A replica that crashed
disappears within its lease's TTL (10 s). A Coordinator on --store fs is a single replica.
The board is for operators: it proves nothing (use `seedward status` against each replica).

Exit code 3 when a replica reports a different latest transition at the newest generation
(the replicas diverged) or the set could not be read.

Examples:
  seedward replicas
  seedward replicas --json | jq -r '.replicas[] | select(.state != \"ready\") | .id'";

pub fn replicas_json(set: &ReplicaSetView) -> Vec<ReplicaJson<'_>> {
    set.replicas
        .iter()
        .map(|r| ReplicaJson {
            id: &r.id,
            address: &r.address,
            state: state_label(r.state),
            generation: r.generation,
            latest_transition: r.latest.map(|d| d.to_hex()),
            evidence_kind: &r.evidence_kind,
            since_unix_ms: r.since_unix_ms,
            last_error: r.last_error.as_deref(),
            answering: r.id == set.self_id,
            last_recovery: r.last_recovery.as_ref().map(|l| super::json::Recovery {
                by: &l.by,
                who: &l.who,
                at_unix_ms: l.at_unix_ms,
            }),
        })
        .collect()
}

/// Replicas at the newest generation that disagree on its latest transition.
pub fn diverged(set: &ReplicaSetView) -> bool {
    let newest = set.replicas.iter().map(|r| r.generation).max().unwrap_or(0);
    let mut at_newest = set
        .replicas
        .iter()
        .filter(|r| r.generation == newest && r.latest.is_some())
        .map(|r| r.latest);
    match at_newest.next() {
        Some(first) => at_newest.any(|l| l != first),
        None => false,
    }
}

/// The board as a table, one replica per line (`*` marks the one that answered).
pub fn board_lines(set: &ReplicaSetView) -> Vec<String> {
    let mut lines = vec![format!(
        "  {:<20} {:<18} {:>4}  {:<16} {:<8} {:<12} {}",
        "REPLICA", "STATE", "GEN", "LATEST", "EVIDENCE", "SINCE", "ADDRESS"
    )];
    for r in &set.replicas {
        let mark = if r.id == set.self_id { "*" } else { " " };
        let latest = r
            .latest
            .map(|d| format!("{}…", &d.to_hex()[..12]))
            .unwrap_or_else(|| "-".into());
        lines.push(format!(
            "{mark} {:<20} {:<18} {:>4}  {:<16} {:<8} {:<12} {}",
            r.id,
            r.state.label(),
            r.generation,
            latest,
            r.evidence_kind,
            ago(r.since_unix_ms),
            r.address
        ));
        if let Some(e) = &r.last_error {
            lines.push(format!("    last error: {e}"));
        }
    }
    lines
}

pub async fn replicas(ctx: &Ctx) -> Result<(), CliError> {
    let conn = ctx.connect().await?;
    let s = ops::status(&conn).await?;
    let out = &ctx.out;
    let Some(set) = &s.replica_set else {
        out.line(format!(
            "{} runs on a store of its own (--store fs): a single replica, {}",
            s.address,
            s.state.label()
        ));
        out.object(
            "replicas",
            true,
            &ReplicasJson {
                coordinator: &s.address,
                shared_store: false,
                answered_by: None,
                as_of_unix_ms: None,
                error: None,
                replicas: Vec::new(),
            },
        );
        return Ok(());
    };
    let diverged = diverged(set);
    out.line(format!(
        "replica set of {} ({} replica{}), answered by {}, read {}",
        s.address,
        set.replicas.len(),
        if set.replicas.len() == 1 { "" } else { "s" },
        set.self_id,
        set.as_of_unix_ms.map(ago).unwrap_or_else(|| "never".into())
    ));
    for line in board_lines(set) {
        out.line(line);
    }
    for r in set.replicas.iter().filter(|r| {
        matches!(
            r.state,
            CoordinatorState::RecoveryRequired | CoordinatorState::Stale
        )
    }) {
        // A replica with a peer API recovers by itself while another one is ready.
        if r.peer_address.is_some() && set.ready() > 0 {
            out.line(format!(
                "next: {} is {}: it recovers from a ready peer by itself (peer recovery); nothing to do unless it stays so",
                r.id,
                r.state.label()
            ));
        } else {
            out.line(format!(
                "next: {} is {}: an owner runs `seedward --coordinator {} recover`",
                r.id,
                r.state.label(),
                r.address
            ));
        }
    }
    let behind = set.behind();
    if !behind.is_empty() {
        out.line(format!(
            "behind the newest generation: {} (they catch up when they see the store, or need recovery)",
            behind.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(e) = &set.error {
        out.warn(&format!("the board may be out of date: {e}"));
    }
    out.object(
        "replicas",
        !diverged && set.error.is_none(),
        &ReplicasJson {
            coordinator: &s.address,
            shared_store: true,
            answered_by: Some(&set.self_id),
            as_of_unix_ms: set.as_of_unix_ms,
            error: set.error.as_deref(),
            replicas: replicas_json(set),
        },
    );
    if diverged {
        return Err(CliError::verification(
            "replicas at the newest generation report different latest transitions: the history diverged; run `seedward verify` against each",
        )
        .reported());
    }
    if let Some(e) = &set.error {
        return Err(CliError::verification(format!("cannot read the replica set: {e}")).reported());
    }
    Ok(())
}
