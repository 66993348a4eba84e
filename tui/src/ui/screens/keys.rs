//! The owner keys screen: every key of the store, filtered with `/`; generate (`g`), import
//! from a PEM file (`i`), export the selected key's public half (`e`).

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::Outcome;
use crate::keystore::{KeyInfo, KeyKind};
use crate::ui::components::input::{Edit, Input};
use crate::ui::components::list::{ListState, choice_lines};
use crate::ui::components::{block, kind_word, truncate};
use crate::ui::effects::Effect;
use crate::ui::keymap::{Action, Context};
use crate::ui::shared::{KeysState, default_name};
use crate::ui::text;
use crate::ui::theme::Theme;

#[derive(Debug, Clone, Default)]
pub struct KeysScreen {
    pub list: ListState,
    /// Typing the path of a PEM file to import, for a key of this kind.
    pub import: Option<(KeyKind, Input)>,
    /// Choosing which kind to generate or import: (is import, cursor).
    pub choose_kind: Option<(bool, usize)>,
    pub notice: Option<String>,
}

impl KeysScreen {
    /// The keys the filter lets through.
    pub fn visible<'k>(&self, keys: &'k KeysState) -> Vec<&'k KeyInfo> {
        keys.list
            .iter()
            .filter(|k| {
                self.list
                    .matches(&format!("{} {} {}", k.name, k.fingerprint, k.public_hex))
            })
            .collect()
    }

    pub fn typing(&self) -> bool {
        self.import.is_some() || self.list.filtering
    }

    pub fn contexts(&self) -> Vec<Context> {
        if self.choose_kind.is_some() {
            vec![Context::Setup]
        } else {
            vec![Context::Keys, Context::List]
        }
    }

    /// Applies a key's action.
    pub fn update(&mut self, action: Action, keys: &KeysState) -> Outcome {
        if self.list.type_filter(action) {
            return Outcome::none();
        }
        if let Some((kind, input)) = self.import.as_mut() {
            match input.edit(action) {
                Edit::Typing => {}
                Edit::Cancel => self.import = None,
                Edit::Submit => {
                    let kind = *kind;
                    let path = PathBuf::from(input.value.trim());
                    self.import = None;
                    let name = keys.free_name(default_name(kind));
                    return Outcome::effect(Effect::ImportKey { kind, name, path });
                }
            }
            return Outcome::none();
        }
        if self.choose_kind.is_some() {
            return self.choose_kind(action, keys);
        }
        let len = self.visible(keys).len();
        match action {
            Action::Back if self.list.filter.is_some() => self.list.filter = None,
            Action::Generate => self.choose_kind = Some((false, 0)),
            Action::Import => self.choose_kind = Some((true, 0)),
            Action::ExportPublic => {
                if let Some(key) = self.visible(keys).get(self.list.cursor) {
                    return Outcome::effect(Effect::ExportPublic {
                        name: key.name.clone(),
                    });
                }
            }
            other => self.list.navigate(other, len),
        }
        Outcome::none()
    }

    /// Keys while choosing which kind of key to generate or import.
    fn choose_kind(&mut self, action: Action, keys: &KeysState) -> Outcome {
        let Some((import, cursor)) = self.choose_kind.as_mut() else {
            return Outcome::none();
        };
        match action {
            Action::Up | Action::Down => *cursor = 1 - (*cursor).min(1),
            Action::Back => self.choose_kind = None,
            Action::Select => {
                let kind = if *cursor == 0 {
                    KeyKind::SeedShareOwner
                } else {
                    KeyKind::WorkloadOwner
                };
                let import = *import;
                self.choose_kind = None;
                if import {
                    self.import = Some((kind, Input::default()));
                } else {
                    let name = keys.free_name(default_name(kind));
                    return Outcome::effect(Effect::GenerateKey { kind, name });
                }
            }
            _ => {}
        }
        Outcome::none()
    }

    /// A key was generated or imported.
    pub fn key_added(&mut self, info: &KeyInfo) {
        self.notice = Some(text::key_added(&info.name, &info.fingerprint));
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, keys: &KeysState, theme: Theme) {
        let mut lines: Vec<Line> = Vec::new();
        lines.push(Line::raw(text::keystore_line(&keys.backend)));
        if let Some(w) = &keys.warning {
            lines.push(Line::styled(text::keyring_warning_line(w), theme.warn()));
        }
        if let Some(e) = &keys.error {
            lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
        }
        lines.push(Line::raw(""));
        let [n, kd, b, f] = text::KEYS_COLUMNS;
        lines.push(Line::styled(
            format!("  {n:<18} {kd:<9} {b:<9} {f}"),
            theme.bold(),
        ));
        let visible = self.visible(keys);
        if visible.is_empty() {
            lines.push(Line::raw(text::NO_KEYS));
        }
        for (i, key) in visible.iter().enumerate() {
            let row = format!(
                "  {:<18} {:<9} {:<9} {}",
                truncate(&key.name, 18),
                key.kind.as_str(),
                key.backend.as_str(),
                key.fingerprint
            );
            lines.push(if i == self.list.cursor {
                Line::styled(row, theme.selected())
            } else {
                Line::raw(row)
            });
        }
        lines.extend(self.list.filter_line(visible.len(), theme));
        if let Some((import, cursor)) = &self.choose_kind {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                if *import {
                    text::KEYS_CHOOSE_KIND_IMPORT
                } else {
                    text::KEYS_CHOOSE_KIND_GENERATE
                },
                theme.bold(),
            ));
            let items = vec![
                KeyKind::SeedShareOwner.describe().to_string(),
                KeyKind::WorkloadOwner.describe().to_string(),
            ];
            lines.extend(choice_lines(&items, *cursor, theme));
        }
        if let Some((kind, input)) = &self.import {
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                format!("{} — {}", kind_word(*kind), text::IMPORT_PROMPT),
                theme.bold(),
            ));
            lines.push(input.prompt_line(theme));
        }
        if let Some(n) = &self.notice {
            lines.push(Line::raw(""));
            lines.push(Line::styled(n.clone(), theme.ok()));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .block(block(text::KEYS_TITLE))
                .wrap(Wrap { trim: false }),
            area,
        );
    }
}
