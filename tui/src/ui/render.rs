//! Drawing. Everything here only *reads* the [`App`]; nothing changes state or does I/O.
//! Meaning is never carried by colour alone: every coloured mark is also a symbol (✓ ✗ ⚠)
//! and words, and with `NO_COLOR` / `--no-color` only bold and reverse video remain.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use seedward_shared::manifest::{Manifest, ManifestDiff, PolicyFieldChange, ValueChange};

use super::app::{
    App, DetailView, Health, HistoryView, KeyChoice, KeysScreen, LoadedManifest, Location,
    ManifestChoice, Popup, RecoveryStep, RecoveryWizard, Screen, SetupStep, SetupWizard, StepState,
    UpdateStep, UpdateView, update_blocker,
};
use super::keymap::{self, Action, Context};
use super::text;
use crate::keystore::KeyKind;
use crate::ops::{CoordinatorState, EvidenceView, SigningKeySource, StatusView, TrustLevel};

/// Smallest terminal the UI lays out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Styles, with or without colour.
#[derive(Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn ok(&self) -> Style {
        self.fg(Color::Green)
    }
    fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }
    fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    fn bold(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn badge(&self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
}

/// Draws the whole UI.
pub fn render(app: &App, frame: &mut Frame) {
    let theme = Theme {
        color: !app.no_color,
    };
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
        Screen::Dashboard => dashboard(app, frame, body, theme),
        Screen::Setup(w) => setup(app, w, frame, body, theme),
        Screen::Recovery(r) => recovery(app, r, frame, body, theme),
        Screen::History(h) => history(h, frame, body, theme),
        Screen::Update(u) => update_screen(app, u, frame, body, theme),
        Screen::Keys(k) => keys_screen(app, k, frame, body, theme),
    }
    status_bar(app, frame, status, theme);
    footer_bar(app, frame, footer, theme);
    if let Some(popup) = &app.popup {
        draw_popup(popup, frame, area, theme);
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

fn screen_title(app: &App) -> &'static str {
    match &app.screen {
        Screen::Dashboard => text::DASHBOARD_TITLE,
        Screen::Setup(_) => text::SETUP_TITLE,
        Screen::Recovery(_) => text::RECOVERY_TITLE,
        Screen::History(_) => text::HISTORY_TITLE,
        Screen::Update(_) => text::UPDATE_TITLE,
        Screen::Keys(_) => text::KEYS_TITLE,
    }
}

fn title_bar(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let left = Line::from(vec![
        Span::styled(
            format!(" {} ", text::APP),
            theme.bold().add_modifier(Modifier::REVERSED),
        ),
        Span::raw(" "),
        Span::styled(screen_title(app), theme.bold()),
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

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn block(title: &str) -> Block<'_> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
}

fn label(name: &str, theme: Theme) -> Span<'static> {
    Span::styled(format!("{name:<12} "), theme.bold())
}

// ----------------------------------------------------------------------------------------
// Dashboard
// ----------------------------------------------------------------------------------------

fn state_line(state: CoordinatorState, theme: Theme) -> Span<'static> {
    let (mark, style) = match state {
        CoordinatorState::Ready => ("✓", theme.ok()),
        CoordinatorState::Uninitialized => ("○", theme.warn()),
        CoordinatorState::RecoveryRequired | CoordinatorState::Stale => ("✗", theme.bad()),
        CoordinatorState::Unknown => ("?", theme.warn()),
    };
    Span::styled(format!("{mark} {}", state.label()), style)
}

fn evidence_spans(ev: Option<&EvidenceView>, theme: Theme) -> Vec<Span<'static>> {
    match ev {
        None => vec![Span::styled(
            "✗ none: the Coordinator sent no evidence",
            theme.bad(),
        )],
        Some(ev) => {
            // The summary's first word is the verdict (ATTESTED / UNATTESTED / UNVERIFIED).
            let summary = ev.summary();
            let (verdict, rest) = summary.split_once(' ').unwrap_or((summary.as_str(), ""));
            let verdict = if ev.attested {
                text::ATTESTED_BADGE.to_string()
            } else {
                format!(" {verdict} ")
            };
            let style = if ev.tls_key_matches && ev.binding_ok && ev.challenge_bound {
                Style::new()
            } else {
                theme.bad()
            };
            vec![
                Span::styled(verdict, theme.badge()),
                Span::raw(" "),
                Span::styled(rest.to_string(), style),
            ]
        }
    }
}

fn trust_span(trust: TrustLevel, theme: Theme) -> Span<'static> {
    match trust {
        TrustLevel::Pinned => Span::styled(text::TRUST_PINNED, theme.ok()),
        TrustLevel::PinMismatch => Span::styled(text::TRUST_MISMATCH, theme.bad()),
        TrustLevel::FirstUse => Span::styled(text::TRUST_FIRST_USE, theme.warn()),
    }
}

/// The TLS key of the evidence as `ab12:cd34:…`.
fn tls_fingerprint(ev: &EvidenceView) -> String {
    hex::decode(&ev.tls_spki_sha256)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(|digest| seedward_shared::keys::Fingerprint::from_sha256(&digest).to_string())
        .unwrap_or_else(|| ev.tls_spki_sha256.clone())
}

