//! The app shell: what is on screen ([`Screen`], one [`Popup`] slot), what every screen reads
//! (the Coordinator's health, the key store) and the frame around the screens.
//!
//! Its entry points route to the active screen: [`update`] (a key's [`Action`]),
//! [`on_event`] (an effect's result) and [`tick`] change state and return the [`Effect`]s
//! to run, and do no I/O; [`render`] draws the frame (title bar, the screen, status bar,
//! footer, popup) and never changes what update decides.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::components::popup::{Confirmed, Popup, Reply};
use super::components::scroll_pane::PaneScroll;
use super::components::truncate;
use super::effects::{Effect, Event};
use super::keymap::{self, Action, Context};
use super::screens::{Outcome, Screen, dashboard};
use super::shared::{Health, KeysState};
use super::text;
use super::theme::Theme;
use crate::keystore::KeyInfo;
use crate::ops::StatusView;

/// Smallest terminal the UI lays out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Where the Coordinator is, for the status bar.
#[derive(Debug, Clone)]
pub enum Location {
    /// Started by this UI on loopback.
    Local {
        address: String,
        state_dir: PathBuf,
    },
    Remote {
        address: String,
    },
}

impl Location {
    pub fn address(&self) -> &str {
        match self {
            Location::Local { address, .. } | Location::Remote { address } => address,
        }
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub screen: Screen,
    /// The one popup slot: help, a message, a question.
    pub popup: Option<Popup>,
    pub health: Health,
    pub keys: KeysState,
    pub location: Location,
    pub workspace: PathBuf,
    pub no_color: bool,
    /// Plain output: ASCII only, no box drawing (`--plain`, `TERM=dumb`).
    pub plain: bool,
    /// Auditor mode: the dashboard offers the history only.
    pub read_only: bool,
    pub quit: bool,
    /// Ctrl-C ended the UI (the process exits with status 130).
    pub interrupted: bool,
    /// Ctrl-L: the event loop clears the terminal before the next draw.
    pub redraw: bool,
    /// A status refresh is in flight.
    pub refreshing: bool,
    /// Where the wizard pane (setup, recovery, update) is scrolled to; back to the top
    /// whenever the screen or its step changes.
    pub pane: PaneScroll,
}

impl App {
    pub fn new(location: Location, workspace: PathBuf, no_color: bool) -> Self {
        Self {
            screen: Screen::Dashboard,
            popup: None,
            health: Health::Connecting,
            keys: KeysState::default(),
            location,
            workspace,
            no_color,
            plain: false,
            read_only: false,
            quit: false,
            interrupted: false,
            redraw: false,
            refreshing: false,
            pane: PaneScroll::default(),
        }
    }

    /// Effects to run when the UI starts.
    pub fn start(&mut self) -> Vec<Effect> {
        self.refreshing = true;
        vec![Effect::Refresh, Effect::ListKeys]
    }

    /// Whether the user is typing (keys go to a text field).
    pub fn typing(&self) -> bool {
        match &self.popup {
            Some(popup) => popup.typing(),
            None => self.screen.typing(),
        }
    }

    /// Active keymap contexts, most specific first.
    pub fn contexts(&self) -> Vec<Context> {
        if let Some(popup) = &self.popup {
            return popup.contexts();
        }
        if self.typing() {
            return vec![Context::Input, Context::Global];
        }
        let mut out = match self.screen {
            // The auditor's dashboard binds the history only: the other screens' keys do
            // not exist in this mode.
            Screen::Dashboard if self.read_only => vec![Context::Audit],
            _ => self.screen.contexts(),
        };
        out.push(Context::Nav);
        out.push(Context::Global);
        out
    }

    pub fn in_ceremony(&self) -> bool {
        self.screen.in_ceremony()
    }

