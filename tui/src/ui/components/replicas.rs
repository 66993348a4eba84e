//! The replica board: every replica of a Coordinator on a shared store (etcd), one line
//! each, as the answering replica last read it.

use ratatui::text::{Line, Span};

use super::coordinator::state_line;
use super::truncate;
use crate::ops::{ReplicaSetView, ago};
use crate::ui::theme::Theme;

/// Lines of the board for `width` columns: a summary (how many are ready, what to do about
/// the others, how old the board is), then `* id  state  gen  since  address`
/// per replica (`*` = the replica this console talks to; its last error, if any, in place of
/// the address; replicas that are not ready, behind or failing first), and a warning when
/// the board may be out of date.
pub fn board_lines(set: &ReplicaSetView, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let ready = set.ready();
    let newest = set.replicas.iter().map(|r| r.generation).max().unwrap_or(0);
    // `*` marks the replica that answered, so the summary says what to do instead.
    // Replicas with a peer API recover from a ready one by themselves (docs/HA.md).
    let peers_recover = ready > 0
        && set
            .replicas
            .iter()
            .filter(|r| r.state != crate::ops::CoordinatorState::Ready)
            .all(|r| r.peer_address.is_some());
    let next = if ready == set.replicas.len() {
        ""
    } else if peers_recover {
        " · the others recover from a ready peer by themselves"
    } else {
        " · an owner recovers the others at their addresses"
    };
    let mut lines = vec![Line::styled(
        format!(
            "{ready} of {} ready{next} · read {}",
            set.replicas.len(),
            set.as_of_unix_ms.map(ago).unwrap_or_else(|| "never".into())
        ),
        theme.dim(),
    )];
    let id_width = set
        .replicas
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 20);
    // Replicas that need attention first: a board cut short by a small terminal still
    // shows them.
    let mut ordered: Vec<_> = set.replicas.iter().collect();
    ordered.sort_by_key(|r| {
        r.state == crate::ops::CoordinatorState::Ready
            && r.generation == newest
            && r.last_error.is_none()
    });
    for r in ordered {
        let mark = if r.id == set.self_id { "* " } else { "  " };
        let generation = if r.generation < newest {
            Span::styled(
                format!("{:<13}", format!("gen {} behind", r.generation)),
                theme.warn(),
            )
        } else {
            Span::raw(format!("{:<13}", format!("gen {}", r.generation)))
        };
        let state = state_line(r.state, theme);
        let state = Span::styled(format!("{:<20}", state.content), state.style);
        let used = 2 + id_width + 1 + 20 + 13 + 12;
        let room = width.saturating_sub(used);
        let tail = match &r.last_error {
            Some(e) => Span::styled(
                format!("✗ {}", truncate(e, room.saturating_sub(2))),
                theme.bad(),
            ),
            None => Span::styled(truncate(&r.address, room), theme.dim()),
        };
        lines.push(Line::from(vec![
            Span::raw(mark),
            Span::styled(
                format!("{:<id_width$} ", truncate(&r.id, id_width)),
                theme.bold(),
            ),
            state,
            generation,
            Span::styled(format!("{:<12}", ago(r.since_unix_ms)), theme.dim()),
            tail,
        ]));
    }
    if let Some(e) = &set.error {
        lines.push(Line::styled(
            format!(
                "⚠ may be out of date: {}",
                truncate(e, width.saturating_sub(24).max(8))
            ),
            theme.warn(),
        ));
    }
    lines
}
