//! The UI's state and its two entry points: [`update`] (a key's [`Action`]) and [`on_event`]
//! (an effect's result). Both change state and return [`Effect`]s; neither does I/O.

use std::path::PathBuf;

use super::components::input::Input;
use super::components::list::ListState;
use super::components::popup::{Confirmed, Popup, Reply};
use super::components::scroll_pane::PaneScroll;
use super::effects::{Effect, Event, LoadedManifest};
use super::keymap::{Action, Context};
use super::screens::{Outcome, Screen, dashboard};
use super::shared::{Health, KeysState, default_name};
use super::text;
use crate::keystore::{KeyInfo, KeyKind};
use crate::ops::{CoordinatorState, DrillReport, SetupOutcome, StatusView};

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
// Setup wizard
// ----------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStep {
    Keys,
    Manifest,
    Coordinator,
    Confirm,
    Drill,
}

impl SetupStep {
    pub const ALL: [SetupStep; 5] = [
        SetupStep::Keys,
        SetupStep::Manifest,
        SetupStep::Coordinator,
        SetupStep::Confirm,
        SetupStep::Drill,
    ];

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn title(self) -> &'static str {
        text::SETUP_STEPS[self.index()]
    }

    pub fn prev(self) -> Option<SetupStep> {
        self.index().checked_sub(1).map(|i| Self::ALL[i])
    }
}

/// A choice on the owner-keys step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChoice {
    Use(KeyKind, String),
    Generate(KeyKind),
    Import(KeyKind),
    Immutable,
    Continue,
}

/// A choice on the manifest step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestChoice {
    Template,
    File(String),
}

#[derive(Debug, Clone)]
pub struct SetupWizard {
    pub step: SetupStep,
    pub list: ListState,
    pub owner: Option<KeyInfo>,
    pub workload: Option<KeyInfo>,
    pub immutable: bool,
    /// Typing the path of a PEM file to import.
    pub import: Option<(KeyKind, Input)>,
    /// `*.json` files of the workspace.
    pub manifest_files: Vec<String>,
    pub manifest: Option<LoadedManifest>,
    pub coordinator: Option<StatusView>,
    pub coordinator_error: Option<String>,
    /// Why the results of a set could not be saved here (checked before anything is sent).
    pub workspace_error: Option<String>,
    /// What is running now.
    pub busy: Option<&'static str>,
    pub outcome: Option<SetupOutcome>,
    pub set_error: Option<String>,
    pub drill: Option<DrillReport>,
    pub drill_error: Option<String>,
}

impl SetupWizard {
    pub fn new() -> Self {
        Self {
            step: SetupStep::Keys,
            list: ListState::default(),
            owner: None,
            workload: None,
            immutable: false,
            import: None,
            manifest_files: Vec::new(),
            manifest: None,
            coordinator: None,
            coordinator_error: None,
            workspace_error: None,
            busy: None,
            outcome: None,
            set_error: None,
            drill: None,
            drill_error: None,
        }
    }

    pub fn keys_done(&self) -> bool {
        self.owner.is_some() && (self.workload.is_some() || self.immutable)
    }

    /// The choices of the owner-keys step, given the key store's contents.
    pub fn key_choices(&self, keys: &KeysState) -> Vec<KeyChoice> {
        let mut out = Vec::new();
        for kind in [KeyKind::SeedShareOwner, KeyKind::WorkloadOwner] {
            for key in keys.of_kind(kind) {
                out.push(KeyChoice::Use(kind, key.name.clone()));
            }
            out.push(KeyChoice::Generate(kind));
            out.push(KeyChoice::Import(kind));
        }
        out.push(KeyChoice::Immutable);
        out.push(KeyChoice::Continue);
        out
    }

    pub fn manifest_choices(&self) -> Vec<ManifestChoice> {
        let mut out = vec![ManifestChoice::Template];
        out.extend(
            self.manifest_files
                .iter()
                .filter(|f| self.list.matches(f))
                .map(|f| ManifestChoice::File(f.clone())),
        );
        out
    }