    /// A key's action: the keys every screen shares, the open popup's, else the screen's.
    fn handle(&mut self, action: Action) -> Vec<Effect> {
        if action == Action::Redraw {
            self.redraw = true;
            return Vec::new();
        }
        if action == Action::ForceQuit {
            self.quit = true;
            self.interrupted = true;
            return vec![Effect::ForgetShare];
        }
        if self.popup.is_some() {
            return self.handle_popup(action);
        }
        match action {
            Action::Help => {
                self.popup = Some(Popup::help(self.keys.warning.clone()));
                return Vec::new();
            }
            Action::Quit => {
                if self.in_ceremony() {
                    self.popup = Some(Popup::QuitConfirm {
                        flow: self.screen.flow(),
                        quit: true,
                    });
                } else {
                    self.quit = true;
                }
                return Vec::new();
            }
            Action::ScrollDown | Action::ScrollUp if self.screen.has_pane() => {
                self.pane.page(action == Action::ScrollDown);
                return Vec::new();
            }
            _ => {}
        }
        let outcome = match &mut self.screen {
            Screen::Dashboard => dashboard::update(action, self.health.state()),
            Screen::Setup(w) => w.update(action, &self.keys),
            Screen::Recovery(r) => r.update(action, &self.keys),
            Screen::Board(b) => b.update(action, &self.keys),
            Screen::History(h) => h.update(action),
            Screen::Update(u) => u.update(action, &self.keys),
            Screen::Keys(k) => k.update(action, &self.keys),
        };
        self.apply(outcome)
    }

    fn handle_popup(&mut self, action: Action) -> Vec<Effect> {
        let Some(popup) = self.popup.as_mut() else {
            return Vec::new();
        };
        match popup.handle(action) {
            Reply::Open => Vec::new(),
            Reply::Close => {
                self.popup = None;
                Vec::new()
            }
            Reply::Quit => {
                self.popup = None;
                self.quit = true;
                vec![Effect::ForgetShare]
            }
            Reply::Leave => {
                self.popup = None;
                self.screen = Screen::Dashboard;
                self.refreshing = true;
                vec![Effect::ForgetShare, Effect::Refresh, Effect::ListKeys]
            }
            Reply::Confirmed(then) => {
                self.popup = None;
                self.confirmed(then)
            }
            Reply::Pass(action) => {
                self.popup = None;
                self.handle(action)
            }
        }
    }

    /// The typed confirmation was given: the screen starts its irreversible step.
    fn confirmed(&mut self, then: Confirmed) -> Vec<Effect> {
        match (&mut self.screen, then) {
            (Screen::Setup(w), Confirmed::SetManifest { unattested }) => w.confirmed(unattested),
            (Screen::Recovery(r), Confirmed::Recover { unattested }) => r.confirmed(unattested),
            (Screen::Update(u), Confirmed::Update) => u.confirmed(&self.keys),
            (
                Screen::Board(b),
                then @ (Confirmed::SubmitShare { .. } | Confirmed::CancelSession),
            ) => b.confirmed(then, &self.keys),
            _ => Vec::new(),
        }
    }

    /// An effect's result: reported in a popup if the user is to be told, taken by the
    /// shell if it is about what every screen reads, else by the screen it is for.
    fn handle_event(&mut self, event: Event) -> Vec<Effect> {
        if let Some(popup) = report(&event) {
            self.popup = Some(popup);
        }
        match event {
            Event::Status { result, latency_ms } => {
                self.status(result, latency_ms);
                Vec::new()
            }
            Event::Keys {
                result,
                warning,
                backend,
            } => {
                self.keys_listed(result, warning, backend);
                Vec::new()
            }
            Event::KeyAdded(result) => self.key_added(result),
            other => self.route_event(other),
        }
    }

    fn status(&mut self, result: Result<Box<StatusView>, String>, latency_ms: u64) {
        self.refreshing = false;
        self.health = match result {
            Ok(status) => Health::Ok { status, latency_ms },
            Err(message) => {
                let last = self.health.status().cloned().map(Box::new);
                Health::Failed { message, last }
            }
        };
    }

    fn keys_listed(
        &mut self,
        result: Result<Vec<KeyInfo>, String>,
        warning: Option<String>,
        backend: String,
    ) {
        self.keys.warning = warning;
        self.keys.backend = backend;
        match result {
            Ok(list) => {
                self.keys.list = list;
                self.keys.error = None;
            }
            Err(e) => self.keys.error = Some(e),
        }
        if let Screen::Setup(w) = &mut self.screen {
            w.keys_listed(&self.keys);
        }
    }

