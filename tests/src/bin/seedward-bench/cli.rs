//! Options, the binaries under test and the machine they run on.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{FULL_SIZES, QUICK_SIZES};

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sections {
    pub(crate) coordinator: bool,
    pub(crate) history: bool,
    pub(crate) tui: bool,
    pub(crate) ha: bool,
    pub(crate) workload: bool,
}

#[derive(Debug)]
pub(crate) struct Opts {
    pub(crate) sections: Sections,
    pub(crate) quick: bool,
    pub(crate) build: bool,
    pub(crate) out: PathBuf,
    pub(crate) sizes: Vec<usize>,
}

pub(crate) const USAGE: &str = "usage: seedward-bench <all|coordinator|history|tui|workload|ha>... [--quick] [--no-build] [--out DIR]";

impl Opts {
    pub(crate) fn parse() -> Result<Self> {
        let mut sections = Sections::default();
        let mut quick = false;
        let mut build = true;
        let mut out = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "all" => {
                    sections = Sections {
                        coordinator: true,
                        history: true,
                        tui: true,
                        ha: true,
                        workload: true,
                    }
                }
                "coordinator" => sections.coordinator = true,
                "history" => sections.history = true,
                "tui" => sections.tui = true,
                "ha" => sections.ha = true,
                "workload" => sections.workload = true,
                "--quick" => quick = true,
                "--no-build" => build = false,
                "--out" => out = Some(PathBuf::from(args.next().context(USAGE)?)),
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        if !(sections.coordinator
            || sections.history
            || sections.tui
            || sections.workload
            || sections.ha)
        {
            bail!("say what to run\n{USAGE}");
        }
        let workspace = workspace_root();
        let out = out.unwrap_or_else(|| {
            if quick {
                workspace.join("target/perf-quick")
            } else {
                workspace.join("docs/perf")
            }
        });
        let sizes = if quick {
            QUICK_SIZES.to_vec()
        } else {
            FULL_SIZES.to_vec()
        };
        Ok(Self {
            sections,
            quick,
            build,
            out,
            sizes,
        })
    }

    pub(crate) fn reps(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The release binaries next to this executable.
pub(crate) struct Bins {
    pub(crate) coordinator: PathBuf,
    pub(crate) seedward: PathBuf,
}

impl Bins {
    pub(crate) fn locate(build: bool) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let dir = exe
            .parent()
            .context("this executable has no directory")?
            .to_path_buf();
        let release = dir.file_name().is_some_and(|n| n == "release");
        if !release {
            eprintln!(
                "WARNING: seedward-bench runs from {} (not a release build): figures are meaningless; use cargo run --release",
                dir.display()
            );
        }
        if build && let Some(cargo) = std::env::var_os("CARGO") {
            let mut cmd = Command::new(cargo);
            cmd.args([
                "build",
                "--locked",
                "-p",
                "seedward-coordinator",
                "--bin",
                "seedward-coordinator",
                "-p",
                "seedward",
                "--bin",
                "seedward",
            ])
            .current_dir(workspace_root());
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().context("cannot run cargo build")?;
            if !status.success() {
                bail!("building seedward-coordinator and seedward failed");
            }
        }
        let bins = Self {
            coordinator: dir.join("seedward-coordinator"),
            seedward: dir.join("seedward"),
        };
        for bin in [&bins.coordinator, &bins.seedward] {
            if !bin.exists() {
                bail!(
                    "{} is missing: run through `cargo run --release -p seedward-tests --bin seedward-bench`, or build it first",
                    bin.display()
                );
            }
        }
        Ok(bins)
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) memory_mib: u64,
    pub(crate) rustc: String,
    pub(crate) kernel: String,
    pub(crate) load: String,
}

impl Machine {
    pub(crate) fn describe() -> Self {
        let lscpu = command_output("lscpu", &[]);
        let cpu = lscpu
            .lines()
            .find_map(|l| l.strip_prefix("Model name:"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb / 1024);
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            memory_mib,
            rustc: command_output("rustc", &["--version"]).trim().to_string(),
            kernel: command_output("uname", &["-r"]).trim().to_string(),
            load: std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }

    pub(crate) fn one_line(&self) -> String {
        format!(
            "{} ({} cores), {} MiB RAM, Linux {}, {}, load average at start {}",
            self.cpu, self.cores, self.memory_mib, self.kernel, self.rustc, self.load
        )
    }
}

pub(crate) fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
