//! The UI's state and its two entry points: [`update`] (a key's [`Action`]) and [`on_event`]
//! (an effect's result). Both change state and return [`Effect`]s; neither does I/O.

use std::path::PathBuf;

use super::components::popup::{Confirmed, Popup, Reply};
use super::components::scroll_pane::PaneScroll;
use super::effects::{Effect, Event};
use super::keymap::{Action, Context};
use super::screens::{Outcome, Screen, dashboard};
use super::shared::{Health, KeysState};
use super::text;

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

// ----------------------------------------------------------------------------------------
// App
// ----------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct App {
    pub screen: Screen,
    pub popup: Option<Popup>,
    pub health: Health,
    pub keys: KeysState,
    pub location: Location,
    pub workspace: PathBuf,
    pub no_color: bool,
    pub quit: bool,
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
            quit: false,
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
        let mut out = self.screen.contexts();
        out.push(Context::Nav);
        out.push(Context::Global);
        out
    }

    pub fn in_ceremony(&self) -> bool {
        self.screen.in_ceremony()
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
}

/// Applies a key's action.
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let before = app.screen.pane_key();
    let effects = update_inner(app, action);
    if app.screen.pane_key() != before {
        app.pane.reset();
    }
    effects
}

fn update_inner(app: &mut App, action: Action) -> Vec<Effect> {
    if action == Action::ForceQuit {
        app.quit = true;
        return vec![Effect::ForgetShare];
    }
    if app.popup.is_some() {
        return update_popup(app, action);
    }
    match action {
        Action::Help => {
            app.popup = Some(Popup::Help { scroll: 0 });
            return Vec::new();
        }
        Action::Quit => {
            if app.in_ceremony() {
                app.popup = Some(Popup::QuitConfirm);
            } else {
                app.quit = true;
            }
            return vec![];
        }
        _ => {}
    }
    if matches!(action, Action::ScrollDown | Action::ScrollUp)
        && matches!(
            app.screen,
            Screen::Setup(_) | Screen::Recovery(_) | Screen::Update(_)
        )
    {
        app.pane.page(action == Action::ScrollDown);
        return Vec::new();
    }
    let keys = app.keys.clone();
    let health_state = app.health.state();
    match &mut app.screen {
        Screen::Dashboard => {
            let outcome = dashboard::update(action, health_state);
            app.apply(outcome)
        }
        Screen::Setup(w) => {
            let outcome = w.update(action, &keys);
            app.apply(outcome)
        }
        Screen::Recovery(r) => {
            let outcome = r.update(action, &keys);
            app.apply(outcome)
        }
        Screen::History(h) => {
            let outcome = h.update(action);
            app.apply(outcome)
        }
        Screen::Update(u) => {
            let outcome = u.update(action, &keys);
            app.apply(outcome)
        }
        Screen::Keys(k) => {
            let outcome = k.update(action, &keys);
            app.apply(outcome)
        }
    }
}

fn update_popup(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(popup) = app.popup.as_mut() else {
        return Vec::new();
    };
    match popup.handle(action) {
        Reply::Open => Vec::new(),
        Reply::Close => {
            app.popup = None;
            Vec::new()
        }
        Reply::Quit => {
            app.popup = None;
            app.quit = true;
            vec![Effect::ForgetShare]
        }
        Reply::Confirmed(then) => {
            app.popup = None;
            confirmed(app, then)
        }
    }
}

/// The typed confirmation was given: start the ceremony's irreversible step.
fn confirmed(app: &mut App, then: Confirmed) -> Vec<Effect> {
    match (&mut app.screen, then) {
        (Screen::Setup(w), Confirmed::SetManifest) => w.confirmed(),
        (Screen::Recovery(r), Confirmed::Recover) => r.confirmed(),
        (Screen::Update(u), Confirmed::Update) => u.confirmed(&app.keys),
        _ => Vec::new(),
    }
}

/// Applies an effect's result.
pub fn on_event(app: &mut App, event: Event) -> Vec<Effect> {
    let before = app.screen.pane_key();
    let effects = on_event_inner(app, event);
    if app.screen.pane_key() != before {
        app.pane.reset();
    }
    effects
}

fn on_event_inner(app: &mut App, event: Event) -> Vec<Effect> {
    if let Some(popup) = report(&event) {
        app.popup = Some(popup);
    }
    let event = match &mut app.screen {
        Screen::Setup(w) => match w.on_event(event) {
            Ok(outcome) => return app.apply(outcome),
            Err(event) => event,
        },
        Screen::History(h) => match h.on_event(event) {
            Ok(outcome) => return app.apply(outcome),
            Err(event) => event,
        },
        Screen::Recovery(r) => match r.on_event(event) {
            Ok(outcome) => return app.apply(outcome),
            Err(event) => event,
        },
        Screen::Update(u) => match u.on_event(event) {
            Ok(outcome) => return app.apply(outcome),
            Err(event) => event,
        },
        _ => event,
    };
    match event {
        Event::Status { result, latency_ms } => {
            app.refreshing = false;
            app.health = match result {
                Ok(status) => Health::Ok { status, latency_ms },
                Err(message) => {
                    let last = app.health.status().cloned().map(Box::new);
                    Health::Failed { message, last }
                }
            };
            Vec::new()
        }
        Event::Keys {
            result,
            warning,
            backend,
        } => {
            app.keys.warning = warning;
            app.keys.backend = backend;
            match result {
                Ok(list) => {
                    app.keys.list = list;
                    app.keys.error = None;
                }
                Err(e) => app.keys.error = Some(e),
            }
            if let Screen::Setup(w) = &mut app.screen {
                w.keys_listed(&app.keys);
            }
            Vec::new()
        }
        Event::KeyAdded(result) => {
            match &mut app.screen {
                Screen::Setup(w) => w.key_added(result.as_ref().ok()),
                Screen::Keys(k) => {
                    if let Ok(info) = &result {
                        k.key_added(info);
                    }
                }
                _ => {}
            }
            if let Ok(info) = result {
                app.keys.list.retain(|k| k.name != info.name);
                app.keys.list.push(info);
            }
            vec![Effect::ListKeys]
        }
        Event::Exported(_) => Vec::new(),
        // Only the screen each is for (above) takes these.
        Event::Manifests(_)
        | Event::TemplateWritten(_)
        | Event::ManifestLoaded(_)
        | Event::Coordinator { .. }
        | Event::SetDone(_)
        | Event::DrillDone(_) => Vec::new(),
        // A share decrypted for a wizard that was left meanwhile is dropped at once.
        Event::Decrypted(_) | Event::Preflighted(_) => vec![Effect::ForgetShare],
        // Only the recovery screen (above) takes these.
        Event::RecoverySent(_) | Event::Reverified(_) => Vec::new(),
        // Only the screen each is for (above) takes these; a bundle's outcome was reported.
        Event::Updated(_)
        | Event::Audited(_)
        | Event::BundleExported(_)
        | Event::BundleVerified(_) => Vec::new(),
    }
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
        Event::BundleExported(Ok(export)) => {
            Popup::notice(text::BUNDLE_EXPORTED_TITLE, text::bundle_exported(export))
        }
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

/// Whether a tick should refresh the status (not while one is in flight).
pub fn tick(app: &mut App) -> Vec<Effect> {
    if app.refreshing {
        return Vec::new();
    }
    app.refreshing = true;
    vec![Effect::Refresh]
}
