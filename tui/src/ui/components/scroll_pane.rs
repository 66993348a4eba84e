//! A bordered pane of wrapped lines that scrolls: the wizard panes (setup, recovery,
//! update). When the content does not fit, the bottom border says which lines are shown and
//! which keys scroll.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, StatefulWidget, Widget};

use super::block;
use super::list::CURSOR_MARK;
use crate::ui::keymap::{self, Action, Context};
use crate::ui::text;
use crate::ui::theme::Theme;

/// Where a [`ScrollPane`] is scrolled to, and what the pane measured when it was last drawn.
///
/// Update pages through it ([`PaneScroll::page`]) without knowing any size; drawing the pane
/// (a [`StatefulWidget`]) records the page size and the largest useful offset for the area it
/// got and clamps the offset to them, so that scrolling stops at the end of the content and
/// one page up from there moves at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneScroll {
    /// The first wrapped line shown.
    offset: u16,
    /// Lines per page (one less than the pane shows, so that a line stays in view).
    page: u16,
    /// The largest offset that still fills the pane.
    max: u16,
    /// The line of the list cursor when last drawn: when it moves, the pane scrolls to show
    /// it (paging alone never moves the cursor, so it may then leave the view).
    focus: Option<usize>,
}

impl PaneScroll {
    /// The first line shown, as of the last draw and the pages since.
    pub fn offset(&self) -> u16 {
        self.offset
    }

    /// The largest useful offset, as of the last draw (0 before the first).
    pub fn max_offset(&self) -> u16 {
        self.max
    }

    /// Back to the top (another screen or step).
    pub fn reset(&mut self) {
        self.offset = 0;
        self.focus = None;
    }

    /// A page down or up, within the content as last drawn.
    pub fn page(&mut self, down: bool) {
        self.offset = if down {
            self.offset.saturating_add(self.page)
        } else {
            self.offset.saturating_sub(self.page)
        }
        .min(self.max);
    }
}

/// `lines` in a bordered pane, wrapped to its width and scrolled by a [`PaneScroll`]. When the
/// content does not fit, the bottom border says which lines are shown and which keys scroll
/// (from the keymap, in `context`).
pub struct ScrollPane<'a> {
    title: &'a str,
    lines: Vec<Line<'static>>,
    context: Context,
    theme: Theme,
}

impl<'a> ScrollPane<'a> {
    pub fn new(title: &'a str, lines: Vec<Line<'static>>, context: Context, theme: Theme) -> Self {
        Self {
            title,
            lines,
            context,
            theme,
        }
    }
}

impl StatefulWidget for ScrollPane<'_> {
    type State = PaneScroll;

    fn render(self, area: Rect, buf: &mut Buffer, scroll: &mut PaneScroll) {
        let wrapped = wrap_lines(&self.lines, area.width.saturating_sub(2) as usize);
        let total = wrapped.len();
        let visible = area.height.saturating_sub(2) as usize;
        scroll.page = u16::try_from(visible.saturating_sub(1).max(1)).unwrap_or(u16::MAX);
        scroll.max = u16::try_from(total.saturating_sub(visible)).unwrap_or(u16::MAX);
        scroll.offset = scroll.offset.min(scroll.max);
        // The list cursor moved since the last draw: bring its row into view.
        let focus = self.lines.iter().position(|l| {
            l.spans
                .first()
                .is_some_and(|s| s.content.starts_with(CURSOR_MARK))
        });
        if let Some(line) = focus
            && scroll.focus != Some(line)
            && visible > 0
        {
            let width = area.width.saturating_sub(2) as usize;
            let row = wrap_lines(&self.lines[..line], width).len();
            let offset = usize::from(scroll.offset);
            let new = if row < offset {
                row
            } else if row >= offset + visible {
                row + 1 - visible
            } else {
                offset
            };
            scroll.offset = u16::try_from(new).unwrap_or(u16::MAX).min(scroll.max);
        }
        scroll.focus = focus;
        let offset = scroll.offset as usize;
        let mut pane = block(self.title);
        if total > visible {
            let keys = format!(
                "{}/{}",
                keymap::keys_of(self.context, Action::ScrollUp),
                keymap::keys_of(self.context, Action::ScrollDown)
            );
            let position =
                text::scroll_position(offset + 1, (offset + visible).min(total), total, &keys);
            pane = pane.title_bottom(Line::styled(position, self.theme.bold()).right_aligned());
        }
        let shown: Vec<Line<'static>> = wrapped.into_iter().skip(offset).take(visible).collect();
        Paragraph::new(shown).block(pane).render(area, buf);
    }
}

