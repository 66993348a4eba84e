//! Drawing. Everything here only *reads* the [`App`]; nothing changes state or does I/O.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::app::{App, KeyChoice, Location, ManifestChoice, SetupStep, SetupWizard};
use super::components::coordinator::{coordinator_lines, evidence_spans};
use super::components::list::choice_lines;
use super::components::manifest::{manifest_lines, validity_lines};
use super::components::scroll_pane::{PaneScroll, ScrollPane};
use super::components::steps::{split_steps, step_list};
use super::components::{busy_line, kind_word, label, truncate};
use super::effects::LoadedManifest;
use super::keymap::{self, Context};
use super::screens::{Screen, dashboard};
use super::shared::Health;
use super::text;
use super::theme::Theme;
use crate::keystore::KeyKind;

/// Smallest terminal the UI lays out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole UI. The app is only read; the one thing written back is the wizard pane's
/// [`PaneScroll`], which the pane widget clamps to its content and measures, so that paging
/// in `update` needs no layout.
pub fn render(app: &mut App, frame: &mut Frame) {
    let mut pane = app.pane;
    draw(app, frame, &mut pane);
    app.pane = pane;
}

fn draw(app: &App, frame: &mut Frame, pane: &mut PaneScroll) {
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
    match &app.screen {
        Screen::Dashboard => dashboard::render(frame, body, &app.health, &app.keys, theme),
        Screen::Setup(w) => setup(app, w, frame, body, theme, pane),
        Screen::Recovery(r) => r.render(frame, body, &app.keys, theme, pane),
        Screen::History(h) => h.render(frame, body, theme),
        Screen::Update(u) => u.render(frame, body, &app.keys, theme, pane),
        Screen::Keys(k) => k.render(frame, body, &app.keys, theme),
    }
    status_bar(app, frame, status, theme);
    footer_bar(app, frame, footer, theme);
    if let Some(popup) = &app.popup {
        popup.render(frame, area, theme);
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
    let right =
        Line::from(vec![Span::styled("?", theme.key()), Span::raw(" help ")]).right_aligned();
    frame.render_widget(Paragraph::new(right), area);
}

fn status_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let location = match &app.location {
        Location::Local { address, state_dir } => {
            text::local_location(address, &state_dir.display().to_string())
        }
        Location::Remote { address } => text::remote_location(address),
    };
    let (health, style) = match &app.health {
        Health::Connecting => (text::HEALTH_CONNECTING.to_string(), theme.dim()),
        Health::Ok { latency_ms, .. } => (text::health_ok(*latency_ms), theme.ok()),
        Health::Failed { .. } => ("✗ unreachable".to_string(), theme.bad()),
    };
    let width = area.width as usize;
    let health_len = health.chars().count() + 1;
    let location = truncate(&location, width.saturating_sub(health_len + 1));
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

fn footer_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut spans = Vec::new();
    let mut used = 0usize;
    for (keys, hint) in keymap::hints(&app.contexts()) {
        let len = keys.chars().count() + hint.chars().count() + 3;
        if used + len > area.width as usize {
            break;
        }
        used += len;
        spans.push(Span::styled(keys, theme.key()));
        spans.push(Span::raw(format!(" {hint}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

// ----------------------------------------------------------------------------------------
// Dashboard
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Step lists
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Setup wizard
// ----------------------------------------------------------------------------------------

fn setup(
    app: &App,
    w: &SetupWizard,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
    pane: &mut PaneScroll,
) {
    let (left, right) = split_steps(area);
    let rows = SetupStep::ALL
        .iter()
        .map(|s| {
            let (mark, style) =
                if s.index() < w.step.index() || (*s == SetupStep::Drill && w.drill.is_some()) {
                    ("✓", theme.ok())
                } else if *s == w.step {
                    ("▶", theme.bold().add_modifier(Modifier::REVERSED))
                } else {
                    (" ", theme.dim())
                };
            (s.title().to_string(), mark, style)
        })
        .collect();
    step_list(frame, left, text::SETUP_TITLE, rows);
    let (title, lines) = setup_pane(app, w, right, theme);
    frame.render_stateful_widget(
        ScrollPane::new(&title, lines, Context::Setup, theme),
        right,
        pane,
    );
}

fn setup_pane(
    app: &App,
    w: &SetupWizard,
    right: Rect,
    theme: Theme,
) -> (String, Vec<Line<'static>>) {
    let width = right.width.saturating_sub(2) as usize;
    let lines = match w.step {
        SetupStep::Keys => setup_keys(app, w, theme),
        SetupStep::Manifest => setup_manifest(w, theme, width),
        SetupStep::Coordinator => setup_coordinator(w, theme, width),
        SetupStep::Confirm => setup_confirm(w, theme),
        SetupStep::Drill => setup_drill(w, theme),
    };
    let title = format!(
        "{}/{} {}",
        w.step.index() + 1,
        SetupStep::ALL.len(),
        w.step.title()
    );
    (title, lines)
}

fn setup_keys(app: &App, w: &SetupWizard, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::raw(text::KEYS_STEP_INTRO), Line::raw("")];
    let chosen = |k: &Option<crate::keystore::KeyInfo>| match k {
        Some(k) => Span::styled(
            format!("✓ {} ({}, {})", k.name, k.fingerprint, k.backend.as_str()),
            theme.ok(),
        ),
        None => Span::styled(text::NOT_CHOSEN, theme.bad()),
    };
    lines.push(Line::from(vec![Span::styled(
        format!("{}: ", text::OWNER_KEY_LABEL),
        theme.bold(),
    )]));
    lines.push(Line::from(vec![Span::raw("  "), chosen(&w.owner)]));
    lines.push(Line::from(vec![Span::styled(
        format!("{}: ", text::WORKLOAD_KEY_LABEL),
        theme.bold(),
    )]));
    if w.immutable {
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(text::IMMUTABLE_CHOSEN, theme.warn()),
        ]));
        lines.push(Line::styled(text::IMMUTABLE_WARNING, theme.warn()));
    } else {
        lines.push(Line::from(vec![Span::raw("  "), chosen(&w.workload)]));
    }
    if let Some(warning) = &app.keys.warning {
        lines.push(Line::styled(format!("⚠ {warning}"), theme.warn()));
    }
    lines.push(Line::raw(""));
    let items: Vec<String> = w
        .key_choices(&app.keys)
        .iter()
        .map(|c| match c {
            KeyChoice::Use(kind, name) => {
                let fp = app
                    .keys
                    .list
                    .iter()
                    .find(|k| &k.name == name)
                    .map(|k| k.fingerprint.clone())
                    .unwrap_or_default();
                let used = match kind {
                    KeyKind::SeedShareOwner => w.owner.as_ref().is_some_and(|o| &o.name == name),
                    KeyKind::WorkloadOwner => w.workload.as_ref().is_some_and(|o| &o.name == name),
                };
                let text = text::choice_use(name, &fp);
                if used { format!("✓ {text}") } else { text }
            }
            KeyChoice::Generate(kind) => text::choice_generate(kind_word(*kind)),
            KeyChoice::Import(kind) => text::choice_import(kind_word(*kind)),
            KeyChoice::Immutable if w.immutable => text::CHOICE_IMMUTABLE_ON.into(),
            KeyChoice::Immutable => text::CHOICE_IMMUTABLE_OFF.into(),
            KeyChoice::Continue if w.keys_done() => text::CHOICE_CONTINUE.into(),
            KeyChoice::Continue => text::CHOICE_CONTINUE_BLOCKED.into(),
        })
        .collect();
    lines.extend(choice_lines(&items, w.list.cursor, theme));
    if let Some((kind, input)) = &w.import {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{} — {}", kind_word(*kind), text::IMPORT_PROMPT),
            theme.bold(),
        ));
        lines.push(Line::from(vec![
            Span::raw("> "),
            Span::raw(input.shown()),
            Span::styled("█", theme.key()),
        ]));
    }
    lines.extend(busy_line(w.busy, theme));
    lines
}

