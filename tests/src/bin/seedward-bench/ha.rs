//! The `ha` section: the Coordinator on etcd (`--store etcd`, a real 3-member cluster on
//! loopback) against the filesystem store, in the same run.
//!
//! - `SetManifest` latency through the real daemon, fs vs etcd (signed, atomic updates, one
//!   after another);
//! - after a SIGKILL of the etcd leader: etcd's own election time (spawned poller: the first
//!   moment a surviving member names a new leader) and the time until a `SetManifest`
//!   through the Coordinator succeeds again, measured from the same kill.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use seedward::client::CoordinatorClient;
use seedward_shared::history::Digest;
use seedward_tests::etcd::EtcdCluster;

use crate::cli::{Bins, Opts};
use crate::material::{Material, digest};
use crate::measure::{Daemon, Stats, ms};

#[derive(Debug, Default)]
pub(crate) struct HaReport {
    pub(crate) set_fs: Stats,
    pub(crate) set_etcd: Stats,
    /// SIGKILL of the etcd leader → a surviving member names a new leader.
    pub(crate) election: Stats,
    /// The same kill → a `SetManifest` through the Coordinator succeeds.
    pub(crate) write_resumes: Stats,
    /// SIGKILL of a ready replica, restarted at once → READY again by peer recovery.
    pub(crate) peer_recovery: Stats,
}

async fn first_set(client: &CoordinatorClient, material: &Material) -> Result<Digest> {
    let first = client
        .set_manifest(material.first_set(material.manifest(0)))
        .await
        .context("first SetManifest")?;
    digest(&first.transition_hash)
}

/// `n` signed atomic updates after generation `from`; returns their latencies and the latest.
async fn updates(
    client: &CoordinatorClient,
    material: &Material,
    from: usize,
    n: usize,
    mut latest: Digest,
) -> Result<(Vec<Duration>, Digest)> {
    let mut samples = Vec::with_capacity(n);
    for generation in from + 1..=from + n {
        let request = material.signed_update(generation, latest)?;
        let t = Instant::now();
        let response = client.set_manifest(request).await?;
        samples.push(t.elapsed());
        latest = digest(&response.transition_hash)?;
    }
    Ok((samples, latest))
}

