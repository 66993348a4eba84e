//! The left column of the setup and recovery wizards: their steps, each marked done,
//! running, failed, current or to come.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::block;

pub fn step_list(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    rows: Vec<(String, &'static str, Style)>,
) {
    let lines: Vec<Line> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (name, mark, style))| Line::styled(format!("{mark} {}. {name}", i + 1), style))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block(title)), area);
}

pub fn split_steps(area: Rect) -> (Rect, Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(26), Constraint::Min(40)]).areas(area);
    (left, right)
}
