//! A list cursor with an optional `/` filter (not ratatui's `ListState`: the lists here are
//! lines of a pane, and the cursor is clamped by the screen that knows the list's length).

use ratatui::text::{Line, Span};

use super::input::Input;
use crate::ui::keymap::Action;
use crate::ui::theme::Theme;

/// A list cursor with an optional `/` filter.
#[derive(Debug, Clone, Default)]
pub struct ListState {
    pub cursor: usize,
    pub filter: Option<Input>,
    /// True while the filter is being typed.
    pub filtering: bool,
}

impl ListState {
    pub fn matches(&self, text: &str) -> bool {
        match &self.filter {
            Some(f) if !f.value.is_empty() => text.to_lowercase().contains(&f.value.to_lowercase()),
            _ => true,
        }
    }

    pub fn move_by(&mut self, delta: isize, len: usize) {
        if len == 0 {
            self.cursor = 0;
            return;
        }
        let next = self.cursor as isize + delta;
        self.cursor = next.clamp(0, len as isize - 1) as usize;
    }

    pub fn clamp(&mut self, len: usize) {
        if self.cursor >= len {
            self.cursor = len.saturating_sub(1);
        }
    }

    /// The list keys (move, page, first, last, `/` to filter) over a list of `len` items.
    pub fn navigate(&mut self, action: Action, len: usize) {
        match action {
            Action::Up => self.move_by(-1, len),
            Action::Down => self.move_by(1, len),
            Action::PageUp => self.move_by(-10, len),
            Action::PageDown => self.move_by(10, len),
            Action::Top => self.cursor = 0,
            Action::Bottom => self.cursor = len.saturating_sub(1),
            // `/` starts a fresh filter (as in k9s, lazygit): the old one is not edited.
            Action::Filter => {
                self.filtering = true;
                self.filter = Some(Input::default());
                self.cursor = 0;
            }
            _ => {}
        }
    }

    /// Keys while the filter is being typed. Returns true when the action was used.
    pub fn type_filter(&mut self, action: Action) -> bool {
        if !self.filtering {
            return false;
        }
        match action {
            Action::Char(c) => {
                if let Some(f) = self.filter.as_mut() {
                    f.push(c);
                }
                self.cursor = 0;
            }
            Action::DeleteChar => {
                if let Some(f) = self.filter.as_mut() {
                    f.pop();
                }
            }
            Action::Select => self.filtering = false,
            Action::Back => {
                self.filtering = false;
                self.filter = None;
            }
            _ => {}
        }
        true
    }

    /// The filter as a line (`/text`, with a cursor while typing), if there is one; with
    /// `shown` (the items it lets through) 0, the line says there are no matches.
    pub fn filter_line(&self, shown: usize, theme: Theme) -> Option<Line<'static>> {
        let f = self.filter.as_ref()?;
        let cursor = if self.filtering { "█" } else { "" };
        let mut spans = vec![
            Span::styled("/", theme.key()),
            Span::raw(f.value.clone()),
            Span::styled(cursor, theme.key()),
        ];
        if shown == 0 && !f.value.is_empty() {
            spans.push(Span::styled(crate::ui::text::NO_MATCHES, theme.warn()));
        }
        Some(Line::from(spans))
    }
}

/// `items` as lines, the one under the cursor marked `›` and reversed.
/// What starts the line of the list cursor ([`choice_lines`]); a [`super::scroll_pane::ScrollPane`]
/// keeps that line in view when the cursor moves.
pub const CURSOR_MARK: &str = "› ";

pub fn choice_lines(items: &[String], cursor: usize, theme: Theme) -> Vec<Line<'static>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if i == cursor {
                Line::styled(format!("{CURSOR_MARK}{item}"), theme.selected())
            } else {
                Line::raw(format!("  {item}"))
            }
        })
        .collect()
}
