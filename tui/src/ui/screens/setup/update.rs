//! The setup wizard's keys: the import field, Esc (back a step, never back past the set),
//! and Enter on each step.

use std::path::PathBuf;

use super::{KeyChoice, ManifestChoice, SetupStep, SetupWizard};
use crate::keystore::KeyKind;
use crate::ui::components::input::{Edit, Input};
use crate::ui::components::list::ListState;
use crate::ui::components::popup::{Confirmed, Popup};
use crate::ui::effects::Effect;
use crate::ui::keymap::Action;
use crate::ui::screens::Outcome;
use crate::ui::shared::{KeysState, default_name};
use crate::ui::text;

impl SetupWizard {
    /// Applies a key's action. While something runs only Esc does anything.
    pub fn update(&mut self, action: Action, keys: &KeysState) -> Outcome {
        if self.list.type_filter(action) {
            return Outcome::none();
        }
        if self.import.is_some() {
            return self.type_import_path(action, keys);
        }
        if action == Action::Back {
            return self.back();
        }
        if self.busy.is_some() {
            return Outcome::none();
        }
        match self.step {
            SetupStep::Keys => self.keys_step(action, keys),
            SetupStep::Manifest => self.manifest_step(action),
            SetupStep::Threshold => self.threshold_step(action),
            SetupStep::Coordinator if action == Action::Select => self.coordinator_step(),
            SetupStep::Confirm if action == Action::Select => self.confirm_step(),
            SetupStep::Drill if action == Action::Select => self.drill_step(),
            SetupStep::Coordinator | SetupStep::Confirm | SetupStep::Drill => Outcome::none(),
        }
    }

    /// Keys while typing the path of a PEM file; Enter imports it.
    fn type_import_path(&mut self, action: Action, keys: &KeysState) -> Outcome {
        let Some((kind, input)) = self.import.as_mut() else {
            return Outcome::none();
        };
        match input.edit(action) {
            Edit::Typing => Outcome::none(),
            Edit::Cancel => {
                self.import = None;
                Outcome::none()
            }
            Edit::Submit => {
                let kind = *kind;
                let path = PathBuf::from(input.value.trim());
                self.import = None;
                self.busy = Some(text::IMPORTING);
                let name = keys.free_name(default_name(kind));
                Outcome::effect(Effect::ImportKey { kind, name, path })
            }
        }
    }

    /// Esc: clears the filter, else goes back a step (or leaves from the first). After the
    /// set there is no way back: the manifest is on the Coordinator; once the drill passed,
    /// Esc leaves.
    fn back(&mut self) -> Outcome {
        if self.list.filter.is_some() {
            self.list.filter = None;
            return Outcome::none();
        }
        if self.outcome.is_some() {
            return if self.drill.is_some() {
                leave()
            } else {
                Outcome::none()
            };
        }
        self.busy = None;
        match self.prev_step() {
            Some(prev) => {
                self.step = prev;
                self.list = ListState::default();
                if prev == SetupStep::Threshold {
                    self.list.cursor = self.threshold.unwrap_or(1).saturating_sub(1);
                }
                Outcome::none()
            }
            // Nothing is lost by leaving before the set (keys stay in the key store).
            None => leave(),
        }
    }

    /// Step 1: move through the choices; Enter uses, generates or imports a key, toggles
    /// "immutable", or continues once both roles are settled.
    fn keys_step(&mut self, action: Action, keys: &KeysState) -> Outcome {
        let choices = self.key_choices(keys);
        if action != Action::Select {
            self.list.navigate(action, choices.len());
            return Outcome::none();
        }
        let Some(choice) = choices.get(self.list.cursor).cloned() else {
            return Outcome::none();
        };
        match choice {
            KeyChoice::Use(kind, name) => {
                let info = keys.list.iter().find(|k| k.name == name).cloned();
                match kind {
                    KeyKind::SeedShareOwner => self.owner = info,
                    KeyKind::WorkloadOwner => {
                        self.workload = info;
                        self.immutable = false;
                    }
                }
            }
            KeyChoice::Generate(kind) => {
                self.busy = Some(text::GENERATING);
                let name = keys.free_name(default_name(kind));
                return Outcome::effect(Effect::GenerateKey { kind, name });
            }
            KeyChoice::Import(kind) => self.import = Some((kind, Input::default())),
            KeyChoice::Immutable => {
                self.immutable = !self.immutable;
                if self.immutable {
                    self.workload = None;
                }
            }
            KeyChoice::Continue if self.keys_done() => {
                self.step = SetupStep::Manifest;
                self.list = ListState::default();
                return Outcome::effect(Effect::ListManifests);
            }
            KeyChoice::Continue => {}
        }
        Outcome::none()
    }