/// Display width of one character.
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// The marker of a diff line (`+ `, `- `, `~ `) that its wrapped rows repeat.
fn diff_marker(line: &Line<'static>) -> Option<&'static str> {
    let first = line.spans.first()?;
    ["+ ", "- ", "~ "]
        .into_iter()
        .find(|m| first.content.starts_with(m))
}

/// Word-wraps styled lines to `width` columns (a word longer than a row is split), so that
/// the number of rows is known before drawing. A diff line (`+ `, `- `, `~ `) keeps its
/// marker on every row it wraps to, like a unified diff.
pub fn wrap_lines(lines: &[Line<'static>], width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if width == 0 || line.width() <= width {
            out.push(line.clone());
            continue;
        }
        if let Some(marker) = diff_marker(line).filter(|_| width > 8) {
            let mut rest = line.clone();
            let first = &mut rest.spans[0];
            let style = first.style;
            first.content = first.content[marker.len()..].to_string().into();
            for mut row in wrap_lines(&[rest], width - marker.len()) {
                row.spans.insert(0, Span::styled(marker, style));
                out.push(row);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(lines: &[Line<'static>], height: u16, scroll: &mut PaneScroll) {
        let area = Rect::new(0, 0, 40, height);
        let mut buf = Buffer::empty(area);
        ScrollPane::new("pane", lines.to_vec(), Context::Setup, Theme::new(false))
            .render(area, &mut buf, scroll);
    }

    #[test]
    fn a_moved_list_cursor_scrolls_into_view_and_paging_alone_does_not_move_it() {
        // 40 lines in a pane that shows 10; the list cursor (`› `) on `cursor`.
        let lines = |cursor: usize| -> Vec<Line<'static>> {
            (0..40)
                .map(|i| {
                    if i == cursor {
                        Line::raw(format!("{CURSOR_MARK}item {i}"))
                    } else {
                        Line::raw(format!("  item {i}"))
                    }
                })
                .collect()
        };
        let mut scroll = PaneScroll::default();
        draw(&lines(30), 12, &mut scroll);
        assert!(
            (21..=30).contains(&scroll.offset()),
            "the cursor's row is shown: offset {}",
            scroll.offset()
        );
        // PgUp twice: the view moves, the cursor stays where it is (out of view).
        scroll.page(false);
        scroll.page(false);
        draw(&lines(30), 12, &mut scroll);
        let paged = scroll.offset();
        assert!(paged + 10 <= 30, "paging moved the view: offset {paged}");
        // The cursor moves up one: the view follows it.
        draw(&lines(29), 12, &mut scroll);
        assert!(
            (20..=29).contains(&scroll.offset()),
            "the moved cursor is shown: offset {}",
            scroll.offset()
        );
    }

    #[test]
    fn drawing_measures_the_pane_and_paging_stays_within_it() {
        let lines: Vec<Line<'static>> = (1..=30).map(|i| Line::raw(format!("line {i}"))).collect();
        let mut scroll = PaneScroll::default();
        scroll.page(true);
        assert_eq!(
            scroll.offset(),
            0,
            "nothing drawn yet, nothing to page through"
        );
        // 10 lines inside the border: pages of 9, the last page starts at line 21.
        draw(&lines, 12, &mut scroll);
        assert_eq!(scroll.max_offset(), 20);
        scroll.page(true);
        assert_eq!(scroll.offset(), 9);
        for _ in 0..5 {
            scroll.page(true);
        }
        assert_eq!(scroll.offset(), 20, "stops at the end");
        scroll.page(false);
        assert_eq!(
            scroll.offset(),
            11,
            "one page up from the end moves at once"
        );
        // A taller pane: drawing clamps the offset to the new end.
        scroll.page(true);
        draw(&lines, 27, &mut scroll);
        assert_eq!((scroll.offset(), scroll.max_offset()), (5, 5));
    }
}
