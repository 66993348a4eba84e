//! The confirmation prompts: "quit / leave the unfinished flow?" (y/n), and the typed confirmation
//! before anything irreversible (the exact word, then Enter).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::block;
use super::input::Input;
use super::popup::centered;
use crate::ui::text;
use crate::ui::theme::Theme;

/// Draws the question "quit (or leave `flow`) although it is unfinished?" over `area`.
pub fn render_quit(flow: &str, quit: bool, frame: &mut Frame, area: Rect) {
    let rect = centered(area, 60, 8);
    frame.render_widget(Clear, rect);
    let title = if quit {
        text::QUIT_TITLE.to_string()
    } else {
        text::leave_title(flow)
    };
    frame.render_widget(
        Paragraph::new(vec![Line::raw(text::unfinished_body(flow, quit))])
            .block(block(&title))
            .wrap(Wrap { trim: true }),
        rect,
    );
}

/// Draws a typed confirmation over `area`: `body`, then the field, and whether what is typed
/// is `expected`.
/// The field of a typed confirmation: the word expected, what is typed, the last word
/// rejected.
pub struct TypedField<'a> {
    pub expected: &'a str,
    pub input: &'a Input,
    pub rejected: Option<&'a str>,
}

pub fn render_typed(
    title: &str,
    body: &[String],
    field: TypedField<'_>,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let TypedField {
        expected,
        input,
        rejected,
    } = field;
    let rect = centered(
        area,
        68,
        body.len() as u16 + 6 + u16::from(rejected.is_some()),
    );
    frame.render_widget(Clear, rect);
    let mut lines: Vec<Line> = body.iter().map(|l| Line::raw(l.clone())).collect();
    lines.push(Line::raw(""));
    let typed_ok = input.value.trim() == expected;
    let [value, cursor] = input.spans(theme);
    lines.push(Line::from(vec![
        Span::raw("> "),
        value,
        cursor,
        Span::raw("   "),
        if typed_ok {
            Span::styled("✓ Enter to send", theme.ok())
        } else {
            Span::styled(text::typed_mismatch(expected), theme.dim())
        },
    ]));
    if let Some(word) = rejected {
        lines.push(Line::styled(
            text::typed_rejected(word, expected),
            theme.bad(),
        ));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(title))
            .wrap(Wrap { trim: false }),
        rect,
    );
}
