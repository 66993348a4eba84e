//! The one keymap: every key the UI understands, in which context, what it does and how the
//! footer and the help overlay describe it. Handling, hints and help all read this table, so
//! they cannot drift apart.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// A key as the keymap names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Enter,
    Esc,
    Up,
    Down,
    Left,
    Right,
    Tab,
    BackTab,
    Backspace,
    PageUp,
    PageDown,
    Home,
    End,
    F(u8),
}

impl Key {
    /// The keymap's name for a terminal key press; `None` for releases and keys it ignores.
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        Some(match ev.code {
            KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
            KeyCode::Char(c) => Key::Char(c),
            KeyCode::Enter => Key::Enter,
            KeyCode::Esc => Key::Esc,
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            KeyCode::Backspace => Key::Backspace,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::F(n) => Key::F(n),
            _ => return None,
        })
    }

    pub fn label(&self) -> String {
        match self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{c}"),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::Tab => "Tab".into(),
            Key::BackTab => "S-Tab".into(),
            Key::Backspace => "Bksp".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::F(n) => format!("F{n}"),
        }
    }
}

/// Where a binding applies. [`super::app::App::contexts`] lists the active ones, most specific
/// first; the first binding that matches wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Always (even while typing).
    Global,
    /// Whenever no text is being typed.
    Nav,
    /// A screen with a selectable list.
    List,
    Dashboard,
    /// The dashboard in auditor mode (`--read-only`): the history only.
    Audit,
    Setup,
    Recovery,
    /// The recovery board of a threshold deployment.
    Board,
    History,
    Update,
    Keys,
    /// Typing into a text field.
    Input,
    /// The help overlay.
    Help,
    /// A message popup (error, notice).
    Message,
    /// The "quit / leave the unfinished flow?" question.
    QuitConfirm,
}

impl Context {
    pub fn title(&self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Nav => "Navigation",
            Context::List => "Lists",
            Context::Dashboard => "Dashboard",
            Context::Audit => "Dashboard (--read-only)",
            Context::Setup => "First-time setup",
            Context::Recovery => "Recovery",
            Context::Board => "Recovery board (k of n)",
            Context::History => "History audit",
            Context::Update => "Manifest update",
            Context::Keys => "Owner keys",
            Context::Input => "Text fields",
            Context::Help => "Help",
            Context::Message => "Messages",
            Context::QuitConfirm => "Quit or leave?",
        }
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    ForceQuit,
    /// Ctrl-L: clear the terminal and draw everything again (after another program wrote
    /// over the screen).
    Redraw,
    Help,
    Back,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Select,
    Filter,
    Refresh,
    OpenSetup,
    OpenRecovery,
    /// Dashboard: the recovery board of a threshold deployment.
    OpenBoard,
    /// Recovery board: cancel the open session.
    CancelSession,
    OpenHistory,
    OpenUpdate,
    OpenKeys,
    /// History: scroll the detail pane. Wizards (setup, recovery, update): scroll the pane
    /// by a page.
    ScrollDown,
    ScrollUp,
    /// History: remember the selected generation as the "from" side of a diff.
    Mark,
    /// History: cycle the detail pane (structured, raw, semantic diff, line diff).
    NextView,
    /// History: export the audited history to a bundle file in the workspace.
    ExportBundle,
    /// History: verify a bundle file offline.
    VerifyBundle,
    /// Keys: generate a new key.
    Generate,
    /// Keys: import a key from a PEM file.
    Import,
    /// Keys: export the selected key's public half to the workspace.
    ExportPublic,
    Yes,
    No,
    DeleteChar,
    /// A typed character (text fields only; not in the table).
    Char(char),
}

/// One row of the keymap.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub key: Key,
    pub context: Context,
    pub action: Action,
    /// Short text for the footer and the help overlay; `None` hides an alias (e.g. `j` next to `↓`).
    pub hint: Option<&'static str>,
}

const fn b(key: Key, context: Context, action: Action, hint: Option<&'static str>) -> Binding {
    Binding {
        key,
        context,
        action,
        hint,
    }
}

use Action as A;
use Context as C;
use Key as K;