fn setup_manifest(w: &SetupWizard, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let items: Vec<String> = w
        .manifest_choices()
        .iter()
        .map(|c| match c {
            ManifestChoice::Template => text::CHOICE_TEMPLATE.to_string(),
            ManifestChoice::File(f) => {
                let loaded = w
                    .manifest
                    .as_ref()
                    .is_some_and(|m| m.path.file_name().is_some_and(|n| n == f.as_str()));
                if loaded {
                    format!("{f}  (chosen)")
                } else {
                    f.clone()
                }
            }
        })
        .collect();
    let mut lines = choice_lines(&items, w.list.cursor, theme);
    lines.extend(w.list.filter_line(theme));
    lines.extend(busy_line(w.busy, theme));
    lines.push(Line::raw(""));
    match &w.manifest {
        None => lines.push(Line::raw(text::MANIFEST_NONE)),
        Some(loaded) => {
            let owner = w.owner.as_ref().map(|k| k.public_hex.as_str());
            let workload = w.workload.as_ref().map(|k| k.public_hex.as_str());
            lines.extend(manifest_report(loaded, owner, workload, theme, width));
            match w.manifest_blocker() {
                Some(b) => lines.push(Line::styled(format!("✗ {b}"), theme.bad())),
                None => lines.push(Line::styled(text::MANIFEST_ENTER_AGAIN, theme.bold())),
            }
        }
    }
    lines
}