fn status_lines(status: &StatusView, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let hash_width = width.saturating_sub(14);
    vec![
        Line::from(vec![
            label(text::LABEL_STATE, theme),
            state_line(status.state, theme),
        ]),
        Line::from(vec![
            label(text::LABEL_GENERATION, theme),
            Span::raw(status.generation.to_string()),
        ]),
        Line::from(vec![
            label(text::LABEL_LATEST, theme),
            Span::raw(
                status
                    .latest
                    .map(|d| truncate(&d.to_string(), hash_width))
                    .unwrap_or_else(|| text::NONE_YET.into()),
            ),
        ]),
        Line::from(vec![
            label(text::LABEL_ROOT_CA, theme),
            Span::raw(
                status
                    .root_ca_fingerprint
                    .clone()
                    .unwrap_or_else(|| text::NONE_YET.into()),
            ),
        ]),
        Line::from({
            let mut s = vec![label(text::LABEL_EVIDENCE, theme)];
            s.extend(evidence_spans(status.evidence.as_ref(), theme));
            s
        }),
        Line::from(vec![
            label(text::LABEL_TRUST, theme),
            trust_span(status.trust, theme),
        ]),
    ]
}

fn dashboard(app: &App, frame: &mut Frame, area: Rect, theme: Theme) {
    let key_rows =
        app.keys.list.len().max(1) as u16 + 2 + u16::from(app.keys.warning.is_some()) * 3;
    let [coord, keys, next] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Min(key_rows.min(8)),
        Constraint::Length(4),
    ])
    .areas(area);
    let inner_width = coord.width.saturating_sub(2) as usize;
    let mut lines = match app.health.status() {
        Some(status) => status_lines(status, theme, inner_width),
        None => vec![Line::from(vec![
            label(text::LABEL_STATE, theme),
            Span::styled("… unknown", theme.dim()),
        ])],
    };
    let connection = match &app.health {
        Health::Connecting => Span::styled(text::HEALTH_CONNECTING, theme.dim()),
        Health::Ok { latency_ms, .. } => Span::styled(
            format!("{} · {}", text::health_ok(*latency_ms), text::REFRESHING),
            theme.ok(),
        ),
        Health::Failed { message, .. } => Span::styled(text::health_failed(message), theme.bad()),
    };
    lines.push(Line::from(vec![
        label(text::LABEL_CONNECTION, theme),
        connection,
    ]));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(text::COORDINATOR_BLOCK))
            .wrap(Wrap { trim: false }),
        coord,
    );

    let mut key_lines = Vec::new();
    if let Some(w) = &app.keys.warning {
        key_lines.push(Line::styled(format!("⚠ {w}"), theme.warn()));
    }
    if let Some(e) = &app.keys.error {
        key_lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
    }
    if app.keys.list.is_empty() {
        key_lines.push(Line::raw(text::NO_KEYS));
    }
    for k in &app.keys.list {
        key_lines.push(Line::from(vec![
            Span::styled(format!("{:<18} ", truncate(&k.name, 18)), theme.bold()),
            Span::raw(format!("{:<9} ", k.kind.as_str())),
            Span::raw(format!("{:<8} ", k.backend.as_str())),
            Span::raw(k.fingerprint.clone()),
        ]));
    }
    frame.render_widget(
        Paragraph::new(key_lines)
            .block(block(text::KEYS_BLOCK))
            .wrap(Wrap { trim: false }),
        keys,
    );

    let next_lines = match app.health.status() {
        Some(s) => vec![
            Line::raw(s.state.next_step()),
            Line::styled(text::dashboard_keys_hint(s.state.label()), theme.bold()),
        ],
        None => vec![Line::raw(text::NO_STATUS_YET)],
    };
    frame.render_widget(
        Paragraph::new(next_lines)
            .block(block(text::NEXT_BLOCK))
            .wrap(Wrap { trim: true }),
        next,
    );
}

// ----------------------------------------------------------------------------------------
// Step lists
// ----------------------------------------------------------------------------------------

fn step_list(frame: &mut Frame, area: Rect, title: &str, rows: Vec<(String, &'static str, Style)>) {
    let lines: Vec<Line> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (name, mark, style))| Line::styled(format!("{mark} {}. {name}", i + 1), style))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block(title)), area);
}

fn split_steps(area: Rect) -> (Rect, Rect) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(26), Constraint::Min(40)]).areas(area);
    (left, right)
}

fn choice_lines(items: &[String], cursor: usize, theme: Theme) -> Vec<Line<'static>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if i == cursor {
                Line::styled(format!("› {item}"), theme.selected())
            } else {
                Line::raw(format!("  {item}"))
            }
        })
        .collect()
}

// ----------------------------------------------------------------------------------------
// Setup wizard
// ----------------------------------------------------------------------------------------