    /// A key was generated or imported (or that failed): the screen that asked hears of it,
    /// and the key store is listed again.
    fn key_added(&mut self, result: Result<KeyInfo, String>) -> Vec<Effect> {
        match &mut self.screen {
            Screen::Setup(w) => w.key_added(result.as_ref().ok()),
            Screen::Keys(k) => {
                if let Ok(info) = &result {
                    k.key_added(info);
                }
            }
            _ => {}
        }
        if let Ok(info) = result {
            self.keys.list.retain(|k| k.name != info.name);
            self.keys.list.push(info);
        }
        vec![Effect::ListKeys]
    }

    /// Gives a result to the active screen; one it does not take is [`stray`].
    fn route_event(&mut self, event: Event) -> Vec<Effect> {
        let taken = match &mut self.screen {
            Screen::Setup(w) => w.on_event(event),
            Screen::Recovery(r) => r.on_event(event),
            Screen::Board(b) => b.on_event(event),
            Screen::History(h) => h.on_event(event),
            Screen::Update(u) => u.on_event(event),
            Screen::Dashboard | Screen::Keys(_) => Err(event),
        };
        match taken {
            Ok(outcome) => self.apply(outcome),
            Err(event) => stray(event),
        }
    }

    /// Applies what a screen asked for; returns the effects to run.
    fn apply(&mut self, outcome: Outcome) -> Vec<Effect> {
        if let Some(popup) = outcome.popup {
            self.popup = Some(popup);
        }
        if let Some(screen) = outcome.next {
            self.screen = screen;
        }
        if outcome.refreshing {
            self.refreshing = true;
        }
        outcome.effects
    }

    /// Runs `f`, then starts the wizard pane's scrolling over if another screen or step is
    /// shown.
    fn keeping_pane(&mut self, f: impl FnOnce(&mut Self) -> Vec<Effect>) -> Vec<Effect> {
        let before = self.screen.pane_key();
        let effects = f(self);
        if self.screen.pane_key() != before {
            self.pane.reset();
        }
        effects
    }
}

/// Applies a key's action.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    app.keeping_pane(|app| app.handle(action))
}

/// Applies an effect's result.
pub fn on_event(app: &mut App, event: Event) -> Vec<Effect> {
    app.keeping_pane(|app| app.handle_event(event))
}

/// Whether a tick should refresh the status (not while one is in flight).
pub fn tick(app: &mut App) -> Vec<Effect> {
    // The recovery board follows its session on every tick, as the status does.
    let mut effects = match &mut app.screen {
        Screen::Board(b) => b.tick(),
        _ => Vec::new(),
    };
    if !app.refreshing {
        app.refreshing = true;
        effects.push(Effect::Refresh);
    }
    effects
}

/// Results the user is told about in a popup, whichever screen is open.
fn report(event: &Event) -> Option<Popup> {
    Some(match event {
        Event::KeyAdded(Err(e)) | Event::Exported(Err(e)) => {
            Popup::error(text::KEY_ERROR_TITLE, e.clone())
        }
        Event::Exported(Ok(path)) => Popup::notice(
            text::EXPORTED_TITLE,
            text::exported(&path.display().to_string()),
        ),
        Event::Manifests(Err(e)) | Event::TemplateWritten(Err(e)) => {
            Popup::error(text::WORKSPACE_ERROR_TITLE, e.clone())
        }
        Event::BundleExported(Ok(export)) => Popup::notice_offering(
            text::BUNDLE_EXPORTED_TITLE,
            text::bundle_exported(export),
            Action::VerifyBundle,
        ),
        Event::BundleVerified(Ok(check)) if check.ok => {
            Popup::notice(text::BUNDLE_VERIFIED_TITLE, text::bundle_verified(check))
        }
        Event::BundleVerified(Ok(check)) => {
            Popup::error(text::BUNDLE_FAILED_TITLE, text::bundle_verified(check))
        }
        Event::BundleExported(Err(e)) | Event::BundleVerified(Err(e)) => {
            Popup::error(text::BUNDLE_TITLE, e.clone())
        }
        _ => return None,
    })
}

