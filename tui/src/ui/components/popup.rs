//! The one popup slot's contents, the keys they take, and how each is drawn (over the
//! screen, centred).

use ratatui::Frame;
use ratatui::layout::Rect;

use super::input::{Edit, Input};
use super::{confirm, help, message};
use crate::ui::keymap::{Action, Context};
use crate::ui::theme::Theme;

/// What a typed confirmation unlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// `unattested`: the word typed acknowledged an UNATTESTED Coordinator.
    SetManifest {
        unattested: bool,
    },
    Recover {
        unattested: bool,
    },
    Update,
    /// The recovery board: send this owner's share to the session.
    SubmitShare {
        unattested: bool,
    },
    /// The recovery board: cancel the open session.
    CancelSession,
}

/// The one popup slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Popup {
    /// The keymap, live ([`help`]), after `note` (the key store's full fallback warning,
    /// which the screens show on one line). `max` is the last scroll position that still
    /// fills the overlay, as of the last draw.
    Help {
        scroll: u16,
        max: u16,
        note: Option<String>,
    },
    /// A notice, or an error ([`message`]).
    Message {
        title: String,
        body: String,
        error: bool,
        /// A key the message offers ("press v to verify it"): it closes the message and
        /// then does what it does on the screen below.
        offers: Option<Action>,
    },
    /// "Quit Seedward?" / "Leave the recovery?" while a flow is unfinished ([`confirm`]):
    /// `flow` names it; `quit` is q (quit the program), else Esc (back to the dashboard).
    QuitConfirm { flow: &'static str, quit: bool },
    /// A typed confirmation before something irreversible ([`confirm`]).
    Typed {
        title: String,
        body: Vec<String>,
        expected: &'static str,
        input: Input,
        then: Confirmed,
        /// The last word submitted that was not `expected` (said, then the field starts over).
        rejected: Option<String>,
    },
}

/// What a key did to the open popup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// It stays open.
    Open,
    Close,
    /// "Quit anyway" was answered yes.
    Quit,
    /// "Leave the flow" was answered yes: back to the dashboard.
    Leave,
    /// The expected word was typed: close, and do what it unlocks.
    Confirmed(Confirmed),
    /// The key a message offered: close, then give the action to the screen.
    Pass(Action),
}

impl Popup {
    pub fn error(title: &str, body: impl Into<String>) -> Self {
        Popup::Message {
            title: title.to_string(),
            body: body.into(),
            error: true,
            offers: None,
        }
    }

    pub fn notice(title: &str, body: impl Into<String>) -> Self {
        Popup::Message {
            title: title.to_string(),
            body: body.into(),
            error: false,
            offers: None,
        }
    }

    /// A notice whose text offers `action`'s key: that key closes it and acts.
    pub fn notice_offering(title: &str, body: impl Into<String>, action: Action) -> Self {
        Popup::Message {
            title: title.to_string(),
            body: body.into(),
            error: false,
            offers: Some(action),
        }
    }

    /// A typed confirmation of `then`: nothing happens until `expected` is typed.
    pub fn typed(title: &str, body: Vec<String>, expected: &'static str, then: Confirmed) -> Self {
        Popup::Typed {
            title: title.into(),
            body,
            expected,
            input: Input::default(),
            then,
            rejected: None,
        }
    }

    /// Whether keys go to a text field.
    pub fn typing(&self) -> bool {
        matches!(self, Popup::Typed { .. })
    }

    /// The keymap contexts while this popup is open, most specific first.
    pub fn contexts(&self) -> Vec<Context> {
        let own = match self {
            Popup::Help { .. } => Context::Help,
            Popup::Message { .. } => Context::Message,
            Popup::QuitConfirm { .. } => Context::QuitConfirm,
            Popup::Typed { .. } => Context::Input,
        };
        vec![own, Context::Global]
    }

    /// Applies a key's action to the popup.
    pub fn handle(&mut self, action: Action) -> Reply {
        match self {
            Popup::Help { scroll, max, .. } => match action {
                Action::Back | Action::Help | Action::Quit => return Reply::Close,
                Action::Down => *scroll = scroll.saturating_add(1).min(*max),
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::PageDown => *scroll = scroll.saturating_add(10).min(*max),
                Action::PageUp => *scroll = scroll.saturating_sub(10),
                Action::Top => *scroll = 0,
                Action::Bottom => *scroll = *max,
                _ => {}
            },
            Popup::Message { offers, .. } => {
                if action == Action::Back {
                    return Reply::Close;
                }
                if *offers == Some(action) {
                    return Reply::Pass(action);
                }
            }
            Popup::QuitConfirm { quit, .. } => match action {
                Action::Yes if *quit => return Reply::Quit,
                Action::Yes => return Reply::Leave,
                Action::No | Action::Back => return Reply::Close,
                _ => {}
            },
            Popup::Typed {
                expected,
                input,
                then,
                rejected,
                ..
            } => match input.edit(action) {
                // The rejection is said until the next word is being typed.
                Edit::Typing if !input.value.is_empty() => *rejected = None,
                Edit::Typing => {}
                Edit::Cancel => return Reply::Close,
                // A wrong word sends nothing, says so, and starts the field over.
                Edit::Submit if input.value.trim() != *expected => {
                    *rejected = Some(std::mem::take(&mut input.value));
                }
                Edit::Submit => return Reply::Confirmed(*then),
            },
        }
        Reply::Open
    }

    /// The help overlay, scrolled to the top, with the key store's warning (if any) first.
    pub fn help(note: Option<String>) -> Self {
        Popup::Help {
            scroll: 0,
            max: u16::MAX,
            note,
        }
    }

    /// Draws the popup over `area` (the whole frame). The help overlay records how far it
    /// can scroll.
    pub fn render(&mut self, frame: &mut Frame, area: Rect, theme: Theme) {
        match self {
            Popup::Help { scroll, max, note } => {
                help::render(scroll, max, note.as_deref(), frame, area, theme)
            }
            Popup::Message {
                title, body, error, ..
            } => message::render(title, body, *error, frame, area, theme),
            Popup::QuitConfirm { flow, quit } => confirm::render_quit(flow, *quit, frame, area),
            Popup::Typed {
                title,
                body,
                expected,
                input,
                rejected,
                ..
            } => confirm::render_typed(
                title,
                body,
                confirm::TypedField {
                    expected,
                    input,
                    rejected: rejected.as_deref(),
                },
                frame,
                area,
                theme,
            ),
        }
    }
}

/// A `width`×`height` rectangle in the middle of `area` (no larger than it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
