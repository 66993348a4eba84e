//! A single-line text field: an import path, a bundle path, a list filter, a typed
//! confirmation.

use ratatui::text::{Line, Span};

use crate::ui::keymap::Action;
use crate::ui::theme::Theme;

/// A single-line text field. `masked` fields render as `•`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub value: String,
    pub masked: bool,
}

/// What a key did to a field being typed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Still typing (a character typed or deleted, or a key the field ignores).
    Typing,
    /// Esc: the field is given up.
    Cancel,
    /// Enter: the value is given.
    Submit,
}

impl Input {
    pub fn push(&mut self, c: char) {
        self.value.push(c);
    }

    pub fn pop(&mut self) {
        self.value.pop();
    }

    pub fn shown(&self) -> String {
        if self.masked {
            "•".repeat(self.value.chars().count())
        } else {
            self.value.clone()
        }
    }

    /// Applies a key: characters type, Backspace deletes, Esc cancels, Enter submits.
    pub fn edit(&mut self, action: Action) -> Edit {
        match action {
            Action::Char(c) => self.push(c),
            Action::DeleteChar => self.pop(),
            Action::Back => return Edit::Cancel,
            Action::Select => return Edit::Submit,
            _ => {}
        }
        Edit::Typing
    }

    /// The value and the cursor after it.
    pub fn spans(&self, theme: Theme) -> [Span<'static>; 2] {
        [Span::raw(self.shown()), Span::styled("█", theme.key())]
    }

    /// The field as a prompt line: `> value█`.
    pub fn prompt_line(&self, theme: Theme) -> Line<'static> {
        let [value, cursor] = self.spans(theme);
        Line::from(vec![Span::raw("> "), value, cursor])
    }
}
