//! The `coordinator` section: cold start, RSS, `GetStatus` and `SetManifest` latency and throughput.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use seedward_shared::history::Digest;

use crate::cli::{Bins, Opts};
use crate::material::{Material, digest};
use crate::measure::{Daemon, Memory, Stats, mib, ms, us};

#[derive(Debug, Default)]
pub(crate) struct CoordinatorReport {
    pub(crate) listening: Stats,
    pub(crate) cold_start: Stats,
    pub(crate) idle_uninitialized: Memory,
    pub(crate) idle_ready: Memory,
    pub(crate) after_load: Memory,
    pub(crate) idle_after_load: Memory,
    pub(crate) get_status: Stats,
    pub(crate) get_status_concurrent_per_s: f64,
    pub(crate) concurrency: usize,
    pub(crate) set_manifest: Stats,
    pub(crate) set_manifest_per_s: f64,
    /// fsync + fdatasync calls per `SetManifest`, counted by `strace -c` attached to the
    /// daemon (`None`: strace is not installed or could not attach).
    pub(crate) fsyncs_per_update: Option<f64>,
}

pub(crate) async fn coordinator_section(bins: &Bins, opts: &Opts) -> Result<CoordinatorReport> {
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
        .set_manifest(material.first_set(material.manifest(0)))
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
    let (fsyncs, _latest) = count_fsyncs(&daemon, &client, &material, n + 1, latest, opts).await?;
    report.fsyncs_per_update = fsyncs;
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

/// Counts the fsync and fdatasync calls of `updates` sequential `SetManifest`s (generations
/// from `first`) with `strace -f -c` attached to the running daemon. The counting is
/// strace's, in the kernel's syscall interface, so it includes every fsync the store makes
/// and nothing else's. Returns `None` (and says why) when strace is missing or cannot attach.
async fn count_fsyncs(
    daemon: &Daemon,
    client: &seedward::client::CoordinatorClient,
    material: &Material,
    first: usize,
    mut latest: Digest,
    opts: &Opts,
) -> Result<(Option<f64>, Digest)> {
    let updates = opts.reps(50, 10);
    let out = tempfile::NamedTempFile::new()?;
    let strace = std::process::Command::new("strace")
        .args(["-f", "-c", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(out.path())
        .arg("-p")
        .arg(daemon.pid().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut strace = match strace {
        Ok(child) => child,
        Err(e) => {
            eprintln!("fsync count skipped: cannot run strace: {e}");
            return Ok((None, latest));
        }
    };
    // strace attaches to every thread before the first traced call; give it time.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for generation in first..first + updates {
        let request = material.signed_update(generation, latest)?;
        let response = client.set_manifest(request).await?;
        latest = digest(&response.transition_hash)?;
    }
    // SIGINT makes strace detach and write its summary.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status();
    let status = strace.wait()?;
    let summary = std::fs::read_to_string(out.path()).unwrap_or_default();
    let calls: u64 = summary
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = *fields.last()?;
            (name == "fsync" || name == "fdatasync")
                .then(|| fields.get(3)?.parse::<u64>().ok())
                .flatten()
        })
        .sum();
    if calls == 0 {
        eprintln!("fsync count skipped: strace ({status}) counted nothing:\n{summary}");
        return Ok((None, latest));
    }
    let per_update = calls as f64 / updates as f64;
    eprintln!(
        "fsyncs per SetManifest: {per_update:.2} ({calls} over {updates} updates, strace -f -c)"
    );
    Ok((Some(per_update), latest))
}