fn setup(app: &App, w: &SetupWizard, frame: &mut Frame, area: Rect, theme: Theme) {
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
    scrolled_pane(
        frame,
        right,
        &title,
        lines,
        app.pane_scroll,
        Context::Setup,
        theme,
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

// ----------------------------------------------------------------------------------------
// Scrolling wizard panes
// ----------------------------------------------------------------------------------------

/// The body area of a `width`×`height` terminal (below the title bar, above status and footer).
fn body_area(width: u16, height: u16) -> Rect {
    let [_, body, _, _] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(Rect::new(0, 0, width, height));
    body
}

/// The wizard pane of the current screen for a body area: its rectangle, title, content.
fn wizard_pane(app: &App, body: Rect, theme: Theme) -> Option<(Rect, String, Vec<Line<'static>>)> {
    match &app.screen {
        Screen::Setup(w) => {
            let (_, right) = split_steps(body);
            let (title, lines) = setup_pane(app, w, right, theme);
            Some((right, title, lines))
        }
        Screen::Recovery(r) => {
            let (_, right) = split_steps(body);
            let (title, lines) = recovery_pane(app, r, right, theme);
            Some((right, title, lines))
        }
        Screen::Update(u) => Some((
            body,
            text::UPDATE_TITLE.to_string(),
            update_lines(app, u, body, theme),
        )),
        _ => None,
    }
}

/// (largest useful scroll offset, lines per page) of the wizard pane at the size of the last
/// draw ([`App::viewport`]); (0, 1) where nothing scrolls.
pub fn pane_scroll_range(app: &App) -> (u16, u16) {
    let (width, height) = app.viewport;
    if width < MIN_WIDTH || height < MIN_HEIGHT {
        return (0, 1);
    }
    let theme = Theme { color: false };
    let Some((area, _, lines)) = wizard_pane(app, body_area(width, height), theme) else {
        return (0, 1);
    };
    let total = wrap_lines(&lines, area.width.saturating_sub(2) as usize).len();
    let visible = area.height.saturating_sub(2) as usize;
    let max = total.saturating_sub(visible);
    let page = visible.saturating_sub(1).max(1);
    (
        u16::try_from(max).unwrap_or(u16::MAX),
        u16::try_from(page).unwrap_or(u16::MAX),
    )
}

/// Draws `lines` in a bordered pane, wrapped to its width and scrolled by `scroll` (clamped
/// to the content). When the content does not fit, the bottom border says which lines are
/// shown and which keys scroll (from the keymap).
fn scrolled_pane(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    scroll: u16,
    context: Context,
    theme: Theme,
) {
    let wrapped = wrap_lines(&lines, area.width.saturating_sub(2) as usize);
    let total = wrapped.len();
    let visible = area.height.saturating_sub(2) as usize;
    let offset = (scroll as usize).min(total.saturating_sub(visible));
    let mut pane = block(title);
    if total > visible {
        let keys = format!(
            "{}/{}",
            keymap::keys_of(context, Action::ScrollUp),
            keymap::keys_of(context, Action::ScrollDown)
        );
        let position =
            text::scroll_position(offset + 1, (offset + visible).min(total), total, &keys);
        pane = pane.title_bottom(Line::styled(position, theme.bold()).right_aligned());
    }
    let shown: Vec<Line<'static>> = wrapped.into_iter().skip(offset).take(visible).collect();
    frame.render_widget(Paragraph::new(shown).block(pane), area);
}

/// Display width of one character.
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Word-wraps styled lines to `width` columns (a word longer than a row is split), so that
/// the number of rows is known before drawing.
fn wrap_lines(lines: &[Line<'static>], width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if width == 0 || line.width() <= width {
            out.push(line.clone());
            continue;
        }
        let cells: Vec<(char, Style)> = line
            .spans
            .iter()
            .flat_map(|s| {
                let style = s.style;
                s.content.chars().map(move |c| (c, style))
            })
            .collect();
        let mut rows: Vec<Vec<(char, Style)>> = Vec::new();
        let mut row: Vec<(char, Style)> = Vec::new();
        let mut row_width = 0usize;
        let mut i = 0;
        while i < cells.len() {
            let start = i;
            while i < cells.len() && cells[i].0 != ' ' {
                i += 1;
            }
            let word = &cells[start..i];
            let gap_start = i;
            while i < cells.len() && cells[i].0 == ' ' {
                i += 1;
            }
            let gap = &cells[gap_start..i];
            let word_width: usize = word.iter().map(|(c, _)| char_width(*c)).sum();
            if row_width > 0 && row_width + word_width > width {
                rows.push(std::mem::take(&mut row));
                row_width = 0;
            }
            for &(c, style) in word {
                let w = char_width(c);
                if row_width > 0 && row_width + w > width {
                    rows.push(std::mem::take(&mut row));
                    row_width = 0;
                }
                row.push((c, style));
                row_width += w;
            }
            for &(c, style) in gap {
                if row_width + 1 > width {
                    break;
                }
                row.push((c, style));
                row_width += 1;
            }
        }
        if !row.is_empty() || rows.is_empty() {
            rows.push(row);
        }
        for mut cells in rows {
            while cells.last().is_some_and(|(c, _)| *c == ' ') {
                cells.pop();
            }
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut current = String::new();
            let mut current_style = None;
            for (c, style) in cells {
                if current_style.is_some_and(|s| s != style) {
                    spans.push(Span::styled(
                        std::mem::take(&mut current),
                        current_style.unwrap_or_default(),
                    ));
                }
                current_style = Some(style);
                current.push(c);
            }
            if let Some(style) = current_style {
                spans.push(Span::styled(current, style));
            }
            let mut row_line = Line::from(spans).style(line.style);
            row_line.alignment = line.alignment;
            out.push(row_line);
        }
    }
    out
}

fn kind_word(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::SeedShareOwner => text::KIND_OWNER,
        KeyKind::WorkloadOwner => text::KIND_WORKLOAD,
    }
}