/// The table. Order matters only for hints: the first hinted binding of an action names it,
/// and aliases of the same action in the same context are listed next to it.
pub const KEYMAP: &[Binding] = &[
    // Popups
    b(K::Esc, C::Help, A::Back, Some("close")),
    b(K::Char('q'), C::Help, A::Back, None),
    b(K::Char('?'), C::Help, A::Back, None),
    b(K::F(1), C::Help, A::Back, None),
    b(K::Down, C::Help, A::Down, Some("scroll")),
    b(K::Char('j'), C::Help, A::Down, None),
    b(K::Up, C::Help, A::Up, None),
    b(K::Char('k'), C::Help, A::Up, None),
    b(K::PageDown, C::Help, A::PageDown, None),
    b(K::PageUp, C::Help, A::PageUp, None),
    b(K::Home, C::Help, A::Top, None),
    b(K::End, C::Help, A::Bottom, None),
    b(K::Enter, C::Message, A::Back, Some("close")),
    b(K::Esc, C::Message, A::Back, None),
    // Only where the message offers it ("press v to verify it offline here").
    b(K::Char('v'), C::Message, A::VerifyBundle, None),
    b(K::Char('y'), C::QuitConfirm, A::Yes, Some("yes")),
    b(K::Char('n'), C::QuitConfirm, A::No, Some("stay")),
    b(K::Esc, C::QuitConfirm, A::No, None),
    // Text fields
    b(K::Enter, C::Input, A::Select, Some("submit")),
    b(K::Esc, C::Input, A::Back, Some("cancel")),
    b(K::Backspace, C::Input, A::DeleteChar, Some("delete")),
    // Dashboard
    b(K::Char('s'), C::Dashboard, A::OpenSetup, Some("setup")),
    b(K::Char('r'), C::Dashboard, A::OpenRecovery, Some("recover")),
    // Not in the dashboard's footer (it is full at 80 columns): the help overlay lists it.
    b(K::Char('b'), C::Dashboard, A::OpenBoard, None),
    b(K::Char('h'), C::Dashboard, A::OpenHistory, Some("history")),
    b(K::Char('u'), C::Dashboard, A::OpenUpdate, Some("update")),
    b(K::Char('o'), C::Dashboard, A::OpenKeys, Some("owner keys")),
    b(K::F(5), C::Dashboard, A::Refresh, Some("refresh")),
    b(K::Ctrl('r'), C::Dashboard, A::Refresh, None),
    b(K::Char('h'), C::Audit, A::OpenHistory, Some("history")),
    b(K::F(5), C::Audit, A::Refresh, Some("refresh")),
    // Wizards and screens
    b(K::Enter, C::Setup, A::Select, Some("choose")),
    b(K::Esc, C::Setup, A::Back, Some("back")),
    b(K::PageDown, C::Setup, A::ScrollDown, Some("scroll")),
    b(K::PageUp, C::Setup, A::ScrollUp, None),
    b(K::Enter, C::Board, A::Select, Some("send your share")),
    b(
        K::Char('x'),
        C::Board,
        A::CancelSession,
        Some("cancel session"),
    ),
    b(K::F(5), C::Board, A::Refresh, Some("refresh")),
    b(K::Esc, C::Board, A::Back, Some("back")),
    b(K::Enter, C::Recovery, A::Select, Some("continue")),
    b(K::Esc, C::Recovery, A::Back, Some("back")),
    b(K::PageDown, C::Recovery, A::ScrollDown, Some("scroll")),
    b(K::PageUp, C::Recovery, A::ScrollUp, None),
    b(K::Enter, C::Update, A::Select, Some("choose")),
    b(K::Esc, C::Update, A::Back, Some("back")),
    b(K::PageDown, C::Update, A::ScrollDown, Some("scroll")),
    b(K::PageUp, C::Update, A::ScrollUp, None),
    // Only on the pick step, which says so (a footer hint would show on every step).
    b(K::F(5), C::Update, A::Refresh, None),
    b(K::Tab, C::History, A::NextView, Some("view")),
    b(
        K::Char('x'),
        C::History,
        A::ExportBundle,
        Some("export bundle"),
    ),
    b(
        K::Char('v'),
        C::History,
        A::VerifyBundle,
        Some("verify file"),
    ),
    b(K::Char('m'), C::History, A::Mark, Some("mark for diff")),
    b(
        K::Char('J'),
        C::History,
        A::ScrollDown,
        Some("scroll detail"),
    ),
    b(K::Char('K'), C::History, A::ScrollUp, None),
    b(K::F(5), C::History, A::Refresh, Some("re-audit")),
    b(K::Esc, C::History, A::Back, Some("back")),
    b(K::Char('g'), C::Keys, A::Generate, Some("generate")),
    b(K::Char('i'), C::Keys, A::Import, Some("import")),
    b(
        K::Char('e'),
        C::Keys,
        A::ExportPublic,
        Some("export public"),
    ),
    b(K::Esc, C::Keys, A::Back, Some("back")),
    // Lists
    b(K::Down, C::List, A::Down, Some("move down")),
    b(K::Char('j'), C::List, A::Down, None),
    b(K::Up, C::List, A::Up, None),
    b(K::Char('k'), C::List, A::Up, None),
    b(K::PageDown, C::List, A::PageDown, None),
    b(K::PageUp, C::List, A::PageUp, None),
    b(K::Home, C::List, A::Top, None),
    b(K::Char('G'), C::List, A::Bottom, None),
    b(K::End, C::List, A::Bottom, None),
    b(K::Char('/'), C::List, A::Filter, Some("filter")),
    // Everywhere outside text fields
    b(K::Char('?'), C::Nav, A::Help, Some("help")),
    b(K::Char('q'), C::Nav, A::Quit, Some("quit")),
    // Everywhere
    b(K::F(1), C::Global, A::Help, None),
    b(K::Ctrl('c'), C::Global, A::ForceQuit, None),
    b(K::Ctrl('l'), C::Global, A::Redraw, None),
];

