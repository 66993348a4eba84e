//! A single-line text field: an import path, a bundle path, a list filter, a typed
//! confirmation.

use ratatui::text::{Line, Span};

use crate::ui::keymap::Action;
use crate::ui::theme::Theme;

/// A single-line text field. `masked` fields render as `•`.
///
/// A field offered with a value ([`Input::prefilled`]) shows it selected: the first
/// character typed replaces it, Backspace clears it, Enter takes it as it is. Nothing is
/// ever silently prepended to what the user types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    pub value: String,
    pub masked: bool,
    /// The value was offered, not typed: shown selected, replaced by typing.
    pub selected: bool,
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
    /// A field offering `value`, selected (typing replaces it).
    pub fn prefilled(value: impl Into<String>) -> Self {
        let value = value.into();
        Self {
            selected: !value.is_empty(),
            value,
            masked: false,
        }
    }

    pub fn push(&mut self, c: char) {
        if self.selected {
            self.value.clear();
            self.selected = false;
        }
        self.value.push(c);
    }

    pub fn pop(&mut self) {
        if self.selected {
            self.value.clear();
            self.selected = false;
        }
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

    /// The value (reverse video while it is an offered, selected value) and the cursor
    /// after it.
    pub fn spans(&self, theme: Theme) -> [Span<'static>; 2] {
        let value = if self.selected {
            Span::styled(self.shown(), theme.selected())
        } else {
            Span::raw(self.shown())
        };
        [value, Span::styled("█", theme.key())]
    }

    /// The field as a prompt line: `> value█`.
    pub fn prompt_line(&self, theme: Theme) -> Line<'static> {
        let [value, cursor] = self.spans(theme);
        Line::from(vec![Span::raw("> "), value, cursor])
    }

    /// The field as a prompt line that fits `width` columns: `> value█`, with the start of a
    /// long value cut (`…`) so that the end being typed and the cursor stay in view.
    pub fn prompt_line_fit(&self, width: usize, theme: Theme) -> Line<'static> {
        let [value, cursor] = self.spans(theme);
        let room = width.saturating_sub(3).max(1);
        let shown: Vec<char> = value.content.chars().collect();
        let content = if shown.len() > room {
            let keep: String = shown[shown.len() - (room - 1)..].iter().collect();
            format!("…{keep}")
        } else {
            value.content.to_string()
        };
        Line::from(vec![
            Span::raw("> "),
            Span::styled(content, value.style),
            cursor,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offered_value_is_replaced_by_typing_never_appended_to() {
        let mut field = Input::prefilled("history-bundle-gen1.json");
        assert!(field.selected);
        for c in "other.json".chars() {
            field.edit(Action::Char(c));
        }
        assert_eq!(field.value, "other.json");
        let mut field = Input::prefilled("history-bundle-gen1.json");
        field.edit(Action::DeleteChar);
        assert_eq!(field.value, "", "Backspace clears an offered value");
        let mut field = Input::prefilled("history-bundle-gen1.json");
        assert_eq!(field.edit(Action::Select), Edit::Submit);
        assert_eq!(field.value, "history-bundle-gen1.json", "Enter takes it");
    }

    #[test]
    fn a_long_value_keeps_its_end_and_the_cursor_in_view() {
        let field = Input {
            value: "a".repeat(50) + "END",
            ..Input::default()
        };
        let line = field.prompt_line_fit(20, Theme::new(false));
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text.chars().count(), 20, "{text}");
        assert!(text.ends_with("END█"), "{text}");
        assert!(text.starts_with("> …"), "{text}");
    }
}