fn busy_line(busy: Option<&'static str>, theme: Theme) -> Option<Line<'static>> {
    busy.map(|b| Line::styled(b, theme.warn()))
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

fn filter_line(list: &super::app::ListState, theme: Theme) -> Option<Line<'static>> {
    let f = list.filter.as_ref()?;
    let cursor = if list.filtering { "█" } else { "" };
    Some(Line::from(vec![
        Span::styled("/", theme.key()),
        Span::raw(f.value.clone()),
        Span::styled(cursor, theme.key()),
    ]))
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
    lines.extend(filter_line(&w.list, theme));
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

/// Whether a loaded manifest is usable: parse error, validation problems, policy problems,
/// warnings, or "✓ valid".
fn validity_lines(loaded: &LoadedManifest, theme: Theme) -> Vec<Line<'static>> {
    let name = loaded
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(e) = &loaded.parse_error {
        lines.push(Line::styled(format!("✗ {name}: {e}"), theme.bad()));
        return lines;
    }
    if loaded.is_valid() {
        lines.push(Line::from(vec![
            Span::styled(format!("{name}: "), theme.bold()),
            Span::styled(text::MANIFEST_VALID, theme.ok()),
        ]));
    }
    for (path, message) in &loaded.issues {
        let _ = path;
        lines.push(Line::styled(format!("✗ {message}"), theme.bad()));
    }
    if let Some(e) = &loaded.policy_error {
        lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
    }
    for warning in &loaded.warnings {
        lines.push(Line::styled(format!("⚠ {warning}"), theme.warn()));
    }
    lines
}

/// A manifest, structured: hash, policies, owners, reference values.
fn manifest_lines(
    m: &Manifest,
    owner_hex: Option<&str>,
    workload_hex: Option<&str>,
    theme: Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let hex_width = width.saturating_sub(16);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{}: ", text::LABEL_HASH), theme.bold()),
        Span::raw(truncate(&m.hash().to_string(), width.saturating_sub(15))),
    ])];
    lines.push(Line::styled(
        format!("{} ({})", text::LABEL_POLICIES, m.policies().len()),
        theme.bold(),
    ));
    for (hash, entry) in m.policies() {
        let role = entry.role.to_string();
        lines.push(Line::raw(format!("  {}  role {role}", truncate(hash, 16))));
        lines.push(Line::raw(truncate(
            &format!("      SANs {}", entry.sans.join(", ")),
            width,
        )));
        if let Some(secret) = &entry.workload_secret_id {
            lines.push(Line::raw(truncate(
                &format!("      workload secret {secret}"),
                width,
            )));
        }
    }
    lines.push(Line::styled(
        format!(
            "{} ({})",
            text::LABEL_SEEDSHARE_OWNERS,
            m.seedshare_owner_pub_keys().len()
        ),
        theme.bold(),
    ));
    for k in m.seedshare_owner_pub_keys() {
        let mine = owner_hex.is_some_and(|o| o.eq_ignore_ascii_case(k));
        lines.push(Line::from({
            let mut spans = vec![Span::raw(format!("  {}", truncate(k, hex_width)))];
            if mine {
                spans.push(Span::styled(format!(" {}", text::YOUR_KEY), theme.ok()));
            }
            spans
        }));
    }
    lines.push(Line::styled(
        format!(
            "{} ({})",
            text::LABEL_WORKLOAD_OWNERS,
            m.workload_owner_pub_keys().len()
        ),
        theme.bold(),
    ));
    if m.workload_owner_pub_keys().is_empty() {
        lines.push(Line::styled(
            format!("  {}", text::NONE_IMMUTABLE),
            theme.warn(),
        ));
    }
    for k in m.workload_owner_pub_keys() {
        let mine = workload_hex.is_some_and(|o| o.eq_ignore_ascii_case(k));
        lines.push(owner_line(k, mine, hex_width, theme));
    }
    let refs = m.reference_values();
    lines.push(Line::from(vec![
        Span::styled(format!("{}: ", text::LABEL_REFERENCE_VALUES), theme.bold()),
        Span::raw(if refs.is_empty() {
            "{}".to_string()
        } else {
            refs.keys().cloned().collect::<Vec<_>>().join(", ")
        }),
    ]));
    lines
}

fn owner_line(hex: &str, mine: bool, width: usize, theme: Theme) -> Line<'static> {
    // P-384 SPKI hex shares a long common prefix; show its distinctive tail.
    let shown = if hex.len() > width && width > 4 {
        format!("…{}", &hex[hex.len() - (width - 1)..])
    } else {
        hex.to_string()
    };
    let mut spans = vec![Span::raw(format!("  {shown}"))];
    if mine {
        spans.push(Span::styled(format!(" {}", text::YOUR_KEY), theme.ok()));
    }
    Line::from(spans)
}

