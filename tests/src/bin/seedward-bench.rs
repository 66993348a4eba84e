//! `seedward-bench`: end-to-end benchmarks of the real release binaries, with the
//! cryptographic floor measured in the same run.
//!
//! ```text
//! cargo run --release -p seedward-tests --bin seedward-bench -- all        # ~5 min, writes docs/perf/
//! cargo run --release -p seedward-tests --bin seedward-bench -- all --quick  # ~1 min, writes target/perf-quick/
//! ```
//!
//! Sections (each also runs alone: `coordinator`, `history`, `tui`):
//! - **coordinator**: cold start (spawn → first successful `GetStatus` over TLS), idle RSS,
//!   `GetStatus` and `SetManifest` latency (p50/p99) and throughput on loopback with TLS;
//! - **history**: for 1, 1k, 10k and 100k transitions, `Recover` (after a restart),
//!   `GetManifests`, the client's verification of the answer, and the daemon's peak RSS, each
//!   against the floor (one P-384 verification + SHA-256 of every blob + reading every file),
//!   which is measured in this process, in the same run, on the same files;
//! - **tui**: time to the first frame of the real `seedward` binary in a pseudo-terminal
//!   (`script`), frame render time with a 100k-entry audit timeline (`TestBackend`), chain
//!   verification of 100k entries, and the memory the audited history takes.
//!
//! Large histories are not built with 100k RPCs: the fixture goes through the same
//! [`History`] API the Coordinator uses, over a bulk store that writes the same file layout
//! as `FsStore` but without the per-file fsync, and only the latest pointer is signed (by the
//! key derived from the fixture's seed). The daemon then starts on that state directory in
//! the recovery-required state, exactly as after a restart.
//!
//! The binary builds the release `seedward-coordinator` and `seedward` next to itself
//! (`cargo build --release`, a no-op when fresh) when run through `cargo run`; pass
//! `--no-build` to skip that. Never used by tests: there are no timed assertions anywhere.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use p384::ecdsa::signature::hazmat::PrehashVerifier;
use rand_core::OsRng;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use seedward::client::{CoordinatorClient, Trust};
use seedward::ops::{self, AuditedHistory, SigningKeySource};
use seedward::ui::app::{self, App, Location};
use seedward::ui::screens::Screen;
use seedward::ui::screens::history::HistoryView;
use seedward_proto::v1 as pb;
use seedward_shared::history::{
    Digest, History, HistoryStore, LatestTransition, StoreError, StoreKey, Transition,
    verify_manifest_list,
};
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::manifest::Manifest;
use seedward_shared::recovery::seal_recovery;
use seedward_shared::seed::{Salt, Seed, SeedEngine};

const FULL_SIZES: [usize; 4] = [1, 1_000, 10_000, 100_000];
const QUICK_SIZES: [usize; 3] = [1, 1_000, 10_000];

