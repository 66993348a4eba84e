//! A notice or an error in a popup; Enter or Esc closes it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::block;
use super::popup::centered;
use super::scroll_pane::wrap_lines;
use crate::ui::theme::Theme;

/// Draws the message over `area`: `title` (marked ✗ for an error), then `body`.
pub fn render(title: &str, body: &str, error: bool, frame: &mut Frame, area: Rect, theme: Theme) {
    let head = if error {
        Line::styled(format!("✗ {title}"), theme.bad())
    } else {
        Line::styled(title.to_string(), theme.bold())
    };
    let kind = if error { "Error" } else { "Notice" };
    if body.contains('\n') {
        // Several lines (e.g. a path and a digest): as wide as the longest, up to the screen.
        let longest = body.lines().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
        let width = (longest + 4).clamp(64, area.width);
        let inner = width.saturating_sub(2).max(1) as usize;
        let rows: u16 = body
            .lines()
            .map(|l| wrap_lines(&[Line::raw(l.to_string())], inner).len() as u16)
            .sum();
        let rect = centered(area, width, (rows + 4).min(area.height));
        frame.render_widget(Clear, rect);
        let mut lines = vec![head, Line::raw("")];
        lines.extend(body.lines().map(|l| Line::raw(l.to_string())));
        frame.render_widget(
            Paragraph::new(wrap_lines(&lines, inner)).block(block(kind)),
            rect,
        );
    } else {
        let rows = body.chars().count() as u16 / 60 + 1;
        let rect = centered(area, 64, (rows + 5).min(area.height));
        frame.render_widget(Clear, rect);
        let lines = vec![head, Line::raw(""), Line::raw(body.to_string())];
        frame.render_widget(
            Paragraph::new(lines)
                .block(block(kind))
                .wrap(Wrap { trim: true }),
            rect,
        );
    }
}