fn coordinator_lines(s: &StatusView, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(vec![
            label(text::LABEL_ADDRESS, theme),
            Span::raw(s.address.clone()),
        ]),
        Line::from(vec![
            label(text::LABEL_STATE, theme),
            state_line(s.state, theme),
        ]),
    ];
    if let Some(ev) = &s.evidence {
        lines.push(Line::from(vec![
            label(text::LABEL_TLS, theme),
            Span::raw(tls_fingerprint(ev)),
        ]));
    }
    lines.push(Line::from({
        let mut spans = vec![label(text::LABEL_EVIDENCE, theme)];
        spans.extend(evidence_spans(s.evidence.as_ref(), theme));
        spans
    }));
    if let Some(ev) = &s.evidence {
        let check = |ok: bool, yes: &str, no: &str| {
            if ok {
                Line::styled(format!("  ✓ {yes}"), theme.ok())
            } else {
                Line::styled(format!("  ✗ {no}"), theme.bad())
            }
        };
        lines.push(check(
            ev.tls_key_matches,
            "the evidence names this connection's TLS key",
            "the evidence names another TLS key than this connection's: do not continue",
        ));
        lines.push(check(
            ev.binding_ok && ev.challenge_bound,
            "report data binds the TLS and challenge keys",
            "report data does not bind the keys: do not continue",
        ));
    }
    lines.push(Line::from(vec![
        label(text::LABEL_TRUST, theme),
        trust_span(s.trust, theme),
    ]));
    if let Some(latest) = s.latest {
        lines.push(Line::from(vec![
            label(text::LABEL_LATEST, theme),
            Span::raw(truncate(&latest.to_string(), width.saturating_sub(14))),
        ]));
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

fn recovery(app: &App, r: &RecoveryWizard, frame: &mut Frame, area: Rect, theme: Theme) {
    let (left, right) = split_steps(area);
    let rows = RecoveryStep::ALL
        .iter()
        .map(|s| {
            let (mark, style) = match r.state(*s) {
                StepState::Done(_) => ("✓", theme.ok()),
                StepState::Failed(_) => ("✗", theme.bad()),
                StepState::Running => ("…", theme.warn()),
                StepState::Pending if *s == r.step => {
                    ("▶", theme.bold().add_modifier(Modifier::REVERSED))
                }
                StepState::Pending => (" ", theme.dim()),
            };
            (s.title().to_string(), mark, style)
        })
        .collect();
    step_list(frame, left, text::RECOVERY_TITLE, rows);
    let (title, lines) = recovery_pane(app, r, right, theme);
    scrolled_pane(
        frame,
        right,
        &title,
        lines,
        app.pane_scroll,
        Context::Recovery,
        theme,
    );
}

fn recovery_pane(
    app: &App,
    r: &RecoveryWizard,
    right: Rect,
    theme: Theme,
) -> (String, Vec<Line<'static>>) {
    let width = right.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    if r.step == RecoveryStep::Key {
        lines.push(Line::raw(text::RECOVERY_KEY_INTRO));
        lines.push(Line::raw(""));
        let owners: Vec<String> = app
            .keys
            .of_kind(KeyKind::SeedShareOwner)
            .filter(|k| r.list.matches(&format!("{} {}", k.name, k.fingerprint)))
            .map(|k| format!("{}  {}  ({})", k.name, k.fingerprint, k.backend.as_str()))
            .collect();
        if owners.is_empty() {
            lines.push(Line::styled(text::RECOVERY_NO_KEYS, theme.warn()));
        }
        lines.extend(choice_lines(&owners, r.list.cursor, theme));
        lines.extend(filter_line(&r.list, theme));
    } else {
        // A log of the steps so far.
        for step in RecoveryStep::ALL.iter().take(r.step.index() + 1) {
            let line = match r.state(*step) {
                StepState::Done(m) if !m.is_empty() => {
                    Line::styled(format!("✓ {}: {m}", step.title()), theme.ok())
                }
                StepState::Failed(m) => {
                    Line::styled(format!("✗ {}: {m}", step.title()), theme.bad())
                }
                StepState::Running => Line::styled(
                    format!("… {}: {}", step.title(), text::RUNNING),
                    theme.warn(),
                ),
                _ => continue,
            };
            lines.push(line);
        }
        lines.push(Line::raw(""));
        let failed = r
            .states
            .iter()
            .position(|s| matches!(s, StepState::Failed(_)));
        match r.step {
            RecoveryStep::Identity => {
                lines.push(Line::styled(text::IDENTITY_INTRO, theme.bold()));
                if let Some(p) = &r.preflight {
                    lines.extend(coordinator_lines(&p.status, theme, width));
                }
            }
            RecoveryStep::Checklist => {
                if let Some(rv) = &r.reverify {
                    let check = |ok: bool, t: &str| {
                        if ok {
                            Line::styled(format!("✓ {t}"), theme.ok())
                        } else {
                            Line::styled(format!("✗ {t}"), theme.bad())
                        }
                    };
                    lines.push(check(
                        rv.status.state == CoordinatorState::Ready,
                        "the Coordinator is ready",
                    ));
                    lines.push(check(
                        rv.root_ca_matches_pin,
                        "its root CA key equals the pinned one",
                    ));
                    lines.push(check(rv.history_unchanged, "the history is unchanged"));
                    lines.push(Line::raw(""));
                    if rv.mesh_ca_changed {
                        lines.push(Line::styled(
                            "⚠ the mesh CA changed (new mesh-ca.pem saved)",
                            theme.warn(),
                        ));
                    }
                }
                for item in text::CHECKLIST {
                    lines.push(Line::raw(item));
                }
                lines.push(Line::raw(""));
                lines.push(Line::styled(text::RECOVERY_DONE, theme.bold()));
            }
            _ => {}
        }
        if let Some(i) = failed {
            let next = if i == RecoveryStep::Decrypt.index() {
                text::RECOVERY_DECRYPT_FAILED
            } else {
                text::RECOVERY_NEXT_FAILED
            };
            lines.push(Line::styled(next, theme.bold()));
        }
    }
    let title = format!(
        "{}/{} {}",
        r.step.index() + 1,
        RecoveryStep::ALL.len(),
        r.step.title()
    );
    (title, lines)
}

// ----------------------------------------------------------------------------------------
// History audit
// ----------------------------------------------------------------------------------------

fn history(h: &HistoryView, frame: &mut Frame, area: Rect, theme: Theme) {
    let bundle_line = match (&h.bundle_input, h.bundle_busy) {
        (Some(input), _) => Some(Line::from(vec![
            Span::styled(text::BUNDLE_PROMPT, theme.bold()),
            Span::raw(" > "),
            Span::raw(input.shown()),
            Span::styled("█", theme.key()),
        ])),
        (None, Some(busy)) => Some(Line::styled(busy, theme.warn())),
        (None, None) => None,
    };
    let area = match bundle_line {
        Some(line) => {
            let [prompt, rest] =
                Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(area);
            frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), prompt);
            rest
        }
        None => area,
    };
    let [summary, main] = Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(area);
    let Some(audit) = &h.audit else {
        let line = match (&h.error, h.loading) {
            (Some(e), _) => Line::styled(format!("✗ {e}"), theme.bad()),
            (None, true) => Line::styled(text::AUDITING, theme.warn()),
            (None, false) => Line::raw(""),
        };
        frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), summary);
        return;
    };
    let source = match audit.key_source {
        SigningKeySource::SeedShare => text::KEY_FROM_SEED,
        SigningKeySource::SavedKey => text::KEY_SAVED,
        SigningKeySource::None => text::KEY_NONE,
    };
    let all = audit.all_verified();
    let summary_line = Line::styled(
        text::audit_summary(all, source, audit.failure.as_deref()),
        if all { theme.ok() } else { theme.bad() },
    );
    frame.render_widget(
        Paragraph::new(summary_line).wrap(Wrap { trim: true }),
        summary,
    );
    let [left, right] =
        Layout::horizontal([Constraint::Length(44), Constraint::Min(30)]).areas(main);

    // Timeline, virtualized: only the rows on screen are formatted.
    let visible = h.visible();
    let rows = left
        .height
        .saturating_sub(3 + u16::from(h.list.filter.is_some())) as usize;
    let offset = h.list.cursor.saturating_sub(rows.saturating_sub(1));
    let mut lines = vec![Line::styled(text::HISTORY_COLUMNS, theme.bold())];
    for (row, &i) in visible.iter().enumerate().skip(offset).take(rows) {
        let e = &audit.entries[i];
        let ok = e.verified();
        let (pol, own) = e
            .manifest
            .as_ref()
            .map(|m| {
                (
                    m.policies().len(),
                    m.seedshare_owner_pub_keys().len() + m.workload_owner_pub_keys().len(),
                )
            })
            .unwrap_or((0, 0));
        let mark = if h.mark == Some(i) { "*" } else { " " };
        let line = format!(
            "{:>4}{mark}{} {}  {}  {:>3} {:>3}",
            e.chain.generation,
            if ok { "✓" } else { "✗" },
            &e.chain.transition_hash.to_hex()[..12],
            &e.chain.manifest_hash.to_hex()[..12],
            pol,
            own
        );
        let style = if row == h.list.cursor {
            theme.selected()
        } else if ok {
            Style::new()
        } else {
            theme.bad()
        };
        lines.push(Line::styled(line, style));
    }
    lines.extend(filter_line(&h.list, theme));
    frame.render_widget(Paragraph::new(lines).block(block(text::TIMELINE)), left);

    let width = right.width.saturating_sub(2) as usize;
    let mut detail: Vec<Line> = Vec::new();
    let mut title = h.view.title().to_string();
    // The selection from the same `visible` list: `h.selected()` would filter all entries again.
    if let Some(sel) = visible.get(h.list.cursor).copied() {
        let e = &audit.entries[sel];
        title = format!("{} · generation {}", h.view.title(), e.chain.generation);
        if let seedward_shared::history::EntryStatus::Unverified(reason) = &e.chain.status {
            detail.push(Line::styled(format!("✗ {reason}"), theme.bad()));
        } else {
            detail.push(Line::styled("✓ verified", theme.ok()));
        }
        match h.view {
            DetailView::Structured => match &e.manifest {
                Some(m) => detail.extend(manifest_lines(m, None, None, theme, width)),
                None => detail.push(Line::styled(text::UNPARSEABLE, theme.bad())),
            },
            DetailView::Raw => {
                for l in String::from_utf8_lossy(&e.manifest_bytes).lines() {
                    detail.push(Line::raw(l.to_string()));
                }
            }
            DetailView::Diff | DetailView::LineDiff => {
                let from = h.mark.filter(|m| *m != sel).or_else(|| sel.checked_sub(1));
                match from {
                    None => detail.push(Line::raw(text::DIFF_FIRST)),
                    Some(f) => {
                        let old = &audit.entries[f];
                        detail.push(Line::styled(
                            text::diff_against(old.chain.generation, e.chain.generation),
                            theme.bold(),
                        ));
                        if h.view == DetailView::Diff {
                            match (&old.manifest, &e.manifest) {
                                (Some(a), Some(b)) => {
                                    detail.extend(diff_lines(&ManifestDiff::between(a, b), theme))
                                }
                                _ => detail.push(Line::styled(text::UNPARSEABLE, theme.bad())),
                            }
                        } else {
                            detail.extend(line_diff(&old.manifest_bytes, &e.manifest_bytes, theme));
                        }
                    }
                }
            }
        }
    }
    frame.render_widget(
        Paragraph::new(detail)
            .block(block(&title))
            .wrap(Wrap { trim: false })
            .scroll((h.detail_scroll, 0)),
        right,
    );
}

