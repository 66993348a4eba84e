//! The `history` section: large histories against the floor of their cryptography and I/O.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use p384::ecdsa::signature::hazmat::PrehashVerifier;
use rand_core::OsRng;
use seedward_proto::v1 as pb;
use seedward_shared::history::{
    Digest, History, HistoryStore, LatestTransition, StoreError, StoreKey, Transition,
    verify_manifest_list,
};
use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::recovery::seal_recovery;
use seedward_shared::seed::{Salt, Seed, SeedEngine};

use crate::cli::{Bins, Opts};
use crate::material::Material;
use crate::measure::{Daemon, Memory, Stats, mib, ms, reset_peak, sample};

/// A [`HistoryStore`] with `FsStore`'s file layout (`<root>/<key>`) but plain writes: no temp
/// file, no fsync. Only for building fixtures: 200,000 fsyncs would measure the disk, not
/// Seedward.
pub(crate) struct BulkStore {
    pub(crate) root: PathBuf,
}

impl BulkStore {
    pub(crate) fn new(root: PathBuf) -> Result<Self> {
        for dir in ["manifests", "policies", "transitions"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self { root })
    }

    pub(crate) fn io(key: &StoreKey, err: &std::io::Error) -> StoreError {
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

pub(crate) struct Fixture {
    pub(crate) state_dir: PathBuf,
    pub(crate) seed: Seed,
    pub(crate) salt: Salt,
    /// Every file of the history (policies, manifests, transitions, latest).
    pub(crate) files: Vec<PathBuf>,
    pub(crate) total_bytes: u64,
    pub(crate) build_time: Duration,
}

/// Builds an `n`-transition history in `<state_dir>/history` through [`History`].
pub(crate) fn build_fixture(material: &Material, n: usize, state_dir: &Path) -> Result<Fixture> {
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
pub(crate) struct Floor {
    pub(crate) read: Duration,
    pub(crate) sha256: Duration,
    pub(crate) verify: Duration,
    /// Not part of the floor: reading the same files through the Coordinator's `FsStore`
    /// (no-follow, regular files only, bounded, each directory re-resolved per read), to
    /// show what the store's hardening costs per file against `std::fs::read`.
    pub(crate) store_read: Duration,
}

impl Floor {
    pub(crate) fn total(&self) -> Duration {
        self.read + self.sha256 + self.verify
    }
}

pub(crate) fn measure_floor(fixture: &Fixture, verify: Duration, reps: usize) -> Result<Floor> {
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
    let root = fixture.state_dir.join("history");
    let store = seedward_coordinator::store::FsStore::open(&root)?;
    let keys: Vec<StoreKey> = fixture
        .files
        .iter()
        .map(|f| {
            let relative = f.strip_prefix(&root).unwrap_or(f).to_string_lossy();
            StoreKey::parse(&relative).map_err(|e| anyhow::anyhow!("{relative}: {e}"))
        })
        .collect::<Result<_>>()?;
    let store_read = sample(reps, || {
        for key in &keys {
            std::hint::black_box(store.get(key)?);
        }
        Ok(())
    })?;
    Ok(Floor {
        read: Stats::of(&read).p50,
        sha256: Stats::of(&sha).p50,
        verify,
        store_read: Stats::of(&store_read).p50,
    })
}

/// One P-384 verification of a 32-byte prehash (median).
pub(crate) fn measure_verify() -> Result<Duration> {
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
pub(crate) struct HistoryRow {
    pub(crate) n: usize,
    pub(crate) total_bytes: u64,
    pub(crate) fixture_build: Duration,
    pub(crate) floor: Floor,
    pub(crate) daemon_start: Duration,
    pub(crate) first_status: Duration,
    pub(crate) recover: Stats,
    pub(crate) get_manifests: Stats,
    pub(crate) response_bytes: usize,
    pub(crate) client_verify: Stats,
    pub(crate) idle: Memory,
    pub(crate) after_recover: Memory,
    pub(crate) after_get_manifests: Memory,
    /// The daemon just before a read (after a peak reset), and its peak during one.
    pub(crate) before_read: Memory,
    pub(crate) stream_peak: Memory,
    /// `GetManifests`' peak, or `None` when it refused the history as too large.
    pub(crate) unary_peak: Option<Memory>,
    /// The first `GetStatus` of a restarted process whose previous process noted the
    /// generation (core::hint): no walk.
    pub(crate) first_status_hinted: Option<Duration>,
}

pub(crate) async fn history_section(bins: &Bins, opts: &Opts) -> Result<Vec<HistoryRow>> {
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
            // GetManifests' limit lifted: the bench measures what one message costs (the
            // "before" of StreamManifests), up to the transport's 1 GiB.
            let d = Daemon::start_with(
                bins,
                &fixture.state_dir,
                &[
                    std::ffi::OsStr::new("--max-history-message-bytes"),
                    std::ffi::OsStr::new("1073741824"),
                ],
                &[],
            )?;
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
                // The daemon's peak during one read of each kind, in a fresh process (the
                // history is served unverified while recovery is required), from a reset peak.
                let pid = d.pid();
                reset_peak(pid)?;
                row.before_read = d.memory()?;
                let response = client
                    .manifests_streamed(0)
                    .await
                    .context("StreamManifests")?;
                row.stream_peak = d.memory()?;
                if response.manifests.len() != n {
                    bail!(
                        "StreamManifests returned {} manifests",
                        response.manifests.len()
                    );
                }
                drop(response);
                reset_peak(pid)?;
                row.unary_peak = match client.manifests_unary().await {
                    Ok(response) => {
                        std::hint::black_box(response);
                        Some(d.memory()?)
                    }
                    Err(status) if status.code() == tonic::Code::ResourceExhausted => None,
                    Err(status) => bail!("GetManifests: {status}"),
                };
                eprintln!(
                    "n = {n}: StreamManifests daemon peak {:.1} MiB from {:.1} MiB; GetManifests peak {}",
                    mib(row.stream_peak.hwm_kib),
                    mib(row.before_read.rss_kib),
                    row.unary_peak
                        .map(|m| format!("{:.1} MiB", mib(m.hwm_kib)))
                        .unwrap_or_else(|| "refused (HISTORY_TOO_LARGE)".into()),
                );
            } else if rep == 1 {
                // The previous process counted the chain and noted it (core::hint).
                row.first_status_hinted = Some(first_status);
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

        // The history as the client reads it (StreamManifests, every entry checked as it
        // arrives) and the client's verification of the answer.
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
pub(crate) fn discard_later(dir: tempfile::TempDir) {
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

pub(crate) fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// Seals seed ‖ salt to the status's recovery challenge, as `seedward recover` does.
pub(crate) fn seal(
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