/// The action bound to `key` in the first of `contexts` that binds it. In a text field any
/// other printable character is typed.
pub fn action_for(contexts: &[Context], key: Key) -> Option<Action> {
    for context in contexts {
        if let Some(binding) = KEYMAP
            .iter()
            .find(|b| b.context == *context && b.key == key)
        {
            return Some(binding.action);
        }
    }
    match key {
        Key::Char(c) if contexts.contains(&Context::Input) && !c.is_control() => {
            Some(Action::Char(c))
        }
        _ => None,
    }
}

/// Hints for the active contexts: (keys, hint), one per action, most specific context first.
pub fn hints(contexts: &[Context]) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let mut seen: Vec<Action> = Vec::new();
    for context in contexts {
        for binding in KEYMAP.iter().filter(|b| b.context == *context) {
            let Some(hint) = binding.hint else { continue };
            if seen.contains(&binding.action) {
                continue;
            }
            // A key already taken by a more specific context is not reachable here.
            if action_for(contexts, binding.key) != Some(binding.action) {
                continue;
            }
            seen.push(binding.action);
            out.push((keys_of(*context, binding.action), hint));
        }
    }
    out
}

/// All keys bound to `action` in `context`, as `↓/j`.
pub fn keys_of(context: Context, action: Action) -> String {
    KEYMAP
        .iter()
        .filter(|b| b.context == context && b.action == action)
        .map(|b| b.key.label())
        .collect::<Vec<_>>()
        .join("/")
}

/// The help overlay's sections: per context, (keys, hint) for every hinted binding.
pub fn help_sections() -> Vec<(&'static str, Vec<(String, &'static str)>)> {
    let order = [
        Context::Global,
        Context::Nav,
        Context::List,
        Context::Dashboard,
        Context::Audit,
        Context::Setup,
        Context::Recovery,
        Context::Board,
        Context::History,
        Context::Update,
        Context::Keys,
        Context::Input,
        Context::QuitConfirm,
    ];
    order
        .iter()
        .map(|context| {
            let mut rows: Vec<(String, &'static str)> = Vec::new();
            let mut seen: Vec<Action> = Vec::new();
            for binding in KEYMAP.iter().filter(|b| b.context == *context) {
                if seen.contains(&binding.action) {
                    continue;
                }
                let hint = binding.hint.unwrap_or_else(|| action_text(binding.action));
                seen.push(binding.action);
                rows.push((keys_of(*context, binding.action), hint));
            }
            (context.title(), rows)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// Words for actions whose bindings carry no hint (aliases only).
fn action_text(action: Action) -> &'static str {
    match action {
        Action::Help => "help",
        Action::ForceQuit => "quit now (exit status 130; restores the terminal)",
        Action::Redraw => "redraw the screen",
        Action::Up => "move up",
        Action::Down => "move down",
        Action::PageUp => "page up",
        Action::PageDown => "page down",
        Action::Top => "first",
        Action::Bottom => "last",
        Action::Refresh => "refresh",
        Action::ScrollUp => "scroll up",
        Action::OpenBoard => "recovery board (k of n owners)",
        _ => "",
    }
}

/// The keymap as a Markdown table (docs/TUI.md embeds it; a test keeps it current).
pub fn markdown_table() -> String {
    let mut out = String::from("| where | keys | does |\n|---|---|---|\n");
    for (title, rows) in help_sections() {
        for (keys, hint) in rows {
            let keys = keys.replace('|', "\\|");
            out.push_str(&format!("| {title} | `{keys}` | {hint} |\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_found_and_typing_wins_in_text_fields() {
        assert_eq!(action_for(&[C::List, C::Nav], K::Char('j')), Some(A::Down));
        assert_eq!(
            action_for(&[C::Input, C::Global], K::Char('q')),
            Some(A::Char('q'))
        );
        assert_eq!(
            action_for(&[C::Dashboard, C::Nav, C::Global], K::Char('q')),
            Some(A::Quit)
        );
        assert_eq!(
            action_for(&[C::Dashboard, C::Nav, C::Global], K::F(1)),
            Some(A::Help)
        );
    }

    #[test]
    fn hints_merge_aliases() {
        let hints = hints(&[C::List, C::Nav, C::Global]);
        assert!(
            hints
                .iter()
                .any(|(k, h)| k == "↓/j/↑/k" || (k.contains("↓/j") && *h == "move down")),
            "{hints:?}"
        );
    }

    #[test]
    fn every_context_has_help() {
        let sections = help_sections();
        assert!(sections.iter().any(|(t, _)| *t == "Dashboard"));
        assert!(
            sections
                .iter()
                .all(|(_, rows)| rows.iter().all(|(_, h)| !h.is_empty()))
        );
    }
}