/// Validation result, then the manifest structured.
fn manifest_report(
    loaded: &LoadedManifest,
    owner_hex: Option<&str>,
    workload_hex: Option<&str>,
    theme: Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = validity_lines(loaded, theme);
    if loaded.parse_error.is_none()
        && let Some(m) = &loaded.manifest
    {
        lines.extend(manifest_lines(m, owner_hex, workload_hex, theme, width));
    }
    lines
}

fn setup_coordinator(w: &SetupWizard, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![Line::raw(text::COORDINATOR_INTRO), Line::raw("")];
    if let Some(s) = &w.coordinator {
        lines.extend(coordinator_lines(s, theme, width));
        lines.push(Line::raw(""));
    }
    match w.coordinator_blocker() {
        None => lines.push(Line::styled(text::COORDINATOR_OK, theme.ok())),
        Some(b)
            if w.coordinator.is_none()
                && w.coordinator_error.is_none()
                && w.workspace_error.is_none() =>
        {
            lines.push(Line::styled(b, theme.warn()))
        }
        Some(b) => {
            lines.push(Line::styled(format!("✗ {b}"), theme.bad()));
            if w.coordinator_error.is_some() || w.workspace_error.is_some() {
                lines.push(Line::raw(text::RETRY_HINT));
            }
        }
    }
    lines
}

fn setup_confirm(w: &SetupWizard, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(m) = w.manifest.as_ref().and_then(|l| l.manifest.as_ref()) {
        let file = w
            .manifest
            .as_ref()
            .and_then(|l| l.path.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        lines.push(Line::from(vec![label("Manifest", theme), Span::raw(file)]));
        lines.push(Line::from(vec![
            label("Hash", theme),
            Span::raw(m.hash().short() + "…"),
        ]));
        lines.push(Line::from(vec![
            label("Contents", theme),
            Span::raw(format!(
                "{} policies, {} seed share owner(s), {} workload owner(s)",
                m.policies().len(),
                m.seedshare_owner_pub_keys().len(),
                m.workload_owner_pub_keys().len()
            )),
        ]));
    }
    if let Some(s) = &w.coordinator {
        lines.push(Line::from(vec![
            label("Coordinator", theme),
            Span::raw(s.address.clone()),
        ]));
        lines.push(Line::from({
            let mut spans = vec![label(text::LABEL_EVIDENCE, theme)];
            spans.extend(evidence_spans(s.evidence.as_ref(), theme));
            spans
        }));
    }
    if let Some(o) = &w.owner {
        lines.push(Line::from(vec![
            label("Your share", theme),
            Span::raw(format!("for '{}' ({})", o.name, o.fingerprint)),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(text::WILL_WRITE, theme.bold()));
    for f in [
        "seed-shares.json (0600, never overwritten)",
        "coordinator-root-ca.pem (the pin for later connections)",
        "mesh-ca.pem",
        "manifest.json",
    ] {
        lines.push(Line::raw(format!("  {f}")));
    }
    lines.push(Line::raw(""));
    if let Some(e) = &w.set_error {
        lines.push(Line::styled(text::SET_FAILED, theme.bad()));
        lines.push(Line::styled(e.clone(), theme.bad()));
    } else if let Some(b) = w.busy {
        lines.push(Line::styled(b, theme.warn()));
    } else {
        lines.push(Line::styled(text::CONFIRM_INTRO, theme.bold()));
    }
    lines
}

fn setup_drill(w: &SetupWizard, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if w.drill.is_some() {
        lines.push(Line::styled(
            text::DRILL_OK,
            theme.ok().add_modifier(Modifier::BOLD),
        ));
        lines.push(Line::raw(""));
    }
    if let Some(o) = &w.outcome {
        lines.push(Line::styled(
            format!(
                "{}: generation {}, transition {}…",
                text::SET_DONE,
                o.generation,
                o.transition.short()
            ),
            theme.ok(),
        ));
        lines.push(Line::styled(text::FILES_WRITTEN, theme.bold()));
        let names: Vec<String> = o
            .files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        lines.push(Line::raw(format!("  {}", names.join(", "))));
        lines.push(Line::raw(""));
    }
    if let Some(b) = w.busy {
        lines.push(Line::styled(b, theme.warn()));
    }
    if let Some(report) = &w.drill {
        for l in text::drill_details(
            &report.owner_fingerprint,
            report.generation,
            &report.latest.short(),
        ) {
            lines.push(Line::styled(l, theme.ok()));
        }
        lines.push(Line::raw(""));
        lines.push(Line::raw(text::SETUP_FINISHED));
    }
    if let Some(e) = &w.drill_error {
        lines.push(Line::styled(text::DRILL_FAILED, theme.bad()));
        lines.push(Line::styled(e.clone(), theme.bad()));
        lines.push(Line::raw(text::DRILL_RETRY));
    }
    lines
}

// ----------------------------------------------------------------------------------------
// Recovery wizard
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// History audit
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Update
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Keys
// ----------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------
// Popups
// ----------------------------------------------------------------------------------------