fn line_diff(old: &[u8], new: &[u8], theme: Theme) -> Vec<Line<'static>> {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(2).iter().enumerate() {
        if i > 0 {
            out.push(Line::styled("  ⋯", theme.dim()));
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let (sign, style) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", theme.bad()),
                    similar::ChangeTag::Insert => ("+", theme.ok()),
                    similar::ChangeTag::Equal => (" ", theme.dim()),
                };
                out.push(Line::styled(
                    format!("{sign} {}", change.value().trim_end_matches('\n')),
                    style,
                ));
            }
        }
    }
    if out.is_empty() {
        out.push(Line::raw(text::DIFF_EMPTY));
    }
    out
}

#[allow(dead_code, reason = "kept for a full-file view")]
fn line_diff_all(old: &[u8], new: &[u8], theme: Theme) -> Vec<Line<'static>> {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut out = Vec::new();
    for change in diff.iter_all_changes() {
        let (sign, style) = match change.tag() {
            similar::ChangeTag::Delete => ("-", theme.bad()),
            similar::ChangeTag::Insert => ("+", theme.ok()),
            similar::ChangeTag::Equal => (" ", theme.dim()),
        };
        out.push(Line::styled(
            format!("{sign} {}", change.value().trim_end_matches('\n')),
            style,
        ));
    }
    out
}