    /// Step 2: move through the manifests; Enter loads one (or writes the template), and
    /// Enter on the loaded one again continues if it is usable.
    fn manifest_step(&mut self, action: Action) -> Outcome {
        let choices = self.manifest_choices();
        if action != Action::Select {
            self.list.navigate(action, choices.len());
            return Outcome::none();
        }
        let Some(choice) = choices.get(self.list.cursor).cloned() else {
            return Outcome::none();
        };
        let already = match (&choice, &self.manifest) {
            (ManifestChoice::File(f), Some(m)) => {
                m.path.file_name() == PathBuf::from(f).file_name()
            }
            _ => false,
        };
        if already {
            if self.manifest_blocker().is_some() {
                return Outcome::none();
            }
            if self.asks_threshold() {
                self.step = SetupStep::Threshold;
                self.list = ListState::default();
                // Default 1 (each owner holds the whole seed), or the k chosen before.
                self.list.cursor = self.threshold.unwrap_or(1).saturating_sub(1);
                return Outcome::none();
            }
            self.step = SetupStep::Coordinator;
            return self.check_coordinator();
        }
        self.busy = Some(text::LOADING);
        Outcome::effect(match choice {
            ManifestChoice::Template => Effect::UseTemplate {
                owner_hex: self.owner.iter().map(|k| k.public_hex.clone()).collect(),
                workload_hex: self.workload.iter().map(|k| k.public_hex.clone()).collect(),
            },
            ManifestChoice::File(f) => Effect::LoadManifest {
                path: PathBuf::from(f),
            },
        })
    }

    /// The threshold step: move through k = 1..=n (`/` filters them, as in every list);
    /// Enter writes the chosen k into the manifest to set (k = 1 leaves it as loaded: absent
    /// means 1) and goes on to the Coordinator.
    fn threshold_step(&mut self, action: Action) -> Outcome {
        let choices = self.threshold_choices();
        if action != Action::Select {
            self.list.navigate(action, choices.len());
            return Outcome::none();
        }
        let Some(&k) = choices.get(self.list.cursor) else {
            return Outcome::none();
        };
        self.threshold_error = None;
        if k == 1 {
            self.with_threshold = None;
        } else {
            let Some(manifest) = self.manifest.as_ref().and_then(|l| l.manifest.as_ref()) else {
                return Outcome::none();
            };
            match manifest.with_seedshare_owner_threshold(k as u64) {
                Ok(m) => self.with_threshold = Some(m),
                Err(e) => {
                    self.threshold_error = Some(e.to_string());
                    return Outcome::none();
                }
            }
        }
        self.threshold = Some(k);
        self.step = SetupStep::Coordinator;
        self.list = ListState::default();
        self.check_coordinator()
    }

    /// Step 3, Enter: continues once the Coordinator can be set up; after a failed check,
    /// checks again.
    fn coordinator_step(&mut self) -> Outcome {
        if self.coordinator_blocker().is_none() {
            self.step = SetupStep::Confirm;
        } else if self.coordinator_error.is_some() || self.workspace_error.is_some() {
            return self.check_coordinator();
        }
        Outcome::none()
    }

    /// Forgets the last check of the Coordinator and starts another.
    fn check_coordinator(&mut self) -> Outcome {
        self.coordinator = None;
        self.coordinator_error = None;
        self.workspace_error = None;
        Outcome::effect(Effect::CheckCoordinator)
    }

    /// Step 4, Enter: the typed confirmation (once; not after the set).
    fn confirm_step(&self) -> Outcome {
        if self.outcome.is_some() {
            return Outcome::none();
        }
        let hash = self
            .manifest_to_set()
            .map(|m| m.hash().to_string())
            .unwrap_or_default();
        let address = self
            .coordinator
            .as_ref()
            .map(|s| s.address.clone())
            .unwrap_or_default();
        let unattested = !self
            .coordinator
            .as_ref()
            .and_then(|s| s.evidence.as_ref())
            .is_some_and(|e| e.attested());
        Outcome::popup(Popup::typed(
            text::CONFIRM_SET_TITLE,
            text::confirm_set_body(&hash, &address, unattested),
            text::confirm_word(unattested, text::CONFIRM_SET_WORD),
            Confirmed::SetManifest { unattested },
        ))
    }

    /// Step 5, Enter: leaves once the drill passed; after a failed drill, drills again.
    fn drill_step(&mut self) -> Outcome {
        if self.drill.is_some() {
            return leave();
        }
        if self.drill_error.is_some()
            && let Some(owner) = &self.owner
        {
            let owner_key = owner.name.clone();
            self.drill_error = None;
            self.busy = Some(text::DRILLING);
            return Outcome::effect(Effect::ShareDrill { owner_key });
        }
        Outcome::none()
    }
}

/// Leaving the wizard refreshes the status and the key list for the dashboard.
fn leave() -> Outcome {
    Outcome::leave().and_refresh().and(Effect::ListKeys)
}