/// A result no open screen took: the screen it was for was left meanwhile.
fn stray(event: Event) -> Vec<Effect> {
    match event {
        // A share decrypted for a recovery that was left is dropped at once.
        Event::Decrypted(_) | Event::Preflighted(_) => vec![Effect::ForgetShare],
        _ => Vec::new(),
    }
}

/// Draws the frame: the title bar, the active screen, the status bar, the footer (hints
/// from the keymap) and the popup, or "terminal too small" below [`MIN_WIDTH`]×[`MIN_HEIGHT`].
///
/// The app is only read, except for the wizard pane's [`PaneScroll`]: the pane is a ratatui
/// `StatefulWidget` that clamps its offset to the content and records the page size, so
/// that paging in [`update`] needs no layout.
pub fn render(app: &mut App, frame: &mut Frame) {
    let theme = Theme::new(!app.no_color);
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let [title, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    title_bar(app, frame, title, theme);
    render_screen(app, frame, body, theme);
    status_bar(app, frame, status, theme);
    footer_bar(app, frame, footer, theme);
    if let Some(popup) = app.popup.as_mut() {
        popup.render(frame, area, theme);
    }
    if app.plain {
        plain_buffer(frame.buffer_mut());
    }
}

/// `--plain`: every box-drawing character and mark becomes ASCII (the words next to each
/// mark carry its meaning), so that screen readers and dumb terminals get plain text.
fn plain_buffer(buffer: &mut ratatui::buffer::Buffer) {
    for cell in buffer.content.iter_mut() {
        let plain = match cell.symbol() {
            "─" | "━" => "-",
            "│" | "┃" => "|",
            "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" => "+",
            "✓" => "+",
            "✗" => "x",
            "⚠" => "!",
            "…" => ".",
            "·" => "-",
            "█" => "_",
            "▶" | "›" | "→" => ">",
            "←" => "<",
            "↓" => "v",
            "↑" => "^",
            "○" => "o",
            "•" => "*",
            "–" | "—" => "-",
            other if other.is_ascii() => continue,
            _ => "?",
        };
        cell.set_symbol(plain);
    }
}

fn render_screen(app: &mut App, frame: &mut Frame, area: Rect, theme: Theme) {
    let App {
        screen,
        health,
        keys,
        pane,
        location,
        read_only,
        ..
    } = app;
    match screen {
        Screen::Dashboard => dashboard::render(
            frame,
            area,
            health,
            keys,
            dashboard::Facts {
                address: location.address(),
                read_only: *read_only,
            },
            theme,
        ),
        Screen::Setup(w) => w.render(frame, area, keys, theme, pane),
        Screen::Recovery(r) => r.render(frame, area, keys, theme, pane),
        Screen::Board(b) => b.render(frame, area, keys, theme),
        Screen::History(h) => h.render(frame, area, theme),
        Screen::Update(u) => u.render(frame, area, keys, theme, pane),
        Screen::Keys(k) => k.render(frame, area, keys, theme),
    }
}

fn too_small(frame: &mut Frame, area: Rect, theme: Theme) {
    let para = Paragraph::new(vec![
        Line::styled(text::TOO_SMALL_TITLE, theme.bold()),
        Line::raw(""),
        Line::raw(text::too_small(
            area.width,
            area.height,
            MIN_WIDTH,
            MIN_HEIGHT,
        )),
    ])
    .wrap(Wrap { trim: true });
    frame.render_widget(para, area);
}

fn title_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let left = Line::from(vec![
        Span::styled(
            format!(" {} ", text::APP),
            theme.bold().add_modifier(Modifier::REVERSED),
        ),
        Span::raw(" "),
        Span::styled(app.screen.title(), theme.bold()),
    ]);
    frame.render_widget(Paragraph::new(left), area);
    let mut right = vec![Span::styled("?", theme.key()), Span::raw(" help ")];
    if app.read_only {
        right.insert(0, Span::styled(text::READ_ONLY_BADGE, theme.badge()));
        right.insert(1, Span::raw("  "));
    }
    let right = Line::from(right).right_aligned();
    frame.render_widget(Paragraph::new(right), area);
}