/// A semantic diff as lines: `+` added, `-` removed, `~` changed.
fn diff_lines(d: &ManifestDiff, theme: Theme) -> Vec<Line<'static>> {
    if d.is_empty() {
        return vec![Line::raw(text::DIFF_EMPTY)];
    }
    let mut out = Vec::new();
    let add = |s: String| Line::styled(format!("+ {s}"), theme.ok());
    let del = |s: String| Line::styled(format!("- {s}"), theme.bad());
    let chg = |s: String| Line::styled(format!("~ {s}"), theme.warn());
    for (hash, entry) in &d.policies_added {
        out.push(add(format!(
            "policy {} (role {}, SANs {})",
            truncate(hash, 16),
            entry.role,
            entry.sans.join(", ")
        )));
    }
    for (hash, entry) in &d.policies_removed {
        out.push(del(format!(
            "policy {} (role {}, SANs {})",
            truncate(hash, 16),
            entry.role,
            entry.sans.join(", ")
        )));
    }
    for change in &d.policies_changed {
        for c in &change.changes {
            let what = match c {
                PolicyFieldChange::Sans { added, removed } => {
                    let mut parts = Vec::new();
                    if !added.is_empty() {
                        parts.push(format!("+{}", added.join(", +")));
                    }
                    if !removed.is_empty() {
                        parts.push(format!("-{}", removed.join(", -")));
                    }
                    format!("SANs {}", parts.join(" "))
                }
                PolicyFieldChange::WorkloadSecretId { old, new } => format!(
                    "secret ID {} → {}",
                    old.as_deref().unwrap_or("(none)"),
                    new.as_deref().unwrap_or("(none)")
                ),
                PolicyFieldChange::Role { old, new } => format!("role {old} → {new}"),
                _ => "changed".to_string(),
            };
            out.push(chg(format!(
                "policy {}: {what}",
                truncate(&change.hash, 16)
            )));
        }
    }
    for v in &d.reference_values {
        let p = if v.pointer().is_empty() {
            "/"
        } else {
            v.pointer()
        };
        out.push(match v {
            ValueChange::Added { value, .. } => add(format!("ReferenceValues{p} = {value}")),
            ValueChange::Removed { value, .. } => del(format!("ReferenceValues{p} = {value}")),
            ValueChange::Changed { old, new, .. } => {
                chg(format!("ReferenceValues{p}: {old} → {new}"))
            }
        });
    }
    for k in &d.workload_owners_added {
        out.push(add(format!("workload owner …{}", tail(k, 24))));
    }
    for k in &d.workload_owners_removed {
        out.push(del(format!("workload owner …{}", tail(k, 24))));
    }
    for k in &d.seedshare_owners_added {
        out.push(add(format!("seed share owner {}", truncate(k, 24))));
    }
    for k in &d.seedshare_owners_removed {
        out.push(del(format!("seed share owner {}", truncate(k, 24))));
    }
    out
}

fn tail(s: &str, n: usize) -> &str {
    let start = s.len().saturating_sub(n);
    s.get(start..).unwrap_or(s)
}

// ----------------------------------------------------------------------------------------
// Update
// ----------------------------------------------------------------------------------------

fn update_screen(app: &App, u: &UpdateView, frame: &mut Frame, area: Rect, theme: Theme) {
    let lines = update_lines(app, u, area, theme);
    scrolled_pane(
        frame,
        area,
        text::UPDATE_TITLE,
        lines,
        app.pane_scroll,
        Context::Update,
        theme,
    );
}

fn update_lines(app: &App, u: &UpdateView, area: Rect, theme: Theme) -> Vec<Line<'static>> {
    let width = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line<'static>> = Vec::new();
    if let Some(e) = &u.audit_error {
        lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
    }
    if let Some(audit) = &u.audit {
        lines.push(Line::from(vec![
            label("Active", theme),
            Span::raw(format!(
                "generation {}, transition {}… {}",
                audit.generation(),
                audit.latest.transition_hash().short(),
                if audit.all_verified() {
                    "✓ audited"
                } else {
                    "✗ not verified"
                }
            )),
        ]));
    }
    match u.step {
        UpdateStep::Pick => {
            lines.push(Line::raw(""));
            lines.push(Line::styled(text::UPDATE_PICK, theme.bold()));
            let files = u.visible_files();
            if files.is_empty() {
                lines.push(Line::raw(text::UPDATE_NO_FILES));
            }
            lines.extend(choice_lines(&files, u.list.cursor, theme));
            lines.extend(filter_line(&u.list, theme));
        }
        UpdateStep::Review => {
            if let Some(key) = u.signing_key(&app.keys) {
                lines.push(Line::from(vec![
                    label(text::SIGN_WITH, theme),
                    Span::raw(format!("'{}' ({})", key.name, key.fingerprint)),
                ]));
            }
            lines.push(Line::raw(""));
            if let Some(c) = &u.candidate {
                lines.extend(validity_lines(c, theme));
                if let Some(m) = &c.manifest {
                    lines.push(Line::from(vec![
                        Span::styled(format!("{}: ", text::LABEL_HASH), theme.bold()),
                        Span::raw(truncate(&m.hash().to_string(), width.saturating_sub(15))),
                    ]));
                }
                if let (Some(active), Some(new)) = (u.active(), c.manifest.as_ref()) {
                    lines.push(Line::styled(
                        "Changes against the active manifest:",
                        theme.bold(),
                    ));
                    lines.extend(diff_lines(&ManifestDiff::between(active, new), theme));
                }
            }
            lines.push(Line::raw(""));
            match (&u.error, update_blocker(u, &app.keys)) {
                (Some(e), _) => lines.push(Line::styled(format!("✗ {e}"), theme.bad())),
                (None, Some(b)) => lines.push(Line::styled(format!("✗ {b}"), theme.bad())),
                (None, None) => lines.push(Line::styled(
                    format!(
                        "Press Enter, then type {} to sign and send.",
                        text::CONFIRM_UPDATE_WORD
                    ),
                    theme.bold(),
                )),
            }
            if let (Some(old), Some(now)) = (&u.raced, &u.audit)
                && let (Some(a), Some(b)) = (
                    old.active().and_then(|e| e.manifest.as_ref()),
                    now.active().and_then(|e| e.manifest.as_ref()),
                )
            {
                lines.push(Line::styled(text::CHANGED_MEANWHILE, theme.bold()));
                lines.extend(diff_lines(&ManifestDiff::between(a, b), theme));
                if u.busy.is_none() {
                    lines.push(Line::styled(text::STALE_NEXT, theme.bold()));
                }
            }
        }
        UpdateStep::Done => {
            if let Some(o) = &u.outcome {
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    text::update_done(o.generation, &o.transition.short()),
                    theme.ok(),
                ));
            }
        }
    }
    lines.extend(busy_line(u.busy, theme));
    lines
}

