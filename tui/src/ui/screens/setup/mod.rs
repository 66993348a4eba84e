//! The first-time setup wizard: choose (or create) the owner keys, choose the manifest (or
//! write the template), choose how many owners must come together to recover (only when the
//! manifest lists several owners and leaves `SeedshareOwnerThreshold` out), check the Coordinator, confirm by typing `set`, and a share drill
//! that proves the new seed share decrypts and matches. `update.rs` holds the keys of each
//! step, `render.rs` the pane of each step.

mod render;
mod update;

use std::path::PathBuf;

use super::Outcome;
use crate::keystore::{KeyInfo, KeyKind};
use crate::ops::{CoordinatorState, DrillReport, SetupOutcome, StatusView};
use crate::ui::components::input::Input;
use crate::ui::components::list::ListState;
use crate::ui::effects::{Effect, Event, LoadedManifest};
use crate::ui::keymap::Context;
use crate::ui::shared::KeysState;
use crate::ui::text;
use seedward_shared::manifest::Manifest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStep {
    Keys,
    Manifest,
    /// k of n: asked only when the manifest leaves it open (see [`SetupWizard::asks_threshold`]).
    Threshold,
    Coordinator,
    Confirm,
    Drill,
}

impl SetupStep {
    /// Every step in order; a ceremony goes through [`SetupWizard::steps`].
    pub const ALL: [SetupStep; 6] = [
        SetupStep::Keys,
        SetupStep::Manifest,
        SetupStep::Threshold,
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
    /// The k chosen on the threshold step (`None`: not asked, or not yet chosen).
    pub threshold: Option<usize>,
    /// The loaded manifest with the chosen k ≥ 2 written in: what is set instead of it.
    pub with_threshold: Option<Manifest>,
    /// Why the chosen k could not be written into the manifest.
    pub threshold_error: Option<String>,
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
            threshold: None,
            with_threshold: None,
            threshold_error: None,
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

    /// Whether the wizard asks for k: the loaded manifest lists n ≥ 2 seed share owners and
    /// has no `SeedshareOwnerThreshold` (a manifest that sets it is shown, not asked; with
    /// one owner there is nothing to choose).
    pub fn asks_threshold(&self) -> bool {
        self.manifest
            .as_ref()
            .and_then(|l| l.manifest.as_ref())
            .is_some_and(|m| {
                m.seedshare_owner_pub_keys().len() >= 2 && !m.has_seedshare_owner_threshold()
            })
    }

    /// The steps of this ceremony: every step, less the threshold step when it is not asked.
    pub fn steps(&self) -> Vec<SetupStep> {
        let asks = self.asks_threshold();
        SetupStep::ALL
            .into_iter()
            .filter(|s| *s != SetupStep::Threshold || asks)
            .collect()
    }

    /// The step before the current one in this ceremony.
    pub fn prev_step(&self) -> Option<SetupStep> {
        let steps = self.steps();
        let i = steps.iter().position(|s| *s == self.step)?;
        i.checked_sub(1).and_then(|i| steps.get(i).copied())
    }

    /// The k offered on the threshold step (1..=n), narrowed by the list's filter.
    pub fn threshold_choices(&self) -> Vec<usize> {
        let owners = self.owner_count();
        (1..=owners)
            .filter(|k| self.list.matches(&text::threshold_choice(*k, owners)))
            .collect()
    }

    /// The number of owners the loaded manifest lists.
    pub fn owner_count(&self) -> usize {
        self.manifest
            .as_ref()
            .and_then(|l| l.manifest.as_ref())
            .map_or(0, |m| m.seedshare_owner_pub_keys().len())
    }

    /// The manifest that the set sends: the loaded one, or it with the chosen k written in.
    pub fn manifest_to_set(&self) -> Option<&Manifest> {
        self.with_threshold
            .as_ref()
            .or_else(|| self.manifest.as_ref().and_then(|l| l.manifest.as_ref()))
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

impl SetupWizard {
    pub fn typing(&self) -> bool {
        self.import.is_some() || self.list.filtering
    }

    pub fn contexts(&self) -> Vec<Context> {
        match self.step {
            SetupStep::Keys | SetupStep::Manifest | SetupStep::Threshold => {
                vec![Context::Setup, Context::List]
            }
            _ => vec![Context::Setup],
        }
    }

    /// `set` (or `unattested`) was typed: set the first manifest.
    pub fn confirmed(&mut self, allow_unattested: bool) -> Vec<Effect> {
        let Some(loaded) = &self.manifest else {
            return Vec::new();
        };
        let Some(manifest) = self.manifest_to_set() else {
            return Vec::new();
        };
        let effect = Effect::SetFirstManifest {
            manifest: Box::new(manifest.clone()),
            policies: loaded.policies.clone(),
            allow_unattested,
        };
        self.busy = Some(text::SETTING);
        self.set_error = None;
        vec![effect]
    }

    /// The key store was listed again: keep the chosen keys in step with it.
    pub fn keys_listed(&mut self, keys: &KeysState) {
        let refresh = |k: &Option<KeyInfo>| {
            k.as_ref()
                .and_then(|k| keys.list.iter().find(|x| x.name == k.name).cloned())
        };
        self.owner = refresh(&self.owner);
        self.workload = refresh(&self.workload);
    }

    /// A key was generated or imported (`Some`), or that failed (`None`; the shell shows
    /// why): a new key is chosen for its role.
    pub fn key_added(&mut self, info: Option<&KeyInfo>) {
        self.busy = None;
        match info.map(|i| (i.kind, i)) {
            Some((KeyKind::SeedShareOwner, info)) => self.owner = Some(info.clone()),
            Some((KeyKind::WorkloadOwner, info)) => {
                self.workload = Some(info.clone());
                self.immutable = false;
            }
            None => {}
        }
    }

    /// Applies an effect's result; gives back the events this screen does not handle.
    pub fn on_event(&mut self, event: Event) -> Result<Outcome, Event> {
        Ok(match event {
            Event::Manifests(Ok(files)) => {
                self.manifest_files = files;
                Outcome::none()
            }
            Event::TemplateWritten(result) => self.template_written(result),
            Event::ManifestLoaded(loaded) => {
                self.manifest_loaded(*loaded);
                Outcome::none()
            }
            Event::Coordinator { status, workspace } => {
                match status {
                    Ok(s) => {
                        self.coordinator = Some(*s);
                        self.coordinator_error = None;
                    }
                    Err(e) => self.coordinator_error = Some(e),
                }
                self.workspace_error = workspace.err();
                Outcome::none()
            }
            Event::SetDone(result) => self.set_done(result),
            Event::DrillDone(result) => {
                self.busy = None;
                match result {
                    Ok(report) => self.drill = Some(*report),
                    Err(e) => self.drill_error = Some(e),
                }
                Outcome::none()
            }
            other => return Err(other),
        })
    }

    /// The template was written (its manifest first): list it, and load it.
    fn template_written(&mut self, result: Result<Vec<PathBuf>, String>) -> Outcome {
        let Ok(files) = result else {
            self.busy = None;
            return Outcome::none();
        };
        let manifest = files.first().cloned();
        if let Some(path) = &manifest
            && let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned())
            && !self.manifest_files.contains(&name)
        {
            self.manifest_files.push(name);
            self.manifest_files.sort();
        }
        match manifest {
            Some(path) => Outcome::effect(Effect::LoadManifest { path }),
            None => {
                self.busy = None;
                Outcome::none()
            }
        }
    }

    fn manifest_loaded(&mut self, loaded: LoadedManifest) {
        self.busy = None;
        // Point the cursor at the loaded file so that Enter continues.
        if let Some(name) = loaded
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        {
            let choices = self.manifest_choices();
            if let Some(i) = choices
                .iter()
                .position(|c| *c == ManifestChoice::File(name.clone()))
            {
                self.list.cursor = i;
            }
        }
        self.manifest = Some(loaded);
        // A new manifest: its k is asked again (or read from it).
        self.threshold = None;
        self.with_threshold = None;
        self.threshold_error = None;
    }

    /// The first manifest is set: on to the drill, with the owner key chosen at step 1.
    fn set_done(&mut self, result: Result<SetupOutcome, String>) -> Outcome {
        self.busy = None;
        match result {
            Ok(outcome) => {
                self.outcome = Some(outcome);
                self.step = SetupStep::Drill;
                let Some(owner) = &self.owner else {
                    return Outcome::none();
                };
                let owner_key = owner.name.clone();
                self.busy = Some(text::DRILLING);
                Outcome::effect(Effect::ShareDrill { owner_key }).and(Effect::Refresh)
            }
            Err(e) => {
                self.set_error = Some(e);
                Outcome::none()
            }
        }
    }
}
