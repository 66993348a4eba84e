//! The `tui` section: first frame in a pseudo-terminal, frame render time, audit memory.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand_core::OsRng;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use seedward::ops::{self, AuditedHistory, SigningKeySource};
use seedward::ui::app::{self, App, Location};
use seedward::ui::screens::Screen;
use seedward::ui::screens::history::HistoryView;
use seedward_proto::v1 as pb;
use seedward_shared::history::{LatestTransition, verify_manifest_list};

use crate::cli::{Bins, Opts};
use crate::material::Material;
use crate::measure::{Daemon, Stats, memory, mib, ms, sample};

#[derive(Debug, Default)]
pub(crate) struct TuiReport {
    pub(crate) first_frame_process: Stats,
    pub(crate) first_frame_in_process: Duration,
    pub(crate) frame_repeat_dashboard: Stats,
    pub(crate) entries: usize,
    pub(crate) audit: Duration,
    pub(crate) verify_only: Duration,
    pub(crate) audit_rss_kib: u64,
    /// The manifest bytes the audited history must keep for display.
    pub(crate) manifest_bytes: u64,
    pub(crate) frame_top: Stats,
    pub(crate) frame_middle: Stats,
    pub(crate) frame_filtered: Stats,
}

pub(crate) const WIDTH: u16 = 120;
pub(crate) const HEIGHT: u16 = 40;

pub(crate) async fn tui_section(bins: &Bins, opts: &Opts) -> Result<TuiReport> {
    eprintln!("== tui");
    let mut report = TuiReport::default();

    // In-process first frame: App construction + the first draw into a TestBackend.
    let tmp = tempfile::tempdir()?;
    let t = Instant::now();
    let mut app = App::new(
        Location::Remote {
            address: "127.0.0.1:1313".into(),
        },
        tmp.path().to_path_buf(),
        false,
    );
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    terminal.draw(|f| app::render(&mut app, f))?;
    report.first_frame_in_process = t.elapsed();
    report.frame_repeat_dashboard = Stats::of(&sample(200, || {
        terminal.draw(|f| app::render(&mut app, f))?;
        Ok(())
    })?);

    // The real binary in a pseudo-terminal: spawn → the first frame on the terminal.
    let daemon = Daemon::start(bins, &tmp.path().join("state"))?;
    daemon.first_status().await?;
    let reps = opts.reps(10, 3);
    let mut frames = Vec::new();
    for i in 0..reps {
        frames.push(first_frame_in_pty(
            bins,
            &daemon.addr,
            &tmp.path().join(format!("ws-{i}")),
        )?);
    }
    report.first_frame_process = Stats::of(&frames);
    drop(daemon);
    eprintln!(
        "first frame: real process in a pty p50 {:.1} ms (max {:.1}); in-process {:.2} ms",
        ms(report.first_frame_process.p50),
        ms(report.first_frame_process.max),
        ms(report.first_frame_in_process)
    );

    // A 100k-entry audited history: verification, memory, frames.
    let n = if opts.quick { 10_000 } else { 100_000 };
    report.entries = n;
    let material = Material::new()?;
    let key = p384::ecdsa::SigningKey::random(&mut OsRng);
    // Measured from before the manifests exist: the audited history is everything the
    // client holds for display, against the bytes it must keep (the manifests).
    let base = memory(std::process::id())?;
    let manifests: Vec<Vec<u8>> = (0..n).map(|g| material.manifest(g)).collect();
    report.manifest_bytes = manifests.iter().map(|m| m.len() as u64).sum();
    let tip = seedward_shared::history::chain_from_manifests(&manifests)
        .last()
        .map(|(h, _)| *h)
        .context("empty history")?;
    let latest = LatestTransition::sign(tip, &key)?;
    let t = Instant::now();
    std::hint::black_box(
        verify_manifest_list(&manifests, &latest, key.verifying_key())
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    report.verify_only = t.elapsed();
    let response = pb::GetManifestsResponse {
        manifests,
        latest_transition_hash: tip.as_bytes().to_vec(),
        latest_signature: latest.signature().to_vec(),
        verified: true,
        ..Default::default()
    };
    let t = Instant::now();
    let audit: AuditedHistory = ops::audit_response(
        response,
        Some((*key.verifying_key(), SigningKeySource::SeedShare)),
    )?;
    report.audit = t.elapsed();
    let after = memory(std::process::id())?;
    report.audit_rss_kib = after.rss_kib.saturating_sub(base.rss_kib);
    if !audit.all_verified() {
        bail!("the bench history does not verify");
    }

    let mut app = app;
    let mut view = HistoryView::new();
    view.set_audit(Some(Box::new(audit)));
    view.loading = false;
    app.screen = Screen::History(Box::new(view));
    let frame_reps = opts.reps(500, 100);
    let mut draw = |app: &mut App| -> Result<Stats> {
        Ok(Stats::of(&sample(frame_reps, || {
            terminal.draw(|f| app::render(app, f))?;
            Ok(())
        })?))
    };
    report.frame_top = draw(&mut app)?;
    if let Screen::History(h) = &mut app.screen {
        h.set_cursor(n / 2);
    }
    report.frame_middle = draw(&mut app)?;
    if let Screen::History(h) = &mut app.screen {
        h.set_cursor(0);
        h.set_filter("9");
    }
    report.frame_filtered = draw(&mut app)?;
    eprintln!(
        "{n} entries: audit {:.1} ms, verify only {:.1} ms, +{:.1} MiB ({:.2}x the {:.1} MiB of manifests); frame p50 {:.3} ms (top), {:.3} ms (middle), {:.3} ms (filter typed)",
        ms(report.audit),
        ms(report.verify_only),
        mib(report.audit_rss_kib),
        report.audit_rss_kib as f64 * 1024.0 / report.manifest_bytes.max(1) as f64,
        report.manifest_bytes as f64 / (1 << 20) as f64,
        ms(report.frame_top.p50),
        ms(report.frame_middle.p50),
        ms(report.frame_filtered.p50),
    );
    Ok(report)
}

/// Starts `seedward --coordinator ADDR` in a 120×40 pseudo-terminal (`script`) and returns
/// the time until its title bar appears on the terminal.
pub(crate) fn first_frame_in_pty(bins: &Bins, addr: &str, workspace: &Path) -> Result<Duration> {
    use std::os::unix::process::CommandExt as _;
    std::fs::create_dir_all(workspace)?;
    let inner = format!(
        "stty cols {WIDTH} rows {HEIGHT}; exec '{}' --coordinator {addr} --workspace '{}' --key-store file",
        bins.seedward.display(),
        workspace.display()
    );
    let started = Instant::now();
    let mut child = Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("cannot run `script` (util-linux) for the pseudo-terminal")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let rx = seedward_tests::notify_when_seen(stdout, b"Seedward");
    let shown = rx.recv_timeout(Duration::from_secs(20));
    // Stop the whole group (script and seedward).
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"q");
    }
    let _ = child.wait();
    let shown = shown.context("the TUI drew no frame within 20 s")?;
    Ok(shown.duration_since(started))
}