fn status_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let (health, style) = match &app.health {
        Health::Connecting => (text::HEALTH_CONNECTING.to_string(), theme.dim()),
        Health::Ok { latency_ms, .. } => (text::health_ok(*latency_ms), theme.ok()),
        Health::Failed { .. } => ("✗ unreachable".to_string(), theme.bad()),
    };
    let width = area.width as usize;
    let health_len = health.chars().count() + 1;
    let room = width.saturating_sub(health_len + 1);
    // The state directory is shortened in its middle, never at its end: the end names it.
    let location = match &app.location {
        Location::Local { address, state_dir } => {
            let head = text::local_location(address);
            let path = fit_path(
                &state_dir.display().to_string(),
                room.saturating_sub(head.chars().count()),
            );
            format!("{head}{path}")
        }
        Location::Remote { address } => text::remote_location(address),
    };
    let location = truncate(&location, room);
    let pad = width.saturating_sub(location.chars().count() + health_len);
    let line = Line::from(vec![
        Span::raw(location),
        Span::raw(" ".repeat(pad)),
        Span::styled(health, style),
        Span::raw(" "),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(theme.dim().add_modifier(Modifier::REVERSED)),
        area,
    );
}

/// `path` in at most `max` characters: the home directory as `~`, then, if still too long,
/// its first component, `…` and as many of its last components as fit.
pub fn fit_path(path: &str, max: usize) -> String {
    let home = std::env::var("HOME").ok().filter(|h| h.len() > 1);
    let path = match home.as_deref().and_then(|h| path.strip_prefix(h)) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
        _ => path.to_string(),
    };
    let count = |s: &str| s.chars().count();
    if count(&path) <= max {
        return path;
    }
    // The first component (with its leading `/`) and the rest.
    let split = path
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '/')
        .map_or(path.len(), |(i, _)| i);
    let (first, rest) = path.split_at(split);
    let mut tail = String::new();
    for part in rest.rsplit('/').filter(|p| !p.is_empty()) {
        let longer = format!("/{part}{tail}");
        if count(first) + 2 + count(&longer) > max {
            break;
        }
        tail = longer;
    }
    if !tail.is_empty() {
        return format!("{first}/…{tail}");
    }
    // Not even the last component fits after the first: the end of the path.
    let chars: Vec<char> = path.chars().collect();
    let keep = max.saturating_sub(1).min(chars.len());
    let end: String = chars[chars.len() - keep..].iter().collect();
    format!("…{end}")
}

/// The footer: the screen's hints, then always `? help` and `q quit` (and the list filter)
/// when they apply; when the row is too narrow, the screen's last hints give way. Each
/// action shows its first key only (`↓`, not `↓/j`); the help overlay lists them all.
fn footer_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let all: Vec<(String, &str)> = keymap::hints(&app.contexts())
        .into_iter()
        .map(|(keys, hint)| {
            let first = keys.split('/').next().filter(|k| !k.is_empty());
            (first.map_or(keys.clone(), str::to_string), hint)
        })
        .collect();
    let pinned = |(keys, hint): &(String, &str)| {
        [("?", "help"), ("q", "quit"), ("/", "filter")].contains(&(keys.as_str(), *hint))
    };
    let len = |(keys, hint): &(String, &str)| keys.chars().count() + hint.chars().count() + 3;
    let reserved: usize = all.iter().filter(|h| pinned(h)).map(len).sum();
    let mut room = (area.width as usize).saturating_sub(reserved);
    let mut shown: Vec<&(String, &str)> = Vec::new();
    for hint in &all {
        if pinned(hint) {
            continue;
        }
        if len(hint) > room {
            break;
        }
        room -= len(hint);
        shown.push(hint);
    }
    shown.extend(all.iter().filter(|h| pinned(h)));
    let mut spans = Vec::new();
    for (keys, hint) in shown {
        spans.push(Span::styled(keys.clone(), theme.key()));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