    /// Whether the manifest step's result allows going on, and if not, why.
    pub fn manifest_blocker(&self) -> Option<String> {
        let Some(loaded) = &self.manifest else {
            return Some(text::CHOOSE_MANIFEST.into());
        };
        if !loaded.is_valid() {
            return Some(text::MANIFEST_INVALID.into());
        }
        let manifest = loaded.manifest.as_ref()?;
        if let Some(owner) = &self.owner
            && !manifest
                .seedshare_owner_pub_keys()
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&owner.public_hex))
        {
            return Some(text::owner_not_listed(&owner.name));
        }
        None
    }

    pub fn coordinator_blocker(&self) -> Option<String> {
        if let Some(e) = &self.coordinator_error {
            return Some(e.clone());
        }
        if let Some(e) = &self.workspace_error {
            return Some(e.clone());
        }
        match &self.coordinator {
            None => Some(text::CHECKING.into()),
            Some(s) if s.state != CoordinatorState::Uninitialized => {
                Some(text::not_uninitialized(s.state.label()))
            }
            Some(_) => None,
        }
    }

    /// A ceremony is in progress once something was chosen and the drill has not finished.
    pub fn in_ceremony(&self) -> bool {
        self.drill.is_none() && (self.owner.is_some() || self.step != SetupStep::Keys)
    }
}

impl Default for SetupWizard {
    fn default() -> Self {
        Self::new()
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
            let (effects, leave) = update_setup(w, action, &keys);
            let mut effects = effects;
            match leave {
                Leave::Stay => {}
                Leave::Dashboard => {
                    app.screen = Screen::Dashboard;
                    app.refreshing = true;
                    effects.push(Effect::Refresh);
                    effects.push(Effect::ListKeys);
                }
                Leave::Confirm(popup) => app.popup = Some(popup),
            }
            effects
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
        (Screen::Setup(w), Confirmed::SetManifest) => {
            let Some(loaded) = &w.manifest else {
                return Vec::new();
            };
            let Some(manifest) = &loaded.manifest else {
                return Vec::new();
            };
            w.busy = Some(text::SETTING);
            w.set_error = None;
            vec![Effect::SetFirstManifest {
                manifest: Box::new(manifest.clone()),
                policies: loaded.policies.clone(),
            }]
        }
        (Screen::Recovery(r), Confirmed::Recover) => r.confirmed(),
        (Screen::Update(u), Confirmed::Update) => u.confirmed(&app.keys),
        _ => Vec::new(),
    }
}

enum Leave {
    Stay,
    Dashboard,
    Confirm(Popup),
}

