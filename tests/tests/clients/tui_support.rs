//! Shared helpers of the `tui_*` end-to-end tests: `seedward` in a detached tmux session on a
//! private socket (a real pseudo-terminal), typed into with `send-keys` and read with
//! `capture-pane`.

#![allow(dead_code, reason = "each test module uses a subset")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use seedward_tests::seedward_bin;

/// Longest wait for one expected screen.
pub const WAIT: Duration = Duration::from_secs(30);

/// A detached tmux session on a private socket, running one command.
pub struct Tmux {
    socket: PathBuf,
    name: String,
}

impl Tmux {
    pub fn start(dir: &Path, args: &[&str]) -> Tmux {
        Self::start_with_env(dir, &[], args)
    }

    /// Like [`Tmux::start`], with extra environment variables for `seedward` (e.g.
    /// `SEEDWARD_LOG`), set on its command line inside the pane, never on the test's.
    pub fn start_with_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Tmux {
        Self::start_at(dir, "seedward", env, args, (100, 30))
    }

    /// Like [`Tmux::start_with_env`] at 80×24, the smallest size the UI supports.
    pub fn start_small(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Tmux {
        Self::start_at(dir, "seedward", env, args, (80, 24))
    }

    /// A session named `name` (its own socket in `dir`, so that several can run side by
    /// side) of `width`×`height`.
    pub fn start_at(
        dir: &Path,
        name: &str,
        env: &[(&str, &str)],
        args: &[&str],
        (width, height): (u16, u16),
    ) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "tmux is needed for the TUI end-to-end tests; run scripts/install-test-deps.sh"
        );
        let socket = if name == "seedward" {
            dir.join("tmux.sock")
        } else {
            dir.join(format!("tmux-{name}.sock"))
        };
        let name = name.to_string();
        let (width, height) = (width.to_string(), height.to_string());
        let data = dir.join("xdg-data");
        let mut cmd = format!(
            "NO_COLOR=1 XDG_DATA_HOME={}",
            shell_quote(&data.display().to_string())
        );
        for (name, value) in env {
            cmd.push_str(&format!(" {name}={}", shell_quote(value)));
        }
        cmd.push(' ');
        cmd.push_str(&shell_quote(&seedward_bin().display().to_string()));
        for a in args {
            cmd.push(' ');
            cmd.push_str(&shell_quote(a));
        }
        // Keep the pane after exit so that the exit status can be read from the screen.
        let script = format!("{cmd}; echo \"SEEDWARD EXITED $?\"; sleep 600");
        let status = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                &width,
                "-y",
                &height,
            ])
            .arg(script)
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Tmux { socket, name }
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    /// Named keys (`Enter`, `Escape`, `Down`, `q`, …).
    pub fn keys(&self, keys: &[&str]) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
        // Give the UI a moment to handle each batch in order.
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Literal text.
    pub fn type_text(&self, text: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", &self.name, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until it contains `needle`; panics with the screen after [`WAIT`].
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {needle:?}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Tmux {
    /// Polls until the text of pane column `column` (see [`pane_text`]) contains `needle`;
    /// returns that text. Panics with the screen after [`WAIT`].
    pub fn wait_for_pane(&self, column: usize, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            let text = pane_text(&screen, column);
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {needle:?} in pane {column}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The text of one bordered pane, its rows joined with spaces (so that wrapped sentences
/// read whole): `column` counts `│`-separated segments, 1 for a full-width pane, 3 for the
/// right pane of a wizard (step list on the left).
pub fn pane_text(screen: &str, column: usize) -> String {
    let rows: Vec<&str> = screen
        .lines()
        .filter_map(|l| l.split('│').nth(column))
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    rows.join(" ")
}

/// `text` without any whitespace (for hashes that a narrow pane splits).
pub fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}
