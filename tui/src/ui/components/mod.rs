//! Pieces more than one screen draws or handles, and small drawing helpers.
//!
//! | module | component |
//! |---|---|
//! | [`popup`] | the one popup slot: what can be in it, the keys it takes, drawing it |
//! | [`help`] | the help overlay, from the keymap |
//! | [`message`] | a notice or an error |
//! | [`confirm`] | "quit / leave the unfinished flow?" and the typed confirmation |
//! | [`input`] | a single-line text field |
//! | [`list`] | a list cursor with a `/` filter |
//! | [`scroll_pane`] | a bordered pane of wrapped lines that scrolls by pages (a `StatefulWidget`) |
//! | [`steps`] | a wizard's list of steps |
//! | [`coordinator`] | the Coordinator's state, evidence and trust as lines |
//! | [`manifest`] | a manifest's validity and structure, and a semantic diff, as lines |
//! | [`replicas`] | the replica board of a Coordinator on a shared store |

pub mod confirm;
pub mod coordinator;
pub mod help;
pub mod input;
pub mod list;
pub mod manifest;
pub mod message;
pub mod popup;
pub mod replicas;
pub mod scroll_pane;
pub mod steps;

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use super::text;
use super::theme::Theme;
use crate::keystore::KeyKind;

/// `s`, cut to `max` characters with `…` at the end when longer.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The last `n` bytes of `s` (all of it if that is not a character boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    s.get(start..).unwrap_or(s)
}

/// A bordered block titled ` title `.
pub fn block(title: &str) -> Block<'_> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
}

/// A bold field label, padded to 12 columns.
pub fn label(name: &str, theme: Theme) -> Span<'static> {
    Span::styled(format!("{name:<12} "), theme.bold())
}

/// What is running, as a line, if anything is.
pub fn busy_line(busy: Option<&'static str>, theme: Theme) -> Option<Line<'static>> {
    busy.map(|b| Line::styled(b, theme.warn()))
}

/// The kind of owner key, in words.
pub fn kind_word(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::SeedShareOwner => text::KIND_OWNER,
        KeyKind::WorkloadOwner => text::KIND_WORKLOAD,
    }
}
