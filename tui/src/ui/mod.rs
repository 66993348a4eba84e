//! The terminal UI (ratatui + crossterm).
//!
//! | module | role |
//! |---|---|
//! | [`app`] | the shell: the active screen, the one popup slot, `update(&mut App, Action)`, `on_event(&mut App, Event)` and `tick` (each returns the effects to run) routed to the screen; `render` draws the frame around it |
//! | [`screens`] | one room per screen (dashboard, setup, recovery, history, update, keys): its state, its update, its drawing |
//! | [`components`] | what several screens use: the popups (help, message, confirmations), text field, list, scrolling pane, … |
//! | [`shared`] | what every screen reads: the Coordinator's health, the key store listing |
//! | [`effects`] | runs effects (ops, key store, files) on the tokio runtime; results come back as events |
//! | [`keymap`] | the one table of keys → actions; it also feeds the footer and the help overlay |
//! | [`text`] | every user-facing string |
//! | [`theme`] | styles, with or without colour |
//!
//! The loop: draw → wait up to 100 ms for a terminal event → map the key through the keymap
//! → `update` → spawn the effects → apply the events that came back → every 2 s refresh the
//! status.

pub mod app;
pub mod components;
pub mod effects;
pub mod keymap;
pub mod screens;
pub mod shared;
pub mod text;
pub mod theme;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_board;
#[cfg(test)]
mod tests_threshold;
#[cfg(test)]
mod tests_ux;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ratatui::crossterm::event::{self, Event as TermEvent};

use crate::keystore::{KeyStore, KeyStorePreference};
use crate::workspace::Workspace;
use app::{App, Location};
use keymap::Key;

/// What `seedward` (no subcommand) was started with.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// `None`: start a local Coordinator on loopback.
    pub coordinator: Option<String>,
    pub workspace: PathBuf,
    pub no_color: bool,
    /// No box drawing, no colour, ASCII marks (`--plain`, `TERM=dumb`).
    pub plain: bool,
    /// Auditor mode (`--read-only`): no setup, recovery, update or key management keys.
    pub read_only: bool,
    pub key_store: KeyStorePreference,
    /// State directory of the local Coordinator (default: the platform data dir).
    pub state_dir: Option<PathBuf>,
    /// How the Coordinator's evidence is judged (trust anchors, revocation, collateral).
    pub appraisal: crate::client::evidence::AppraisalPolicy,
}

pub use crate::embedded::LOCAL_PORT;
/// How often the status refreshes itself.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// The platform data directory of Seedward (`~/.local/share/seedward` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "seedward").map(|d| d.data_dir().to_path_buf())
}

/// Runs the TUI until the user quits.
/// How the UI ended: quit normally, or interrupted with Ctrl-C (exit status 130, like a
/// process ended by SIGINT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Quit,
    Interrupted,
}

pub fn run(opts: UiOptions) -> anyhow::Result<Ended> {
    use std::io::IsTerminal as _;
    // Say so before anything starts (a local Coordinator, the state lock).
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(text::NO_TERMINAL);
    }
    let no_color = opts.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let data = data_dir();
    init_logging(opts.state_dir.as_deref().or(data.as_deref()));

    let workspace = Workspace::new(&opts.workspace);
    let keys = KeyStore::open(&workspace, opts.key_store).with_context(|| {
        format!(
            "cannot open the key store of the workspace {}",
            opts.workspace.display()
        )
    })?;

    let (server, location) = match &opts.coordinator {
        Some(address) => (
            None,
            Location::Remote {
                address: address.clone(),
            },
        ),
        None => {
            let state_dir = match (&opts.state_dir, &data) {
                (Some(dir), _) => dir.clone(),
                (None, Some(data)) => data.join("coordinator"),
                (None, None) => anyhow::bail!(
                    "no data directory for the local Coordinator's state could be found; pass --state-dir DIR or --coordinator ADDR"
                ),
            };
            match crate::state_lock::acquire(&state_dir)? {
                crate::state_lock::Acquired::Held(mut lock) => {
                    let server = runtime.block_on(crate::embedded::start(&state_dir))?;
                    let address = server.local_addr().to_string();
                    lock.record_address(&address)?;
                    (Some((server, lock)), Location::Local { address, state_dir })
                }
                crate::state_lock::Acquired::Busy(holder) => {
                    match offer_the_holder(&state_dir, &holder)? {
                        Some(address) => (None, Location::Remote { address }),
                        None => return Ok(Ended::Quit),
                    }
                }
            }
        }
    };

    let (tx, rx) = mpsc::channel();
    let runner = effects::Runner::new(
        runtime.handle().clone(),
        tx,
        location.address().to_string(),
        workspace,
        keys,
        std::sync::Arc::new(opts.appraisal.clone()),
    );
    let mut app = App::new(location, opts.workspace.clone(), no_color || opts.plain);
    app.plain = opts.plain;
    app.read_only = opts.read_only;

    let mut terminal = ratatui::try_init().context(text::NO_TERMINAL)?;
    watch_for_hangup();
    let result = event_loop(&mut terminal, &mut app, &runner, &rx);
    ratatui::restore();
    runner.forget_share();

    // The lock is released only after the Coordinator stopped writing the state directory.
    if let Some((server, _lock)) = server {
        runtime
            .block_on(server.shutdown())
            .context("the local Coordinator did not shut down cleanly")?;
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    result?;
    Ok(if app.interrupted {
        Ended::Interrupted
    } else {
        Ended::Quit
    })
}

