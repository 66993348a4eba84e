//! A bordered pane of wrapped lines that scrolls: the wizard panes (setup, recovery,
//! update). When the content does not fit, the bottom border says which lines are shown and
//! which keys scroll.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::block;
use crate::ui::keymap::{self, Action, Context};
use crate::ui::text;
use crate::ui::theme::Theme;

/// Draws `lines` in a bordered pane, wrapped to its width and scrolled by `scroll` (clamped
/// to the content). When the content does not fit, the bottom border says which lines are
/// shown and which keys scroll (from the keymap).
pub fn scrolled_pane(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    scroll: u16,
    context: Context,
    theme: Theme,
) {
    let wrapped = wrap_lines(&lines, area.width.saturating_sub(2) as usize);
    let total = wrapped.len();
    let visible = area.height.saturating_sub(2) as usize;
    let offset = (scroll as usize).min(total.saturating_sub(visible));
    let mut pane = block(title);
    if total > visible {
        let keys = format!(
            "{}/{}",
            keymap::keys_of(context, Action::ScrollUp),
            keymap::keys_of(context, Action::ScrollDown)
        );
        let position =
            text::scroll_position(offset + 1, (offset + visible).min(total), total, &keys);
        pane = pane.title_bottom(Line::styled(position, theme.bold()).right_aligned());
    }
    let shown: Vec<Line<'static>> = wrapped.into_iter().skip(offset).take(visible).collect();
    frame.render_widget(Paragraph::new(shown).block(pane), area);
}

/// Display width of one character.
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Word-wraps styled lines to `width` columns (a word longer than a row is split), so that
/// the number of rows is known before drawing.
pub fn wrap_lines(lines: &[Line<'static>], width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if width == 0 || line.width() <= width {
            out.push(line.clone());
            continue;
        }
        let cells: Vec<(char, Style)> = line
            .spans
            .iter()
            .flat_map(|s| {
                let style = s.style;
                s.content.chars().map(move |c| (c, style))
            })
            .collect();
        let mut rows: Vec<Vec<(char, Style)>> = Vec::new();
        let mut row: Vec<(char, Style)> = Vec::new();
        let mut row_width = 0usize;
        let mut i = 0;
        while i < cells.len() {
            let start = i;
            while i < cells.len() && cells[i].0 != ' ' {
                i += 1;
            }
            let word = &cells[start..i];
            let gap_start = i;
            while i < cells.len() && cells[i].0 == ' ' {
                i += 1;
            }
            let gap = &cells[gap_start..i];
            let word_width: usize = word.iter().map(|(c, _)| char_width(*c)).sum();
            if row_width > 0 && row_width + word_width > width {
                rows.push(std::mem::take(&mut row));
                row_width = 0;
            }
            for &(c, style) in word {
                let w = char_width(c);
                if row_width > 0 && row_width + w > width {
                    rows.push(std::mem::take(&mut row));
                    row_width = 0;
                }
                row.push((c, style));
                row_width += w;
            }
            for &(c, style) in gap {
                if row_width + 1 > width {
                    break;
                }
                row.push((c, style));
                row_width += 1;
            }
        }
        if !row.is_empty() || rows.is_empty() {
            rows.push(row);
        }
        for mut cells in rows {
            while cells.last().is_some_and(|(c, _)| *c == ' ') {
                cells.pop();
            }
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut current = String::new();
            let mut current_style = None;
            for (c, style) in cells {
                if current_style.is_some_and(|s| s != style) {
                    spans.push(Span::styled(
                        std::mem::take(&mut current),
                        current_style.unwrap_or_default(),
                    ));
                }
                current_style = Some(style);
                current.push(c);
            }
            if let Some(style) = current_style {
                spans.push(Span::styled(current, style));
            }
            let mut row_line = Line::from(spans).style(line.style);
            row_line.alignment = line.alignment;
            out.push(row_line);
        }
    }
    out
}
