//! Measurement helpers: timing samples, statistics, memory, and the daemon under test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use seedward::client::{CoordinatorClient, Trust};

use crate::cli::Bins;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub(crate) n: usize,
    pub(crate) min: Duration,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    pub(crate) mean: Duration,
}

impl Stats {
    pub(crate) fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort();
        let at = |q: f64| {
            let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted[i.min(sorted.len() - 1)]
        };
        let total: Duration = sorted.iter().sum();
        Self {
            n: sorted.len(),
            min: sorted[0],
            p50: at(0.5),
            p99: at(0.99),
            max: sorted[sorted.len() - 1],
            mean: total / sorted.len() as u32,
        }
    }
}

/// Runs `f` `n` times and returns each duration.
pub(crate) fn sample(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        out.push(t.elapsed());
    }
    Ok(out)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) rss_kib: u64,
    pub(crate) hwm_kib: u64,
}

pub(crate) fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    })
}

/// Resets the peak RSS (VmHWM) of `pid` to its current RSS (Linux `clear_refs` 5), so that
/// the peak of one operation can be read afterwards.
pub(crate) fn reset_peak(pid: u32) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("cannot reset the peak RSS of {pid}"))
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A `seedward-coordinator` process started by the bench.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) addr: String,
    /// Spawn → the "listening on" line.
    pub(crate) listening_after: Duration,
    pub(crate) spawned_at: Instant,
}

impl Daemon {
    pub(crate) fn start(bins: &Bins, state_dir: &Path) -> Result<Self> {
        Self::start_with(bins, state_dir, &[], &[])
    }

    /// [`Daemon::start`] with extra arguments and environment variables.
    pub(crate) fn start_with(
        bins: &Bins,
        state_dir: &Path,
        args: &[&std::ffi::OsStr],
        envs: &[(&str, &str)],
    ) -> Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        let log = std::fs::File::create(state_dir.with_extension("log"))?;
        let spawned_at = Instant::now();
        let mut child = Command::new(&bins.coordinator)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-level",
                "warn",
                "--state-dir",
            ])
            .arg(state_dir)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start seedward-coordinator")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let listening_after = spawned_at.elapsed();
        let Some(addr) = line
            .trim()
            .strip_prefix("seedward-coordinator listening on ")
        else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("seedward-coordinator did not start: {line:?}");
        };
        Ok(Self {
            addr: addr.to_string(),
            child,
            listening_after,
            spawned_at,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn memory(&self) -> Result<Memory> {
        memory(self.pid())
    }

    /// Connects (retrying until the TLS handshake succeeds).
    pub(crate) async fn connect(&self) -> Result<CoordinatorClient> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match CoordinatorClient::connect(&self.addr, Trust::FirstUse).await {
                Ok(client) => return Ok(client),
                Err(err) if Instant::now() > deadline => {
                    bail!("cannot connect to the Coordinator at {}: {err}", self.addr)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }

    /// Connects and calls `GetStatus` until it succeeds; returns the client and the time
    /// from spawn.
    pub(crate) async fn first_status(&self) -> Result<(CoordinatorClient, Duration)> {
        let client = self.connect().await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.status().await {
                Ok(_) => return Ok((client, self.spawned_at.elapsed())),
                Err(status) if Instant::now() > deadline => {
                    bail!("the Coordinator never answered GetStatus: {status}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
