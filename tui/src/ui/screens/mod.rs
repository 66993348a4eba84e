//! One module per screen. Each owns its state, its update (keys and effect results in,
//! effects out, as an [`Outcome`]) and its drawing, which only reads that state. The app
//! shell ([`crate::ui::app`]) routes to the active one.
//!
//! | module | screen |
//! |---|---|
//! | [`dashboard`] | the Coordinator's status and the owner keys; opens the others |
//! | [`setup`] | the first-time setup wizard |
//! | [`recovery`] | the recovery wizard |
//! | [`board`] | the recovery board of a threshold (k of n) deployment |
//! | [`history`] | the history audit: timeline, detail views, bundles |
//! | [`update`] | a manifest update: pick, review, sign and send |
//! | [`keys`] | the owner keys: list, generate, import, export |

pub mod board;
pub mod dashboard;
pub mod history;
pub mod keys;
pub mod recovery;
pub mod setup;
pub mod update;

use super::components::popup::Popup;
use super::effects::Effect;
use super::keymap::Context;
use super::text;
use board::RecoveryBoard;
use history::HistoryView;
use keys::KeysScreen;
use recovery::RecoveryWizard;
use setup::SetupWizard;
use update::UpdateView;

/// The active screen.
#[derive(Debug, Clone)]
pub enum Screen {
    Dashboard,
    Setup(Box<SetupWizard>),
    Recovery(Box<RecoveryWizard>),
    Board(Box<RecoveryBoard>),
    History(Box<HistoryView>),
    Update(Box<UpdateView>),
    Keys(KeysScreen),
}

impl Screen {
    pub fn title(&self) -> &'static str {
        match self {
            Screen::Dashboard => text::DASHBOARD_TITLE,
            Screen::Setup(_) => text::SETUP_TITLE,
            Screen::Recovery(_) => text::RECOVERY_TITLE,
            Screen::Board(_) => text::BOARD_TITLE,
            Screen::History(_) => text::HISTORY_TITLE,
            Screen::Update(_) => text::UPDATE_TITLE,
            Screen::Keys(_) => text::KEYS_TITLE,
        }
    }

    /// The flow the screen is, in words ("recovery"), for the quit / leave question.
    pub fn flow(&self) -> &'static str {
        match self {
            Screen::Setup(_) => text::FLOW_SETUP,
            Screen::Recovery(_) => text::FLOW_RECOVERY,
            Screen::Update(_) => text::FLOW_UPDATE,
            _ => "",
        }
    }

    /// Whether the user is typing into one of the screen's text fields.
    pub fn typing(&self) -> bool {
        match self {
            Screen::Setup(w) => w.typing(),
            Screen::Keys(k) => k.typing(),
            Screen::History(h) => h.typing(),
            Screen::Update(u) => u.typing(),
            Screen::Recovery(r) => r.typing(),
            Screen::Dashboard | Screen::Board(_) => false,
        }
    }

    /// The screen's own keymap contexts, most specific first (when not typing).
    pub fn contexts(&self) -> Vec<Context> {
        match self {
            Screen::Dashboard => dashboard::contexts(),
            Screen::Setup(w) => w.contexts(),
            Screen::Recovery(r) => r.contexts(),
            Screen::Board(b) => b.contexts(),
            Screen::History(h) => h.contexts(),
            Screen::Update(u) => u.contexts(),
            Screen::Keys(k) => k.contexts(),
        }
    }

    /// Whether the screen is a wizard with a scrolling pane (PgUp/PgDn page through it).
    pub fn has_pane(&self) -> bool {
        matches!(
            self,
            Screen::Setup(_) | Screen::Recovery(_) | Screen::Update(_)
        )
    }

    /// Whether leaving now would abandon a ceremony (so quitting asks first).
    pub fn in_ceremony(&self) -> bool {
        match self {
            Screen::Setup(w) => w.in_ceremony(),
            Screen::Recovery(r) => r.in_ceremony(),
            Screen::Update(u) => u.in_ceremony(),
            _ => false,
        }
    }

    /// Which pane is shown: the screen and its step. The wizard pane's scrolling starts over
    /// when it changes.
    pub fn pane_key(&self) -> (u8, usize) {
        match self {
            Screen::Dashboard => (0, 0),
            Screen::Setup(w) => (1, w.step.index()),
            Screen::Recovery(r) => (2, r.step.index()),
            Screen::History(_) => (3, 0),
            Screen::Update(u) => (4, u.step as usize),
            Screen::Keys(_) => (5, 0),
            Screen::Board(_) => (6, 0),
        }
    }
}

/// What a screen's update asks of the app shell: effects to run, and possibly a popup to
/// open or another screen to show.
#[derive(Debug, Default)]
pub struct Outcome {
    pub effects: Vec<Effect>,
    /// A popup for the one slot (a notice, a typed confirmation).
    pub popup: Option<Popup>,
    /// The screen to show next (the dashboard, when this one is left).
    pub next: Option<Screen>,
    /// The status refresh among `effects` counts as in flight: the periodic refresh waits
    /// for its result.
    pub refreshing: bool,
}

impl Outcome {
    /// Nothing to do beyond the screen's own state.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn effect(effect: Effect) -> Self {
        Self::effects(vec![effect])
    }

    pub fn effects(effects: Vec<Effect>) -> Self {
        Self {
            effects,
            ..Self::default()
        }
    }

    pub fn popup(popup: Popup) -> Self {
        Self {
            popup: Some(popup),
            ..Self::default()
        }
    }

    /// Show `screen` next.
    pub fn open(screen: Screen) -> Self {
        Self {
            next: Some(screen),
            ..Self::default()
        }
    }

    /// Back to the dashboard.
    pub fn leave() -> Self {
        Self::open(Screen::Dashboard)
    }

    /// Also run `effect`.
    pub fn and(mut self, effect: Effect) -> Self {
        self.effects.push(effect);
        self
    }

    /// Also refresh the status, marked in flight.
    pub fn and_refresh(mut self) -> Self {
        self.effects.push(Effect::Refresh);
        self.refreshing = true;
        self
    }
}