/// Another `seedward` holds the state directory: say who, and offer to connect to its
/// Coordinator (a line typed on the terminal, before the UI starts). `None`: exit.
fn offer_the_holder(
    state_dir: &std::path::Path,
    holder: &crate::state_lock::Holder,
) -> anyhow::Result<Option<String>> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let held = text::state_dir_held(
        &state_dir.display().to_string(),
        holder.pid,
        holder.address.as_deref(),
    );
    let Some(address) = holder.address.clone() else {
        anyhow::bail!("{held}; try again in a moment")
    };
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{held}; connect to it with --coordinator {address}")
    }
    let mut out = std::io::stdout();
    write!(out, "{held}.\n{}", text::CONNECT_OR_EXIT)?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim().eq_ignore_ascii_case("c") {
        Ok(Some(address))
    } else {
        writeln!(out, "{}", text::EXITED_NOTHING_STARTED)?;
        Ok(None)
    }
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    runner: &effects::Runner,
    rx: &mpsc::Receiver<effects::Event>,
) -> anyhow::Result<()> {
    for effect in app.start() {
        runner.spawn(effect);
    }
    let mut last_refresh = Instant::now();
    while !app.quit {
        if std::mem::take(&mut app.redraw) {
            terminal.clear().context("cannot clear the terminal")?;
        }
        terminal
            .draw(|frame| app::render(app, frame))
            .context("cannot draw")?;
        if event::poll(Duration::from_millis(100)).context("cannot read the terminal")? {
            match event::read().context("cannot read the terminal")? {
                TermEvent::Key(key) => {
                    if let Some(key) = Key::from_event(&key)
                        && let Some(action) = keymap::action_for(&app.contexts(), key)
                    {
                        for effect in app::update(app, action) {
                            runner.spawn(effect);
                        }
                    }
                }
                TermEvent::Paste(text) => {
                    for c in text.chars().filter(|c| !c.is_control()) {
                        if app.typing() {
                            for effect in app::update(app, keymap::Action::Char(c)) {
                                runner.spawn(effect);
                            }
                        }
                    }
                }
                // Resize: the next draw lays out for the new size.
                _ => {}
            }
        }
        while let Ok(event) = rx.try_recv() {
            for effect in app::on_event(app, event) {
                runner.spawn(effect);
            }
        }
        if last_refresh.elapsed() >= REFRESH_EVERY {
            last_refresh = Instant::now();
            for effect in app::tick(app) {
                runner.spawn(effect);
            }
        }
    }
    Ok(())
}

/// Exit status when the terminal hangs up (128 + SIGHUP, as if killed by it).
const EXIT_HANGUP: i32 = 129;

/// Ends the process when the terminal goes away.
///
/// Normally the kernel's SIGHUP does that. But when SIGHUP is ignored (`nohup`, `trap ''
/// HUP`, some supervisors), crossterm's reader spins on the hung-up terminal forever inside
/// `event::poll` (read returns EOF, it retries), burning a core with a decrypted seed share
/// possibly in memory. A thread waits for the terminal's hangup (`POLLHUP`) and exits: there
/// is nobody left to show anything to, and the process's memory, share included, goes with
/// it. An embedded Coordinator stops as after a crash, which its store is built for.
fn watch_for_hangup() {
    use std::os::fd::AsFd as _;
    // The terminal crossterm reads: stdin if it is one, else the controlling terminal.
    let tty: Box<dyn std::os::fd::AsFd + Send> =
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            Box::new(std::io::stdin())
        } else {
            match std::fs::File::open("/dev/tty") {
                Ok(file) => Box::new(file),
                Err(_) => return,
            }
        };
    let spawned = std::thread::Builder::new()
        .name("hangup-watch".into())
        .spawn(move || {
            use rustix::event::{PollFd, PollFlags, poll};
            loop {
                // No events asked for: poll reports only hangup and errors.
                let fd = tty.as_fd();
                let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::empty())];
                match poll(&mut fds, None) {
                    Ok(_) => {
                        let revents = fds[0].revents();
                        if revents.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                            tracing::warn!("the terminal hung up; exiting");
                            std::process::exit(EXIT_HANGUP);
                        }
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => {
                        tracing::warn!("cannot watch the terminal for a hangup: {e}");
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the terminal for a hangup: {e}");
    }
}

/// Sends tracing output to `<dir>/seedward.log` (never to the terminal the UI draws on).
/// Does nothing if a subscriber is already installed or the file cannot be opened.
fn init_logging(dir: Option<&std::path::Path>) {
    let Some(dir) = dir else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("seedward.log"))
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEEDWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}
