//! The replica board: every replica of a Coordinator on a shared store (etcd), one line
//! each, as the answering replica last read it.

use ratatui::text::{Line, Span};

use super::coordinator::state_line;
use super::truncate;
use crate::ops::{ReplicaSetView, ago};
use crate::ui::theme::Theme;

/// Lines of the board for `width` columns: a summary, then `* id  state  gen  since  address`
/// per replica (`*` = the replica this console talks to), its last error under it, and a
/// warning when the board may be out of date.
pub fn board_lines(set: &ReplicaSetView, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let ready = set
        .replicas
        .iter()
        .filter(|r| r.state == crate::ops::CoordinatorState::Ready)
        .count();
    let newest = set.replicas.iter().map(|r| r.generation).max().unwrap_or(0);
    let mut lines = vec![Line::styled(
        format!(
            "{ready} of {} ready · answered by {} · read {}",
            set.replicas.len(),
            set.self_id,
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
    for r in &set.replicas {
        let mark = if r.id == set.self_id { "* " } else { "  " };
        let generation = if r.generation < newest {
            Span::styled(format!(" gen {} (behind) ", r.generation), theme.warn())
        } else {
            Span::raw(format!(" gen {} ", r.generation))
        };
        let rest = format!("{} · {}", ago(r.since_unix_ms), r.address);
        let used = 2 + id_width + 1 + 20 + 14;
        lines.push(Line::from(vec![
            Span::raw(mark),
            Span::styled(
                format!("{:<id_width$} ", truncate(&r.id, id_width)),
                theme.bold(),
            ),
            state_line(r.state, theme),
            generation,
            Span::styled(
                truncate(&rest, width.saturating_sub(used).max(8)),
                theme.dim(),
            ),
        ]));
        if let Some(e) = &r.last_error {
            lines.push(Line::styled(
                format!("    ✗ {}", truncate(e, width.saturating_sub(6).max(8))),
                theme.bad(),
            ));
        }
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
