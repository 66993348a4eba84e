//! Pieces more than one screen draws or handles, and small drawing helpers.
//!
//! | module | component |
//! |---|---|
//! | [`scroll_pane`] | a bordered pane of wrapped lines that scrolls by pages |

pub mod scroll_pane;

use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

use super::theme::Theme;

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