pub(crate) async fn ha_section(bins: &Bins, opts: &Opts) -> Result<HaReport> {
    eprintln!("== ha (etcd)");
    let tmp = tempfile::tempdir()?;
    let mut report = HaReport::default();
    let n = opts.reps(100, 20);

    // The filesystem store, as the baseline of this run.
    let material = Material::new()?;
    let daemon = Daemon::start(bins, &tmp.path().join("fs"))?;
    let (client, _) = daemon.first_status().await?;
    let latest = first_set(&client, &material).await?;
    let (samples, _) = updates(&client, &material, 0, n, latest).await?;
    report.set_fs = Stats::of(&samples);
    drop(daemon);

    // etcd.
    let mut cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(3)).await?;
    let endpoints = cluster.endpoints_csv();
    let flags = [
        "--store",
        "etcd",
        "--etcd-endpoints",
        &endpoints,
        "--replica-id",
        "bench",
    ];
    let args: Vec<&std::ffi::OsStr> = flags.iter().map(std::ffi::OsStr::new).collect();
    let daemon = Daemon::start_with(bins, &tmp.path().join("etcd"), &args, &[])?;
    let (client, _) = daemon.first_status().await?;
    let material = Material::new()?;
    let mut latest = first_set(&client, &material).await?;
    let (samples, new_latest) = updates(&client, &material, 0, n, latest).await?;
    report.set_etcd = Stats::of(&samples);
    latest = new_latest;
    let mut generation = n;

    // Failover: SIGKILL the leader, measure etcd's election and our first successful write.
    let kills = opts.reps(5, 2);
    let mut elections = Vec::new();
    let mut resumes = Vec::new();
    for _ in 0..kills {
        let (c, leader) = tokio::task::spawn_blocking(move || {
            let leader = cluster.wait_for_leader(Duration::from_secs(10));
            (cluster, leader)
        })
        .await?;
        cluster = c;
        let Some(leader) = leader else {
            bail!("the etcd cluster has no leader");
        };
        let killed_at = Instant::now();
        cluster.kill(leader);
        let cluster_arc = Arc::new(cluster);
        let done = Arc::new(AtomicBool::new(false));
        let poller = {
            let cluster = cluster_arc.clone();
            let done = done.clone();
            tokio::task::spawn_blocking(move || {
                while !done.load(Ordering::Relaxed) {
                    if cluster.leader().is_some_and(|l| l != leader) {
                        return Some(killed_at.elapsed());
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                None
            })
        };
        let deadline = killed_at + Duration::from_secs(30);
        loop {
            let request = material.signed_update(generation + 1, latest)?;
            match client.set_manifest(request).await {
                Ok(response) => {
                    resumes.push(killed_at.elapsed());
                    latest = digest(&response.transition_hash)?;
                    generation += 1;
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    // A write that landed although its answer was lost moves the latest.
                    if let Ok(status) = client.status().await
                        && let Ok(now) = digest(&status.latest_transition_hash)
                        && now != latest
                    {
                        latest = now;
                        generation += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => bail!("writes did not resume within 30 s of the leader's kill: {e}"),
            }
        }
        let election = tokio::time::timeout(Duration::from_secs(30), poller).await;
        done.store(true, Ordering::Relaxed);
        if let Ok(Ok(Some(t))) = election {
            elections.push(t);
        }
        cluster = Arc::try_unwrap(cluster_arc)
            .map_err(|_| anyhow::anyhow!("the election poller still holds the cluster"))?;
        cluster = tokio::task::spawn_blocking(move || {
            cluster.restart(leader);
            cluster.wait_healthy(Duration::from_secs(20));
            cluster
        })
        .await?;
    }
    report.election = Stats::of(&elections);
    report.write_resumes = Stats::of(&resumes);
    drop(daemon);
    report.peer_recovery = Stats::of(&peer_recovery(bins, &endpoints, tmp.path(), kills).await?);
    drop(cluster);
    eprintln!(
        "SetManifest p50 fs {:.2} ms, etcd {:.2} ms; leader SIGKILL → new leader p50 {:.0} ms, → our write succeeds p50 {:.0} ms; replica SIGKILL → ready again by peer recovery p50 {:.0} ms",
        ms(report.set_fs.p50),
        ms(report.set_etcd.p50),
        ms(report.election.p50),
        ms(report.write_resumes.p50),
        ms(report.peer_recovery.p50),
    );
    Ok(report)
}

/// Two replicas with the peer API on the same cluster (development mode, default backoff):
/// `kills` times, SIGKILL the second and start it again at once; the time from the kill to
/// its `GetStatus` saying READY (process start, etcd reads, the peer round, the chain check).
async fn peer_recovery(
    bins: &Bins,
    endpoints: &str,
    dir: &std::path::Path,
    kills: usize,
) -> Result<Vec<Duration>> {
    let start = |id: &str| {
        let flags = [
            "--store",
            "etcd",
            "--etcd-endpoints",
            endpoints,
            "--etcd-prefix",
            "/bench/peer",
            "--replica-id",
            id,
            "--attestation",
            "none",
            "--peer-listen",
            "127.0.0.1:0",
            "--allow-unattested-peers",
        ];
        let args: Vec<&std::ffi::OsStr> = flags.iter().map(std::ffi::OsStr::new).collect();
        Daemon::start_with(bins, &dir.join(id), &args, &[])
    };
    let ready = |client: CoordinatorClient| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(status) = client.status().await
                && status.state == seedward_proto::v1::CoordinatorState::Ready as i32
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the replica did not become ready by peer recovery within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let first = start("p1")?;
    let (client, _) = first.first_status().await?;
    first_set(&client, &Material::new()?).await?;
    let mut second = start("p2")?;
    ready(second.first_status().await?.0).await?;
    let mut samples = Vec::with_capacity(kills);
    for _ in 0..kills {
        let killed_at = Instant::now();
        drop(second);
        second = start("p2")?;
        ready(second.first_status().await?.0).await?;
        samples.push(killed_at.elapsed());
    }
    Ok(samples)
}
