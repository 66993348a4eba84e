//! The help overlay (`?`, F1): every context's keys, generated from the keymap table that
//! also handles them, so it cannot drift from what the keys do.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::block;
use super::popup::centered;
use super::scroll_pane::wrap_lines;
use crate::ui::keymap;
use crate::ui::text;
use crate::ui::theme::Theme;

/// Draws the overlay over `area`, scrolled by `scroll` lines (clamped, so that it never
/// scrolls past its end into a blank box; `max` records the last useful position), with
/// `note` (the key store's warning) first.
pub fn render(
    scroll: &mut u16,
    max: &mut u16,
    note: Option<&str>,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let rect = centered(area, 64, area.height.saturating_sub(2));
    let inner = rect.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    if let Some(note) = note {
        lines.push(Line::styled(text::HELP_NOTE_TITLE, theme.bold()));
        let one_line: String = note.split_whitespace().collect::<Vec<_>>().join(" ");
        lines.extend(wrap_lines(
            &[Line::styled(format!("⚠ {one_line}"), theme.warn())],
            inner,
        ));
    }
    for (title, rows) in keymap::help_sections() {
        lines.push(Line::styled(title, theme.bold()));
        for (keys, hint) in rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<20}"), theme.key()),
                Span::raw(hint),
            ]));
        }
    }
    lines.push(Line::styled(text::HELP_END, theme.dim()));
    let visible = rect.height.saturating_sub(2) as usize;
    *max = u16::try_from(lines.len().saturating_sub(visible)).unwrap_or(u16::MAX);
    *scroll = (*scroll).min(*max);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(text::HELP_TITLE))
            .scroll((*scroll, 0)),
        rect,
    );
}