fn update_setup(w: &mut SetupWizard, action: Action, keys: &KeysState) -> (Vec<Effect>, Leave) {
    if w.list.type_filter(action) {
        return (Vec::new(), Leave::Stay);
    }
    if let Some((kind, input)) = w.import.as_mut() {
        match action {
            Action::Char(c) => input.push(c),
            Action::DeleteChar => input.pop(),
            Action::Back => w.import = None,
            Action::Select => {
                let kind = *kind;
                let path = PathBuf::from(input.value.trim());
                w.import = None;
                w.busy = Some(text::IMPORTING);
                let name = keys.free_name(default_name(kind));
                return (vec![Effect::ImportKey { kind, name, path }], Leave::Stay);
            }
            _ => {}
        }
        return (Vec::new(), Leave::Stay);
    }
    if w.busy.is_some() && action != Action::Back {
        return (Vec::new(), Leave::Stay);
    }
    if action == Action::Back {
        if w.list.filter.is_some() {
            w.list.filter = None;
            return (Vec::new(), Leave::Stay);
        }
        // After the set there is no way back: the manifest is on the Coordinator.
        if w.outcome.is_some() {
            return (
                Vec::new(),
                if w.drill.is_some() {
                    Leave::Dashboard
                } else {
                    Leave::Stay
                },
            );
        }
        w.busy = None;
        return match w.step.prev() {
            Some(prev) => {
                w.step = prev;
                w.list = ListState::default();
                (Vec::new(), Leave::Stay)
            }
            None => (Vec::new(), Leave::Dashboard),
        };
    }
    match w.step {
        SetupStep::Keys => {
            let choices = w.key_choices(keys);
            if action != Action::Select {
                w.list.navigate(action, choices.len());
                return (Vec::new(), Leave::Stay);
            }
            let Some(choice) = choices.get(w.list.cursor).cloned() else {
                return (Vec::new(), Leave::Stay);
            };
            match choice {
                KeyChoice::Use(kind, name) => {
                    let info = keys.list.iter().find(|k| k.name == name).cloned();
                    match kind {
                        KeyKind::SeedShareOwner => w.owner = info,
                        KeyKind::WorkloadOwner => {
                            w.workload = info;
                            w.immutable = false;
                        }
                    }
                }
                KeyChoice::Generate(kind) => {
                    w.busy = Some(text::GENERATING);
                    let name = keys.free_name(default_name(kind));
                    return (vec![Effect::GenerateKey { kind, name }], Leave::Stay);
                }
                KeyChoice::Import(kind) => w.import = Some((kind, Input::default())),
                KeyChoice::Immutable => {
                    w.immutable = !w.immutable;
                    if w.immutable {
                        w.workload = None;
                    }
                }
                KeyChoice::Continue => {
                    if w.keys_done() {
                        w.step = SetupStep::Manifest;
                        w.list = ListState::default();
                        return (vec![Effect::ListManifests], Leave::Stay);
                    }
                }
            }
            (Vec::new(), Leave::Stay)
        }
        SetupStep::Manifest => {
            let choices = w.manifest_choices();
            match action {
                Action::Select => {
                    // Enter on a loaded valid manifest that is selected again continues.
                    let Some(choice) = choices.get(w.list.cursor).cloned() else {
                        return (Vec::new(), Leave::Stay);
                    };
                    let path_of = |name: &str| PathBuf::from(name);
                    let already = match (&choice, &w.manifest) {
                        (ManifestChoice::File(f), Some(m)) => {
                            m.path.file_name() == path_of(f).file_name()
                        }
                        _ => false,
                    };
                    if already {
                        if w.manifest_blocker().is_none() {
                            w.step = SetupStep::Coordinator;
                            w.coordinator = None;
                            w.coordinator_error = None;
                            w.workspace_error = None;
                            return (vec![Effect::CheckCoordinator], Leave::Stay);
                        }
                        return (Vec::new(), Leave::Stay);
                    }
                    w.busy = Some(text::LOADING);
                    match choice {
                        ManifestChoice::Template => {
                            let owner_hex: Vec<String> =
                                w.owner.iter().map(|k| k.public_hex.clone()).collect();
                            let workload_hex: Vec<String> =
                                w.workload.iter().map(|k| k.public_hex.clone()).collect();
                            (
                                vec![Effect::UseTemplate {
                                    owner_hex,
                                    workload_hex,
                                }],
                                Leave::Stay,
                            )
                        }
                        ManifestChoice::File(f) => (
                            vec![Effect::LoadManifest {
                                path: PathBuf::from(f),
                            }],
                            Leave::Stay,
                        ),
                    }
                }
                other => {
                    w.list.navigate(other, choices.len());
                    (Vec::new(), Leave::Stay)
                }
            }
        }
        SetupStep::Coordinator => {
            if action == Action::Select {
                if w.coordinator_blocker().is_none() {
                    w.step = SetupStep::Confirm;
                } else if w.coordinator_error.is_some() || w.workspace_error.is_some() {
                    // Retry the check.
                    w.coordinator = None;
                    w.coordinator_error = None;
                    w.workspace_error = None;
                    return (vec![Effect::CheckCoordinator], Leave::Stay);
                }
            }
            (Vec::new(), Leave::Stay)
        }
        SetupStep::Confirm => {
            if action == Action::Select && w.outcome.is_none() {
                let hash = w
                    .manifest
                    .as_ref()
                    .and_then(|m| m.manifest.as_ref())
                    .map(|m| m.hash().to_string())
                    .unwrap_or_default();
                let address = w
                    .coordinator
                    .as_ref()
                    .map(|s| s.address.clone())
                    .unwrap_or_default();
                return (
                    Vec::new(),
                    Leave::Confirm(Popup::Typed {
                        title: text::CONFIRM_SET_TITLE.into(),
                        body: text::confirm_set_body(&hash, &address),
                        expected: text::CONFIRM_SET_WORD,
                        input: Input::default(),
                        then: Confirmed::SetManifest,
                    }),
                );
            }
            (Vec::new(), Leave::Stay)
        }
        SetupStep::Drill => {
            if action == Action::Select {
                if w.drill.is_some() {
                    return (Vec::new(), Leave::Dashboard);
                }
                if w.drill_error.is_some()
                    && let Some(owner) = &w.owner
                {
                    w.drill_error = None;
                    w.busy = Some(text::DRILLING);
                    return (
                        vec![Effect::ShareDrill {
                            owner_key: owner.name.clone(),
                        }],
                        Leave::Stay,
                    );
                }
            }
            (Vec::new(), Leave::Stay)
        }
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
                // Keep the wizard's choices in step with the store.
                let refresh = |k: &Option<KeyInfo>| {
                    k.as_ref()
                        .and_then(|k| app.keys.list.iter().find(|x| x.name == k.name).cloned())
                };
                w.owner = refresh(&w.owner);
                w.workload = refresh(&w.workload);
            }
            Vec::new()
        }
        Event::KeyAdded(result) => {
            match result {
                Ok(info) => {
                    match &mut app.screen {
                        Screen::Setup(w) => {
                            w.busy = None;
                            match info.kind {
                                KeyKind::SeedShareOwner => w.owner = Some(info.clone()),
                                KeyKind::WorkloadOwner => {
                                    w.workload = Some(info.clone());
                                    w.immutable = false;
                                }
                            }
                        }
                        Screen::Keys(k) => k.key_added(&info),
                        _ => {}
                    }
                    app.keys.list.retain(|k| k.name != info.name);
                    app.keys.list.push(info);
                }
                Err(_) => {
                    if let Screen::Setup(w) = &mut app.screen {
                        w.busy = None;
                    }
                }
            }
            vec![Effect::ListKeys]
        }
        Event::Exported(_) => Vec::new(),
        Event::Manifests(result) => {
            if let (Screen::Setup(w), Ok(files)) = (&mut app.screen, result) {
                w.manifest_files = files;
            }
            Vec::new()
        }
        Event::TemplateWritten(result) => match result {
            Ok(files) => {
                let manifest = files.first().cloned();
                if let Screen::Setup(w) = &mut app.screen {
                    if let Some(path) = &manifest
                        && let Some(name) =
                            path.file_name().map(|n| n.to_string_lossy().into_owned())
                        && !w.manifest_files.contains(&name)
                    {
                        w.manifest_files.push(name);
                        w.manifest_files.sort();
                    }
                    if let Some(path) = manifest {
                        return vec![Effect::LoadManifest { path }];
                    }
                    w.busy = None;
                }
                Vec::new()
            }
            Err(_) => {
                if let Screen::Setup(w) = &mut app.screen {
                    w.busy = None;
                }
                Vec::new()
            }
        },
        Event::ManifestLoaded(loaded) => {
            if let Screen::Setup(w) = &mut app.screen {
                w.busy = None;
                // Point the cursor at the loaded file so that Enter continues.
                if let Some(name) = loaded
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                {
                    let choices = w.manifest_choices();
                    if let Some(i) = choices
                        .iter()
                        .position(|c| *c == ManifestChoice::File(name.clone()))
                    {
                        w.list.cursor = i;
                    }
                }
                w.manifest = Some(*loaded);
            }
            Vec::new()
        }
        Event::Coordinator { status, workspace } => {
            if let Screen::Setup(w) = &mut app.screen {
                match status {
                    Ok(s) => {
                        w.coordinator = Some(*s);
                        w.coordinator_error = None;
                    }
                    Err(e) => w.coordinator_error = Some(e),
                }
                w.workspace_error = workspace.err();
            }
            Vec::new()
        }
        Event::SetDone(result) => {
            let Screen::Setup(w) = &mut app.screen else {
                return Vec::new();
            };
            w.busy = None;
            match result {
                Ok(outcome) => {
                    w.outcome = Some(outcome);
                    w.step = SetupStep::Drill;
                    let Some(owner) = &w.owner else {
                        return Vec::new();
                    };
                    w.busy = Some(text::DRILLING);
                    vec![
                        Effect::ShareDrill {
                            owner_key: owner.name.clone(),
                        },
                        Effect::Refresh,
                    ]
                }
                Err(e) => {
                    w.set_error = Some(e);
                    Vec::new()
                }
            }
        }
        Event::DrillDone(result) => {
            if let Screen::Setup(w) = &mut app.screen {
                w.busy = None;
                match result {
                    Ok(report) => w.drill = Some(report),
                    Err(e) => w.drill_error = Some(e),
                }
            }
            Vec::new()
        }
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
