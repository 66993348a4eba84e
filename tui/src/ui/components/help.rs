//! The help overlay (`?`, F1): every context's keys, generated from the keymap table that
//! also handles them, so it cannot drift from what the keys do.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::block;
use super::popup::centered;
use crate::ui::keymap;
use crate::ui::text;
use crate::ui::theme::Theme;

/// Draws the overlay over `area`, scrolled by `scroll` lines.
pub fn render(scroll: u16, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut lines = Vec::new();
    for (title, rows) in keymap::help_sections() {
        lines.push(Line::styled(title, theme.bold()));
        for (keys, hint) in rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<20}"), theme.key()),
                Span::raw(hint),
            ]));
        }
    }
    let rect = centered(area, 64, area.height.saturating_sub(2));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(text::HELP_TITLE))
            .scroll((scroll, 0)),
        rect,
    );
}