fn main() -> Result<()> {
    let opts = Opts::parse()?;
    let bins = Bins::locate(opts.build)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let machine = Machine::describe();
    eprintln!("machine: {}", machine.one_line());
    let mut report = Report {
        machine,
        quick: opts.quick,
        ..Report::default()
    };
    if opts.sections.coordinator {
        report.coordinator = Some(runtime.block_on(coordinator_section(&bins, &opts))?);
    }
    if opts.sections.history {
        report.history = runtime.block_on(history_section(&bins, &opts))?;
    }
    if opts.sections.tui {
        report.tui = Some(runtime.block_on(tui_section(&bins, &opts))?);
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let markdown = report.markdown();
    let results = opts.out.join("results.md");
    std::fs::write(&results, &markdown)
        .with_context(|| format!("cannot write {}", results.display()))?;
    if report.history.len() >= 2 {
        let svg_path = opts.out.join("history-scaling.svg");
        std::fs::write(&svg_path, scaling_svg(&report.history))
            .with_context(|| format!("cannot write {}", svg_path.display()))?;
        eprintln!("wrote {}", svg_path.display());
    }
    println!("{markdown}");
    eprintln!("wrote {}", results.display());
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Options, binaries, machine
// ----------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default)]
struct Sections {
    coordinator: bool,
    history: bool,
    tui: bool,
}

#[derive(Debug)]
struct Opts {
    sections: Sections,
    quick: bool,
    build: bool,
    out: PathBuf,
    sizes: Vec<usize>,
}

const USAGE: &str =
    "usage: seedward-bench <all|coordinator|history|tui>... [--quick] [--no-build] [--out DIR]";

impl Opts {
    fn parse() -> Result<Self> {
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
                    }
                }
                "coordinator" => sections.coordinator = true,
                "history" => sections.history = true,
                "tui" => sections.tui = true,
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
        if !(sections.coordinator || sections.history || sections.tui) {
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

    fn reps(&self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The release binaries next to this executable.
struct Bins {
    coordinator: PathBuf,
    seedward: PathBuf,
}

impl Bins {
    fn locate(build: bool) -> Result<Self> {
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
struct Machine {
    cpu: String,
    cores: usize,
    memory_mib: u64,
    rustc: String,
    kernel: String,
    load: String,
}

impl Machine {
    fn describe() -> Self {
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

    fn one_line(&self) -> String {
        format!(
            "{} ({} cores), {} MiB RAM, Linux {}, {}, load average at start {}",
            self.cpu, self.cores, self.memory_mib, self.kernel, self.rustc, self.load
        )
    }
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

// ----------------------------------------------------------------------------------------
// Measurement helpers
// ----------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    n: usize,
    min: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
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
fn sample(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        out.push(t.elapsed());
    }
    Ok(out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

fn memory(pid: u32) -> Result<Memory> {
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

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ----------------------------------------------------------------------------------------
// The daemon
// ----------------------------------------------------------------------------------------

/// A `seedward-coordinator` process started by the bench.
struct Daemon {
    child: Child,
    addr: String,
    /// Spawn → the "listening on" line.
    listening_after: Duration,
    spawned_at: Instant,
}

impl Daemon {
    fn start(bins: &Bins, state_dir: &Path) -> Result<Self> {
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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn memory(&self) -> Result<Memory> {
        memory(self.pid())
    }

    /// Connects (retrying until the TLS handshake succeeds).
    async fn connect(&self) -> Result<CoordinatorClient> {
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
    async fn first_status(&self) -> Result<(CoordinatorClient, Duration)> {
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

// ----------------------------------------------------------------------------------------
// Deployment material: keys, manifests, seed
// ----------------------------------------------------------------------------------------

struct Material {
    owner: OwnerKeyPair,
    workload: WorkloadOwnerKeyPair,
    /// The template manifest, with `"ReferenceValues": {}` to be filled per generation.
    template: String,
    policies: Vec<Vec<u8>>,
}

const REFERENCE_VALUES_EMPTY: &str = "\"ReferenceValues\": {}";

impl Material {
    fn new() -> Result<Self> {
        let owner = OwnerKeyPair::generate(&mut OsRng);
        let workload = WorkloadOwnerKeyPair::generate(&mut OsRng);
        let template = Manifest::template(
            &[owner.public_key().to_hex()],
            &[workload.public_key().to_hex()],
        );
        let text = String::from_utf8(template.manifest)?;
        if text.matches(REFERENCE_VALUES_EMPTY).count() != 1 {
            bail!("the manifest template changed shape; update seedward-bench");
        }
        let material = Self {
            owner,
            workload,
            template: text,
            policies: template.policies,
        };
        Manifest::parse_and_validate(material.manifest(0))
            .context("the bench manifest is not valid")?;
        Ok(material)
    }

    /// A realistic manifest (about 900 bytes: two policies, one owner of each kind), distinct
    /// per generation.
    fn manifest(&self, generation: usize) -> Vec<u8> {
        self.template
            .replacen(
                REFERENCE_VALUES_EMPTY,
                &format!("\"ReferenceValues\": {{\"generation\": {generation}}}"),
                1,
            )
            .into_bytes()
    }

    fn signed_update(&self, generation: usize, previous: Digest) -> Result<pb::SetManifestRequest> {
        let manifest = self.manifest(generation);
        let proposed = Transition::after(previous, Digest::of(&manifest)).hash();
        let signature = self
            .workload
            .sign_transition(proposed.as_bytes())
            .context("signing the update")?;
        Ok(pb::SetManifestRequest {
            manifest,
            policies: self.policies.clone(),
            previous_transition_hash: Some(previous.as_bytes().to_vec()),
            signature,
        })
    }
}

fn digest(bytes: &[u8]) -> Result<Digest> {
    Digest::from_slice(bytes).context("not a 32-byte hash")
}

// ----------------------------------------------------------------------------------------
// Coordinator section
// ----------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct CoordinatorReport {
    listening: Stats,
    cold_start: Stats,
    idle_uninitialized: Memory,
    idle_ready: Memory,
    after_load: Memory,
    idle_after_load: Memory,
    get_status: Stats,
    get_status_concurrent_per_s: f64,
    concurrency: usize,
    set_manifest: Stats,
    set_manifest_per_s: f64,
}

async fn coordinator_section(bins: &Bins, opts: &Opts) -> Result<CoordinatorReport> {
    eprintln!("== coordinator");
    let tmp = tempfile::tempdir()?;
    let mut report = CoordinatorReport::default();

    // Cold start: a fresh state dir each time.
    let starts = opts.reps(15, 5);
    let mut listening = Vec::new();
    let mut serving = Vec::new();
    for i in 0..starts {
        let daemon = Daemon::start(bins, &tmp.path().join(format!("cold-{i}")))?;
        let (_, to_status) = daemon.first_status().await?;
        listening.push(daemon.listening_after);
        serving.push(to_status);
    }
    report.listening = Stats::of(&listening);
    report.cold_start = Stats::of(&serving);
    eprintln!(
        "cold start: listening p50 {:.1} ms, first GetStatus p50 {:.1} ms",
        ms(report.listening.p50),
        ms(report.cold_start.p50)
    );

    // Idle RSS, uninitialized, then ready.
    let daemon = Daemon::start(bins, &tmp.path().join("main"))?;
    let (client, _) = daemon.first_status().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    report.idle_uninitialized = daemon.memory()?;
    let material = Material::new()?;
    let first = client
        .set_manifest(pb::SetManifestRequest {
            manifest: material.manifest(0),
            policies: material.policies.clone(),
            previous_transition_hash: Some(Digest::ZERO.as_bytes().to_vec()),
            signature: Vec::new(),
        })
        .await
        .context("first SetManifest")?;
    let mut latest = digest(&first.transition_hash)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    report.idle_ready = daemon.memory()?;

    // GetStatus latency, sequential on one connection.
    for _ in 0..50 {
        client.status().await?;
    }
    let n = opts.reps(3000, 500);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client.status().await?;
        samples.push(t.elapsed());
    }
    report.get_status = Stats::of(&samples);

    // GetStatus throughput: `concurrency` requests in flight on one HTTP/2 connection.
    report.concurrency = 16;
    let window = Duration::from_secs(if opts.quick { 1 } else { 3 });
    let deadline = Instant::now() + window;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..report.concurrency {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                if client.status().await.is_ok() {
                    done += 1;
                }
            }
            done
        }));
    }
    let mut total = 0u64;
    for task in tasks {
        total += task.await?;
    }
    report.get_status_concurrent_per_s = total as f64 / started.elapsed().as_secs_f64();

    // SetManifest latency: signed, atomic updates, one after another (each is fsynced).
    let n = opts.reps(200, 40);
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    let mut signing = Duration::ZERO;
    for generation in 1..=n {
        let t = Instant::now();
        let request = material.signed_update(generation, latest)?;
        signing += t.elapsed();
        let t = Instant::now();
        let response = client.set_manifest(request).await?;
        samples.push(t.elapsed());
        latest = digest(&response.transition_hash)?;
    }
    report.set_manifest = Stats::of(&samples);
    report.set_manifest_per_s =
        n as f64 / (started.elapsed().saturating_sub(signing)).as_secs_f64();
    report.after_load = daemon.memory()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.idle_after_load = daemon.memory()?;
    eprintln!(
        "GetStatus p50 {:.0} µs p99 {:.0} µs, {:.0}/s at {} in flight; SetManifest p50 {:.2} ms p99 {:.2} ms; RSS idle {:.1} MiB, after load {:.1} MiB (peak {:.1})",
        us(report.get_status.p50),
        us(report.get_status.p99),
        report.get_status_concurrent_per_s,
        report.concurrency,
        ms(report.set_manifest.p50),
        ms(report.set_manifest.p99),
        mib(report.idle_ready.rss_kib),
        mib(report.idle_after_load.rss_kib),
        mib(report.idle_after_load.hwm_kib),
    );
    Ok(report)
}

// ----------------------------------------------------------------------------------------
// History section
// ----------------------------------------------------------------------------------------

/// A [`HistoryStore`] with `FsStore`'s file layout (`<root>/<key>`) but plain writes: no temp
/// file, no fsync. Only for building fixtures: 200,000 fsyncs would measure the disk, not
/// Seedward.
struct BulkStore {
    root: PathBuf,
}

impl BulkStore {
    fn new(root: PathBuf) -> Result<Self> {
        for dir in ["manifests", "policies", "transitions"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self { root })
    }

    fn io(key: &StoreKey, err: &std::io::Error) -> StoreError {
        StoreError::Io {
            key: key.as_str().to_string(),
            message: err.to_string(),
        }
    }
}

impl HistoryStore for BulkStore {
    fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(self.root.join(key.as_str())) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(key, &e)),
        }
    }

    fn set(&self, key: &StoreKey, value: &[u8]) -> Result<(), StoreError> {
        std::fs::write(self.root.join(key.as_str()), value).map_err(|e| Self::io(key, &e))
    }

    fn compare_and_swap(
        &self,
        key: &StoreKey,
        old: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(), StoreError> {
        let current = self.get(key)?;
        if current.as_deref() != old {
            return Err(StoreError::Conflict { current });
        }
        self.set(key, new)
    }
}

struct Fixture {
    state_dir: PathBuf,
    seed: Seed,
    salt: Salt,
    /// Every file of the history (policies, manifests, transitions, latest).
    files: Vec<PathBuf>,
    total_bytes: u64,
    build_time: Duration,
}

/// Builds an `n`-transition history in `<state_dir>/history` through [`History`].
fn build_fixture(material: &Material, n: usize, state_dir: &Path) -> Result<Fixture> {
    let t = Instant::now();
    let seed = Seed::generate(&mut OsRng);
    let salt = Salt::generate(&mut OsRng);
    let engine = SeedEngine::new(&seed, &salt)?;
    let root = state_dir.join("history");
    let history = History::new(BulkStore::new(root.clone())?);
    let mut files = Vec::with_capacity(2 * n + 3);
    let mut total_bytes = 0u64;
    for policy in &material.policies {
        let hash = history.put_policy(policy)?;
        files.push(root.join(StoreKey::policy(&hash).as_str()));
        total_bytes += policy.len() as u64;
    }
    let mut previous = Digest::ZERO;
    let mut manifest_bytes = 0u64;
    for generation in 0..n {
        let manifest = material.manifest(generation);
        manifest_bytes += manifest.len() as u64;
        let manifest_hash = history.put_manifest(&manifest)?;
        files.push(root.join(StoreKey::manifest(&manifest_hash).as_str()));
        previous = history.put_transition(&Transition::after(previous, manifest_hash))?;
        files.push(root.join(StoreKey::transition(&previous).as_str()));
    }
    history.set_latest(None, previous, engine.transaction_signing_key())?;
    files.push(root.join(StoreKey::LATEST));
    total_bytes += manifest_bytes + 64 * n as u64;
    Ok(Fixture {
        state_dir: state_dir.to_path_buf(),
        seed,
        salt,
        files,
        total_bytes,
        build_time: t.elapsed(),
    })
}

/// The floor, measured here on the fixture's files: reading every file, SHA-256 of every
/// blob, one P-384 verification.
#[derive(Debug, Clone, Copy, Default)]
struct Floor {
    read: Duration,
    sha256: Duration,
    verify: Duration,
}

impl Floor {
    fn total(&self) -> Duration {
        self.read + self.sha256 + self.verify
    }
}

fn measure_floor(fixture: &Fixture, verify: Duration, reps: usize) -> Result<Floor> {
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let read = sample(reps, || {
        blobs = fixture
            .files
            .iter()
            .map(std::fs::read)
            .collect::<std::io::Result<_>>()?;
        Ok(())
    })?;
    let sha = sample(reps, || {
        let mut acc = 0u8;
        for blob in &blobs {
            acc ^= Digest::of(blob).as_bytes()[0];
        }
        std::hint::black_box(acc);
        Ok(())
    })?;
    Ok(Floor {
        read: Stats::of(&read).p50,
        sha256: Stats::of(&sha).p50,
        verify,
    })
}

/// One P-384 verification of a 32-byte prehash (median).
fn measure_verify() -> Result<Duration> {
    let key = p384::ecdsa::SigningKey::random(&mut OsRng);
    let latest = LatestTransition::sign(Digest::of(b"floor"), &key)?;
    let signature = p384::ecdsa::DerSignature::from_bytes(latest.signature())?;
    let vk = *key.verifying_key();
    let samples = sample(200, || {
        vk.verify_prehash(latest.transition_hash().as_bytes(), &signature)?;
        Ok(())
    })?;
    Ok(Stats::of(&samples).p50)
}

#[derive(Debug, Default, Clone)]
struct HistoryRow {
    n: usize,
    total_bytes: u64,
    fixture_build: Duration,
    floor: Floor,
    daemon_start: Duration,
    first_status: Duration,
    recover: Stats,
    get_manifests: Stats,
    response_bytes: usize,
    client_verify: Stats,
    idle: Memory,
    after_recover: Memory,
    after_get_manifests: Memory,
}

async fn history_section(bins: &Bins, opts: &Opts) -> Result<Vec<HistoryRow>> {
    eprintln!("== history");
    let verify = measure_verify()?;
    eprintln!("floor: one P-384 verification {:.3} ms", ms(verify));
    let material = Material::new()?;
    let mut rows = Vec::new();
    for &n in &opts.sizes {
        let tmp = tempfile::tempdir()?;
        let fixture = build_fixture(&material, n, &tmp.path().join("state"))?;
        eprintln!(
            "n = {n}: fixture {:.1} MB in {:.1} s",
            fixture.total_bytes as f64 / 1e6,
            fixture.build_time.as_secs_f64()
        );
        let big = n >= 100_000;
        let floor = measure_floor(&fixture, verify, if big { 3 } else { 5 })?;
        let mut row = HistoryRow {
            n,
            total_bytes: fixture.total_bytes,
            fixture_build: fixture.build_time,
            floor,
            ..HistoryRow::default()
        };

        // Recover: restart (recovery required), fetch a challenge, seal, recover.
        let reps = if big {
            opts.reps(3, 1)
        } else {
            opts.reps(5, 3)
        };
        let mut recover = Vec::new();
        let mut daemon = None;
        for rep in 0..reps {
            drop(daemon.take());
            let d = Daemon::start(bins, &fixture.state_dir)?;
            let client = d.connect().await?;
            // The first GetStatus of a process awaiting recovery walks the chain to count
            // the generations (later ones reuse the count).
            let t = Instant::now();
            let status = client.status().await?;
            let first_status = t.elapsed();
            if status.generation != n as u64 {
                bail!(
                    "the daemon counts {} transitions, the fixture has {n}",
                    status.generation
                );
            }
            if rep == 0 {
                row.daemon_start = d.listening_after;
                row.first_status = first_status;
                row.idle = d.memory()?;
            }
            let request = seal(&status, &material.owner, &fixture.seed, &fixture.salt)?;
            let t = Instant::now();
            let response = client.recover(request).await.context("Recover")?;
            recover.push(t.elapsed());
            if response.generation != n as u64 {
                bail!("Recover answered generation {}", response.generation);
            }
            row.after_recover = d.memory()?;
            daemon = Some((d, client));
        }
        row.recover = Stats::of(&recover);
        let Some((daemon, client)) = daemon else {
            bail!("no recovery ran");
        };

        // GetManifests (READY, verified) and the client's check of the answer.
        let key = *SeedEngine::new(&fixture.seed, &fixture.salt)?.transaction_verifying_key();
        let reps = if big {
            opts.reps(3, 1)
        } else {
            opts.reps(10, 3)
        };
        let mut fetch = Vec::new();
        let mut check = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let response = client.manifests().await.context("GetManifests")?;
            fetch.push(t.elapsed());
            row.response_bytes = response.manifests.iter().map(Vec::len).sum::<usize>()
                + response.policies.iter().map(Vec::len).sum::<usize>();
            if response.manifests.len() != n || !response.verified {
                bail!(
                    "GetManifests returned {} manifests",
                    response.manifests.len()
                );
            }
            let latest = LatestTransition::from_parts(
                &response.latest_transition_hash,
                &response.latest_signature,
            )?;
            let t = Instant::now();
            let entries = verify_manifest_list(&response.manifests, &latest, &key)
                .map_err(|e| anyhow::anyhow!("the history does not verify: {e}"))?;
            check.push(t.elapsed());
            std::hint::black_box(entries);
        }
        row.get_manifests = Stats::of(&fetch);
        row.client_verify = Stats::of(&check);
        row.after_get_manifests = daemon.memory()?;
        eprintln!(
            "n = {n}: floor {:.1} ms (read {:.1} + sha {:.1} + verify {:.1}); Recover p50 {:.1} ms ({:.2}x); GetManifests p50 {:.1} ms ({:.2}x); client verify {:.1} ms; RSS idle {:.1} MiB, peak after Recover {:.1} MiB, after GetManifests {:.1} MiB; history {:.1} MB",
            ms(floor.total()),
            ms(floor.read),
            ms(floor.sha256),
            ms(floor.verify),
            ms(row.recover.p50),
            ratio(row.recover.p50, floor.total()),
            ms(row.get_manifests.p50),
            ratio(row.get_manifests.p50, floor.total()),
            ms(row.client_verify.p50),
            mib(row.idle.rss_kib),
            mib(row.after_recover.hwm_kib),
            mib(row.after_get_manifests.hwm_kib),
            row.total_bytes as f64 / 1e6,
        );
        drop(daemon);
        rows.push(row);
        discard_later(tmp);
    }
    Ok(rows)
}

/// Deletes a fixture in a detached `rm -rf`: on a filesystem mounted with `discard`, unlinking
/// 200,000 files takes minutes, and nothing here needs to wait for it.
fn discard_later(dir: tempfile::TempDir) {
    let path = dir.keep();
    // `sh` returns at once; the backgrounded `rm` outlives it (and this process).
    let spawned = Command::new("sh")
        .arg("-c")
        .arg("rm -rf -- \"$0\" &")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !spawned.is_ok_and(|s| s.success()) {
        eprintln!("could not delete {}; remove it by hand", path.display());
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// Seals seed ‖ salt to the status's recovery challenge, as `seedward recover` does.
fn seal(
    status: &pb::GetStatusResponse,
    owner: &OwnerKeyPair,
    seed: &Seed,
    salt: &Salt,
) -> Result<pb::RecoverRequest> {
    let challenge = status
        .challenge
        .as_ref()
        .context("the Coordinator offers no recovery challenge")?;
    let public: [u8; 32] = challenge.public_key.as_slice().try_into()?;
    let nonce: [u8; 32] = challenge.nonce.as_slice().try_into()?;
    let latest: [u8; 32] = challenge.latest_transition_hash.as_slice().try_into()?;
    let envelope = seal_recovery(owner, &public, &nonce, &latest, seed, salt, &mut OsRng)?;
    Ok(pb::RecoverRequest {
        challenge_id: challenge.id.clone(),
        owner_public_key: owner.public_key().as_bytes().to_vec(),
        encapsulated_key: envelope.encapsulated_key.to_vec(),
        ciphertext: envelope.ciphertext,
    })
}

// ----------------------------------------------------------------------------------------
// TUI section
// ----------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct TuiReport {
    first_frame_process: Stats,
    first_frame_in_process: Duration,
    frame_repeat_dashboard: Stats,
    entries: usize,
    audit: Duration,
    verify_only: Duration,
    audit_rss_kib: u64,
    frame_top: Stats,
    frame_middle: Stats,
    frame_filtered: Stats,
}

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;

async fn tui_section(bins: &Bins, opts: &Opts) -> Result<TuiReport> {
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
    let manifests: Vec<Vec<u8>> = (0..n).map(|g| material.manifest(g)).collect();
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
    let before = memory(std::process::id())?;
    let t = Instant::now();
    let audit: AuditedHistory = ops::audit_response(
        response,
        Some((*key.verifying_key(), SigningKeySource::SeedShare)),
    )?;
    report.audit = t.elapsed();
    let after = memory(std::process::id())?;
    report.audit_rss_kib = after.rss_kib.saturating_sub(before.rss_kib);
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
        "{n} entries: audit (verify + parse) {:.1} ms, verify only {:.1} ms, +{:.1} MiB; frame p50 {:.3} ms (top), {:.3} ms (middle), {:.3} ms (filter typed)",
        ms(report.audit),
        ms(report.verify_only),
        mib(report.audit_rss_kib),
        ms(report.frame_top.p50),
        ms(report.frame_middle.p50),
        ms(report.frame_filtered.p50),
    );
    Ok(report)
}

/// Starts `seedward --coordinator ADDR` in a 120×40 pseudo-terminal (`script`) and returns
/// the time until its title bar appears on the terminal.
fn first_frame_in_pty(bins: &Bins, addr: &str, workspace: &Path) -> Result<Duration> {
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

// ----------------------------------------------------------------------------------------
// Report: markdown and the SVG plot
// ----------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Report {
    machine: Machine,
    quick: bool,
    coordinator: Option<CoordinatorReport>,
    history: Vec<HistoryRow>,
    tui: Option<TuiReport>,
}

fn count(n: usize) -> String {
    match n {
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

impl Report {
    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<!-- generated by seedward-bench{}; do not edit -->\n",
            if self.quick { " --quick" } else { "" }
        );
        let _ = writeln!(s, "Machine: {}.\n", self.machine.one_line());
        if let Some(c) = &self.coordinator {
            let _ = writeln!(s, "### Coordinator\n");
            let _ = writeln!(s, "| measurement | figure |\n|---|---|");
            let _ = writeln!(
                s,
                "| cold start: spawn → \"listening\" line | p50 {:.1} ms (min {:.1}, max {:.1}, n = {}) |",
                ms(c.listening.p50),
                ms(c.listening.min),
                ms(c.listening.max),
                c.listening.n
            );
            let _ = writeln!(
                s,
                "| cold start: spawn → first successful `GetStatus` over TLS (new connection) | p50 **{:.1} ms** (min {:.1}, max {:.1}) |",
                ms(c.cold_start.p50),
                ms(c.cold_start.min),
                ms(c.cold_start.max)
            );
            for (what, m) in [
                ("idle RSS, uninitialized", c.idle_uninitialized),
                (
                    "idle RSS, ready (after the first `SetManifest`)",
                    c.idle_ready,
                ),
                ("RSS right after the load below", c.after_load),
                ("idle RSS 1 s after the load", c.idle_after_load),
            ] {
                let _ = writeln!(
                    s,
                    "| {what} | VmRSS **{:.1} MiB**, VmHWM {:.1} MiB |",
                    mib(m.rss_kib),
                    mib(m.hwm_kib)
                );
            }
            let _ = writeln!(
                s,
                "| `GetStatus` latency, sequential, one TLS connection (READY) | p50 **{:.0} µs**, p99 **{:.0} µs** (n = {}) |",
                us(c.get_status.p50),
                us(c.get_status.p99),
                c.get_status.n
            );
            let _ = writeln!(
                s,
                "| `GetStatus` throughput, sequential | {:.0} /s |",
                1.0 / c.get_status.mean.as_secs_f64().max(f64::MIN_POSITIVE)
            );
            let _ = writeln!(
                s,
                "| `GetStatus` throughput, {} in flight on one connection | **{:.0} /s** |",
                c.concurrency, c.get_status_concurrent_per_s
            );
            let _ = writeln!(
                s,
                "| `SetManifest` latency, signed atomic update (fsynced) | p50 **{:.2} ms**, p99 **{:.2} ms** (n = {}) |",
                ms(c.set_manifest.p50),
                ms(c.set_manifest.p99),
                c.set_manifest.n
            );
            let _ = writeln!(
                s,
                "| `SetManifest` throughput, sequential (client signing excluded) | {:.0} /s |\n",
                c.set_manifest_per_s
            );
        }
        if !self.history.is_empty() {
            let _ = writeln!(
                s,
                "### History length: Recover and GetManifests vs the floor\n"
            );
            let _ = writeln!(
                s,
                "Floor = reading every file of the history + SHA-256 of every blob + one P-384 verification, measured by the bench on the same files in the same run (page cache warm, as for the daemon).\n"
            );
            let _ = writeln!(
                s,
                "| transitions | history bytes | floor (read + sha + verify) | `Recover` p50 | ratio | per transition | `GetManifests` p50 | ratio | per transition | client `verify_manifest_list` | first `GetStatus` (walk) |\n|---|---|---|---|---|---|---|---|---|---|---|"
            );
            for r in &self.history {
                let per = |d: Duration| us(d) / r.n as f64;
                let _ = writeln!(
                    s,
                    "| {} | {:.2} MB | {:.2} ms ({:.2} + {:.2} + {:.2}) | **{:.2} ms** | **{:.2}×** | {:.1} µs | {:.2} ms | {:.2}× | {:.1} µs | {:.2} ms | {:.2} ms |",
                    count(r.n),
                    r.total_bytes as f64 / 1e6,
                    ms(r.floor.total()),
                    ms(r.floor.read),
                    ms(r.floor.sha256),
                    ms(r.floor.verify),
                    ms(r.recover.p50),
                    ratio(r.recover.p50, r.floor.total()),
                    per(r.recover.p50),
                    ms(r.get_manifests.p50),
                    ratio(r.get_manifests.p50, r.floor.total()),
                    per(r.get_manifests.p50),
                    ms(r.client_verify.p50),
                    ms(r.first_status),
                );
            }
            let _ = writeln!(
                s,
                "\nIncremental cost per transition (between consecutive sizes; flat = linear):\n"
            );
            let _ = writeln!(
                s,
                "| from → to | `Recover` | `GetManifests` | floor |\n|---|---|---|---|"
            );
            for w in self.history.windows(2) {
                let (a, b) = (&w[0], &w[1]);
                let dn = (b.n - a.n) as f64;
                let inc = |x: Duration, y: Duration| (us(y) - us(x)) / dn;
                let _ = writeln!(
                    s,
                    "| {} → {} | {:.1} µs | {:.1} µs | {:.1} µs |",
                    count(a.n),
                    count(b.n),
                    inc(a.recover.p50, b.recover.p50),
                    inc(a.get_manifests.p50, b.get_manifests.p50),
                    inc(a.floor.total(), b.floor.total()),
                );
            }
            let _ = writeln!(
                s,
                "\nDaemon memory (KiB figures from /proc/<pid>/status):\n"
            );
            let _ = writeln!(
                s,
                "| transitions | history bytes | `GetManifests` response | VmRSS idle (recovery required) | VmHWM after `Recover` | VmHWM after `GetManifests` | peak ÷ history |\n|---|---|---|---|---|---|---|"
            );
            for r in &self.history {
                let _ = writeln!(
                    s,
                    "| {} | {:.2} MB | {:.2} MB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} |",
                    count(r.n),
                    r.total_bytes as f64 / 1e6,
                    r.response_bytes as f64 / 1e6,
                    mib(r.idle.rss_kib),
                    mib(r.after_recover.hwm_kib),
                    mib(r.after_get_manifests.hwm_kib),
                    (r.after_get_manifests.hwm_kib.saturating_sub(r.idle.rss_kib) as f64 * 1024.0)
                        / r.total_bytes as f64,
                );
            }
            let _ = writeln!(
                s,
                "\nFixture build (not a product figure): {}.\n",
                self.history
                    .iter()
                    .map(|r| format!("{} in {:.1} s", count(r.n), r.fixture_build.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(t) = &self.tui {
            let _ = writeln!(s, "### TUI and client\n");
            let _ = writeln!(s, "| measurement | figure |\n|---|---|");
            let _ = writeln!(
                s,
                "| first frame, real `seedward --coordinator` in a {WIDTH}×{HEIGHT} pty: spawn → title bar on the terminal | p50 **{:.1} ms** (min {:.1}, max {:.1}, n = {}) |",
                ms(t.first_frame_process.p50),
                ms(t.first_frame_process.min),
                ms(t.first_frame_process.max),
                t.first_frame_process.n
            );
            let _ = writeln!(
                s,
                "| first frame in-process: `App::new` + first draw into a TestBackend (cold) | {:.2} ms |",
                ms(t.first_frame_in_process)
            );
            let _ = writeln!(
                s,
                "| dashboard frame, repeated | p50 {:.1} µs |",
                us(t.frame_repeat_dashboard.p50)
            );
            let _ = writeln!(
                s,
                "| `verify_manifest_list`, {} entries | {:.1} ms |",
                count(t.entries),
                ms(t.verify_only)
            );
            let _ = writeln!(
                s,
                "| `audit_response` (verify + parse every manifest), {} entries | {:.1} ms |",
                count(t.entries),
                ms(t.audit)
            );
            let _ = writeln!(
                s,
                "| memory of the audited history, {} entries (VmRSS growth) | {:.1} MiB |",
                count(t.entries),
                mib(t.audit_rss_kib)
            );
            for (what, f) in [
                ("cursor on the newest entry", t.frame_top),
                ("cursor in the middle", t.frame_middle),
                ("a `/` filter typed (\"9\")", t.frame_filtered),
            ] {
                let _ = writeln!(
                    s,
                    "| history frame, {} entries, {what} | p50 **{:.3} ms**, p99 {:.3} ms |",
                    count(t.entries),
                    ms(f.p50),
                    ms(f.p99)
                );
            }
            s.push('\n');
        }
        s
    }
}

/// A log-log plot of cost vs history length: Recover, GetManifests, the floor and the
/// client's verification.
fn scaling_svg(rows: &[HistoryRow]) -> String {
    let (w, h) = (760.0_f64, 460.0_f64);
    let (left, right, top, bottom) = (70.0, 200.0, 40.0, 60.0);
    type Series = (&'static str, &'static str, fn(&HistoryRow) -> f64);
    let series: [Series; 4] = [
        ("Recover", "#d62728", |r| ms(r.recover.p50)),
        ("GetManifests", "#1f77b4", |r| ms(r.get_manifests.p50)),
        ("client verify", "#2ca02c", |r| ms(r.client_verify.p50)),
        ("floor (read+sha+verify)", "#555555", |r| {
            ms(r.floor.total())
        }),
    ];
    let xs: Vec<f64> = rows.iter().map(|r| (r.n as f64).log10()).collect();
    let all: Vec<f64> = rows
        .iter()
        .flat_map(|r| series.iter().map(move |(_, _, f)| f(r)))
        .filter(|v| *v > 0.0)
        .collect();
    let ymin = all
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let ymax = all
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        .log10()
        .ceil()
        .max(ymin + 1.0);
    let xmin = xs.first().copied().unwrap_or(0.0).floor();
    let xmax = xs.last().copied().unwrap_or(1.0).ceil().max(xmin + 1.0);
    let px = |x: f64| left + (x - xmin) / (xmax - xmin) * (w - left - right);
    let py = |y: f64| top + (ymax - y.max(1e-9).log10()) / (ymax - ymin) * (h - top - bottom);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">Seedward: cost vs history length (log-log, p50, generated by seedward-bench)</text>"#,
        w / 2.0
    );
    for d in (xmin as i32)..=(xmax as i32) {
        let x = px(d as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            h - bottom,
            h - bottom + 18.0,
            count(10usize.pow(d as u32))
        );
    }
    for d in (ymin as i32)..=(ymax as i32) {
        let y = py(10f64.powi(d));
        let label = match d {
            d if d < 0 => format!("{} µs", 10f64.powi(d + 3)),
            d if d < 3 => format!("{} ms", 10f64.powi(d)),
            d => format!("{} s", 10f64.powi(d - 3)),
        };
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">transitions in the history</text>"#,
        (left + w - right) / 2.0,
        h - 20.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">time per operation</text>"#,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0
    );
    for (i, (name, color, f)) in series.iter().enumerate() {
        let points: Vec<String> = rows
            .iter()
            .zip(&xs)
            .map(|(r, x)| format!("{:.1},{:.1}", px(*x), py(f(r))))
            .collect();
        let dash = if i == 3 {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            points.join(" ")
        );
        for p in &points {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"#);
        }
        let ly = top + 10.0 + 20.0 * i as f64;
        let lx = w - right + 15.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            lx + 25.0,
            lx + 30.0,
            ly + 4.0
        );
    }
    // A slope-1 guide: linear growth is parallel to it. In log-log coordinates it is the
    // line log t = log n + c; c puts it through the middle of the plot, and the segment is
    // clipped to the plot area (x and y in decades).
    if xmax > xmin {
        let (xmid, ymid) = ((xmin + xmax) / 2.0, (ymin + ymax) / 2.0);
        let c = ymid - xmid;
        let x0 = xmin.max(ymin - c);
        let x1 = xmax.min(ymax - c);
        if x1 > x0 {
            let at = |x: f64| (px(x), py(10f64.powf(x + c)));
            let ((ax, ay), (bx, by)) = (at(x0), at(x1));
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#888">slope 1 = linear:</text><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#bbb" stroke-dasharray="2 3"/>"##,
                w - right + 15.0,
                top + 110.0,
                ax,
                ay,
                bx,
                by
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