// ----------------------------------------------------------------------------------------
// Keys
// ----------------------------------------------------------------------------------------

fn keys_screen(app: &App, k: &KeysScreen, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::raw(text::keystore_line(&app.keys.backend)));
    if let Some(w) = &app.keys.warning {
        lines.push(Line::styled(format!("⚠ {w}"), theme.warn()));
    }
    if let Some(e) = &app.keys.error {
        lines.push(Line::styled(format!("✗ {e}"), theme.bad()));
    }
    lines.push(Line::raw(""));
    let [n, kd, b, f] = text::KEYS_COLUMNS;
    lines.push(Line::styled(
        format!("  {n:<18} {kd:<9} {b:<9} {f}"),
        theme.bold(),
    ));
    let visible = k.visible(&app.keys);
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
        lines.push(if i == k.list.cursor {
            Line::styled(row, theme.selected())
        } else {
            Line::raw(row)
        });
    }
    lines.extend(filter_line(&k.list, theme));
    if let Some((import, cursor)) = &k.choose_kind {
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
    if let Some((kind, input)) = &k.import {
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
    if let Some(n) = &k.notice {
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

// ----------------------------------------------------------------------------------------
// Popups
// ----------------------------------------------------------------------------------------

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw_popup(popup: &Popup, frame: &mut Frame, area: Rect, theme: Theme) {
    match popup {
        Popup::Help { scroll } => {
            let mut lines = Vec::new();
            for (title, rows) in keymap::help_sections() {
                lines.push(Line::styled(title, theme.bold()));
                for (keys, hint) in rows {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {keys:<20}"), theme.key()),
                        Span::raw(hint),
                    ]));
                }
            }
            let rect = centered(area, 64, area.height.saturating_sub(2));
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block(text::HELP_TITLE))
                    .scroll((*scroll, 0)),
                rect,
            );
        }
        Popup::Message { title, body, error } if body.contains('\n') => {
            // Several lines (e.g. a path and a digest): as wide as the longest, up to the screen.
            let longest = body.lines().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
            let width = (longest + 4).clamp(64, area.width);
            let inner = width.saturating_sub(2).max(1) as usize;
            let rows: u16 = body
                .lines()
                .map(|l| wrap_lines(&[Line::raw(l.to_string())], inner).len() as u16)
                .sum();
            let rect = centered(area, width, (rows + 4).min(area.height));
            frame.render_widget(Clear, rect);
            let head = if *error {
                Line::styled(format!("✗ {title}"), theme.bad())
            } else {
                Line::styled(title.clone(), theme.bold())
            };
            let mut lines = vec![head, Line::raw("")];
            lines.extend(body.lines().map(|l| Line::raw(l.to_string())));
            frame.render_widget(
                Paragraph::new(wrap_lines(&lines, inner)).block(block(if *error {
                    "Error"
                } else {
                    "Notice"
                })),
                rect,
            );
        }
        Popup::Message { title, body, error } => {
            let rows = body.chars().count() as u16 / 60 + 1;
            let rect = centered(area, 64, (rows + 5).min(area.height));
            frame.render_widget(Clear, rect);
            let head = if *error {
                Line::styled(format!("✗ {title}"), theme.bad())
            } else {
                Line::styled(title.clone(), theme.bold())
            };
            let lines = vec![head, Line::raw(""), Line::raw(body.clone())];
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block(if *error { "Error" } else { "Notice" }))
                    .wrap(Wrap { trim: true }),
                rect,
            );
        }
        Popup::QuitConfirm => {
            let rect = centered(area, 56, 7);
            frame.render_widget(Clear, rect);
            frame.render_widget(
                Paragraph::new(vec![Line::raw(text::QUIT_BODY)])
                    .block(block(text::QUIT_TITLE))
                    .wrap(Wrap { trim: true }),
                rect,
            );
        }
        Popup::Typed {
            title,
            body,
            expected,
            input,
            ..
        } => {
            let rect = centered(area, 68, body.len() as u16 + 6);
            frame.render_widget(Clear, rect);
            let mut lines: Vec<Line> = body.iter().map(|l| Line::raw(l.clone())).collect();
            lines.push(Line::raw(""));
            let typed_ok = input.value.trim() == *expected;
            lines.push(Line::from(vec![
                Span::raw("> "),
                Span::raw(input.shown()),
                Span::styled("█", theme.key()),
                Span::raw("   "),
                if typed_ok {
                    Span::styled("✓ Enter to send", theme.ok())
                } else {
                    Span::styled(text::typed_mismatch(expected), theme.dim())
                },
            ]));
            frame.render_widget(
                Paragraph::new(lines)
                    .block(block(title))
                    .wrap(Wrap { trim: false }),
                rect,
            );
        }
    }
}
