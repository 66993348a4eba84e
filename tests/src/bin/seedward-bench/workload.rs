//! The `workload` section (issue #20, item 2): the workload hot path. Every pod's
//! initializer calls `GetCredentials` (evidence check, certificate issuance, workload secret);
//! this measures certificates/s and p50/p99 latency with 1, 16 and 200 concurrent callers,
//! (a) with development evidence (kind `none`) and (b) with SEV-SNP evidence signed by the
//! test AMD (`seedward_attestation::testing`) and verified by the daemon under
//! `--test-trust-anchor`, with a CRL from `--collateral-dir` (nothing waived).
//!
//! Each caller has its own TLS connection (made before the timed window, as an initializer
//! makes one) and its own P-256 key and evidence (made once: producing evidence is the
//! workload's cost, not the Coordinator's), and sends `GetCredentials` back to back.
//!
//! **The floor**, measured in this process in the same run on the same cores, with the same
//! number of threads, just before and just after each daemon measurement (the faster of the
//! two is kept, so a floor starved by another build on the machine cannot flatter the daemon):
//! per request, one P-384 signature over a certificate-sized message with
//! the same signer the daemon's CA uses (rcgen/ring), plus the verification work — for SNP
//! the very `seedward_attestation::verify` call the daemon makes, on the same evidence, trust
//! anchor and CRL (the verifier caches nothing, so neither does the floor); for kind `none`
//! nothing (the check is a comparison).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use seedward::client::{Trust, tls};
use seedward_attestation::{Appraisal, Evidence, EvidenceKind, Revocation, TrustAnchors};
use seedward_coordinator::server::ALLOW_TEST_TRUST_ANCHOR_ENV;
use seedward_initializer::evidence::{EvidenceSource, Mode};
use seedward_proto::v1 as pb;
use seedward_shared::history::Digest;
use seedward_shared::reference::ReferenceValues;
use seedward_tests::attest::{TestPlatform, measurement, snp_reference};

use crate::cli::{Bins, Opts};
use crate::material::{Material, REFERENCE_VALUES_EMPTY};
use crate::measure::{Daemon, Stats, ms};

/// The concurrent callers measured.
pub(crate) const CALLERS: [usize; 3] = [1, 16, 200];

/// One measurement: a rate and the latency of each request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Rate {
    pub(crate) per_s: f64,
    pub(crate) latency: Stats,
}

#[derive(Debug, Clone)]
pub(crate) struct WorkloadRow {
    /// `none` or `snp`.
    pub(crate) evidence: &'static str,
    pub(crate) callers: usize,
    pub(crate) daemon: Rate,
    pub(crate) floor: Rate,
}

impl WorkloadRow {
    pub(crate) fn ratio(&self) -> f64 {
        self.daemon.per_s / self.floor.per_s.max(f64::MIN_POSITIVE)
    }

    pub(crate) fn tail(&self) -> f64 {
        self.daemon.latency.p99.as_secs_f64() / self.daemon.latency.p50.as_secs_f64().max(1e-9)
    }
}

pub(crate) async fn workload_section(bins: &Bins, opts: &Opts) -> Result<Vec<WorkloadRow>> {
    eprintln!("== workload (GetCredentials)");
    let window = Duration::from_secs(if opts.quick { 2 } else { 5 });
    let tmp = tempfile::tempdir()?;
    let material = Material::new()?;
    let platform = tokio::task::spawn_blocking(TestPlatform::new).await??;
    let anchor = tmp.path().join("ark.pem");
    platform.write_anchor(&anchor)?;
    let collateral = tmp.path().join("collateral");
    platform.write_crl(&collateral)?;
    let max_callers = CALLERS.iter().copied().max().unwrap_or(1);
    let keys: Vec<rcgen::KeyPair> = (0..max_callers)
        .map(|_| rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256))
        .collect::<Result<_, _>>()
        .context("workload keys")?;
    let mut rows = Vec::new();

    // (a) Development evidence: a daemon without attestation, `"none": {}` allowed.
    {
        let manifest = manifest_with(&material, &serde_json::json!({"none": {}}));
        let policy = workload_policy(&manifest)?;
        let daemon = Daemon::start(bins, &tmp.path().join("none"))?;
        set_first(&daemon, &material, manifest).await?;
        let requests: Vec<pb::GetCredentialsRequest> = keys
            .iter()
            .map(|key| pb::GetCredentialsRequest {
                evidence: Some(pb::WorkloadEvidence {
                    kind: EvidenceKind::None.as_str().into(),
                    policy_hash: policy.as_bytes().to_vec(),
                    ..Default::default()
                }),
                public_key: rcgen::PublicKeyData::subject_public_key_info(key),
            })
            .collect();
        for callers in CALLERS {
            // The floor before and after the daemon, the better one kept: the machine is
            // shared, and a floor that lost its cores to another build would flatter the daemon.
            let before = measure_floor(callers, window, None)?;
            let daemon_rate = measure_daemon(&daemon.addr, &requests[..callers], window).await?;
            let after = measure_floor(callers, window, None)?;
            let floor = if before.per_s >= after.per_s {
                before
            } else {
                after
            };
            rows.push(report_row("none", callers, daemon_rate, floor));
        }
    }

    // (b) SEV-SNP evidence: the daemon attested by a fake configfs-tsm of the test AMD, and
    // every workload's report signed by the same test AMD, bound to its key.
    {
        let coordinator_tsm = tmp.path().join("tsm-coordinator");
        let _coordinator_fake = platform.serve(&coordinator_tsm, platform.report([0x11; 32]))?;
        let manifest = manifest_with(&material, &snp_reference(measurement()));
        let policy = workload_policy(&manifest)?;
        let workload_tsm = tmp.path().join("tsm-workload");
        let _workload_fake = platform.serve(&workload_tsm, platform.report(*policy.as_bytes()))?;
        let daemon = Daemon::start_with(
            bins,
            &tmp.path().join("snp"),
            &[
                "--attestation".as_ref(),
                "snp".as_ref(),
                "--tsm-dir".as_ref(),
                coordinator_tsm.as_os_str(),
                "--test-trust-anchor".as_ref(),
                anchor.as_os_str(),
                "--collateral-dir".as_ref(),
                collateral.as_os_str(),
            ],
            &[(ALLOW_TEST_TRUST_ANCHOR_ENV, "1")],
        )?;
        set_first(&daemon, &material, manifest.clone()).await?;
        let source = EvidenceSource::choose(Mode::Snp, Some(workload_tsm.clone()));
        let spkis: Vec<Vec<u8>> = keys
            .iter()
            .map(rcgen::PublicKeyData::subject_public_key_info)
            .collect();
        let requests: Vec<pb::GetCredentialsRequest> = tokio::task::spawn_blocking(move || {
            spkis
                .into_iter()
                .map(|spki| {
                    let evidence = source.produce(&spki, None)?;
                    Ok(pb::GetCredentialsRequest {
                        evidence: Some(evidence),
                        public_key: spki,
                    })
                })
                .collect::<Result<Vec<_>>>()
        })
        .await??;
        let floor_check = SnpFloor::new(&anchor, &collateral, &manifest, &requests)?;
        for callers in CALLERS {
            // The floor before and after the daemon, the better one kept: the machine is
            // shared, and a floor that lost its cores to another build would flatter the daemon.
            let before = measure_floor(callers, window, Some(&floor_check))?;
            let daemon_rate = measure_daemon(&daemon.addr, &requests[..callers], window).await?;
            let after = measure_floor(callers, window, Some(&floor_check))?;
            let floor = if before.per_s >= after.per_s {
                before
            } else {
                after
            };
            rows.push(report_row("snp", callers, daemon_rate, floor));
        }
    }
    Ok(rows)
}

fn report_row(evidence: &'static str, callers: usize, daemon: Rate, floor: Rate) -> WorkloadRow {
    let row = WorkloadRow {
        evidence,
        callers,
        daemon,
        floor,
    };
    eprintln!(
        "GetCredentials {evidence} x{callers}: {:.0}/s p50 {:.2} ms p99 {:.2} ms (p99/p50 {:.1}); floor {:.0}/s p50 {:.2} ms; {:.0} % of the floor",
        row.daemon.per_s,
        ms(row.daemon.latency.p50),
        ms(row.daemon.latency.p99),
        row.tail(),
        row.floor.per_s,
        ms(row.floor.latency.p50),
        100.0 * row.ratio(),
    );
    row
}

/// The bench manifest with `reference` as its `ReferenceValues`.
fn manifest_with(material: &Material, reference: &serde_json::Value) -> Vec<u8> {
    material
        .template
        .replacen(
            REFERENCE_VALUES_EMPTY,
            &format!("\"ReferenceValues\": {reference}"),
            1,
        )
        .into_bytes()
}

/// The hash of the manifest's policy that has a `WorkloadSecretID` (the template's `web`):
/// the workload gets a certificate *and* its secret, the whole hot path.
fn workload_policy(manifest: &[u8]) -> Result<Digest> {
    let value: serde_json::Value = serde_json::from_slice(manifest)?;
    let policies = value["Policies"]
        .as_object()
        .context("the manifest has no Policies")?;
    for (hash, entry) in policies {
        if entry["WorkloadSecretID"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
        {
            let bytes = hex::decode(hash)?;
            return Digest::from_slice(&bytes).context("a policy key is not a hash");
        }
    }
    bail!("the template manifest has no policy with a WorkloadSecretID; update seedward-bench")
}

async fn set_first(daemon: &Daemon, material: &Material, manifest: Vec<u8>) -> Result<()> {
    let (client, _) = daemon.first_status().await?;
    client
        .set_manifest(material.first_set(manifest))
        .await
        .context("first SetManifest")?;
    Ok(())
}

/// `requests.len()` callers, one connection each, sending their request back to back for
/// `window` after one warm-up call each. Any failure is an error: a refused request would
/// be measured as a fast one.
async fn measure_daemon(
    addr: &str,
    requests: &[pb::GetCredentialsRequest],
    window: Duration,
) -> Result<Rate> {
    let mut clients = Vec::with_capacity(requests.len());
    for request in requests {
        let connection = tls::connect(addr, Trust::FirstUse)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to {addr}: {e}"))?;
        let mut client = pb::workload_api_client::WorkloadApiClient::new(connection.channel);
        let response = client
            .get_credentials(request.clone())
            .await
            .context("warm-up GetCredentials")?
            .into_inner();
        if response.workload_secret.as_ref().is_none_or(Vec::is_empty)
            || response.cert_chain.is_empty()
        {
            bail!("GetCredentials returned no certificate or no workload secret");
        }
        clients.push((client, request.clone()));
    }
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::new();
    for (mut client, request) in clients {
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                client.get_credentials(request.clone()).await?;
                samples.push(t.elapsed());
            }
            Ok::<_, tonic::Status>(samples)
        }));
    }
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await?.context("GetCredentials failed under load")?);
    }
    let elapsed = started.elapsed();
    Ok(Rate {
        per_s: samples.len() as f64 / elapsed.as_secs_f64(),
        latency: Stats::of(&samples),
    })
}

/// The verification work of one SNP request, exactly as the daemon does it.
struct SnpFloor {
    anchors: TrustAnchors,
    reference: ReferenceValues,
    collateral: Vec<u8>,
    /// Evidence, binding and policy hash per caller.
    evidence: Vec<(Evidence, [u8; 64], [u8; 32])>,
}

impl SnpFloor {
    fn new(
        anchor: &Path,
        collateral_dir: &Path,
        manifest: &[u8],
        requests: &[pb::GetCredentialsRequest],
    ) -> Result<Self> {
        let anchors = TrustAnchors::test_from_pem(&std::fs::read(anchor)?)
            .map_err(|e| anyhow::anyhow!("test anchor: {e}"))?;
        let collateral =
            seedward_coordinator::evidence::load_collateral(EvidenceKind::Snp, collateral_dir)?;
        let value: serde_json::Value = serde_json::from_slice(manifest)?;
        let reference = ReferenceValues::parse(
            value["ReferenceValues"]
                .as_object()
                .context("no ReferenceValues")?,
        )
        .map_err(|e| anyhow::anyhow!("reference values: {e:?}"))?;
        let evidence = requests
            .iter()
            .map(|request| {
                let e = request.evidence.clone().context("no evidence")?;
                let binding = seedward_attestation::binding::report_data(
                    Digest::of(&request.public_key).as_bytes(),
                    None,
                );
                let policy: [u8; 32] = e.policy_hash.as_slice().try_into()?;
                Ok((
                    Evidence {
                        kind: EvidenceKind::Snp,
                        report: e.report,
                        certificates: e.certificates,
                        collateral: Vec::new(),
                    },
                    binding,
                    policy,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            anchors,
            reference,
            collateral,
            evidence,
        })
    }

    fn verify(&self, caller: usize) -> Result<()> {
        let (evidence, binding, policy) = &self.evidence[caller % self.evidence.len()];
        let mut evidence = evidence.clone();
        evidence.collateral = self.collateral.clone();
        let verdict = seedward_attestation::verify(
            &evidence,
            &Appraisal {
                reference: &self.reference,
                report_data: Some(*binding),
                host_data: Some(*policy),
                anchors: &self.anchors,
                at: SystemTime::now(),
                revocation: Revocation::Require,
            },
        );
        if !verdict.verified() {
            bail!(
                "the floor's evidence does not verify: {:?}",
                verdict.problems(200)
            );
        }
        Ok(())
    }
}

/// `callers` threads, each signing a certificate-sized message with a P-384 key (the mesh CA's
/// algorithm and library) and doing `snp`'s verification if given, back to back for `window`.
fn measure_floor(callers: usize, window: Duration, snp: Option<&SnpFloor>) -> Result<Rate> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?;
    // About the size of the leaf's to-be-signed part (SANs, key, extensions).
    let tbs = vec![0x5a_u8; 600];
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let results: Vec<Result<Vec<Duration>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|caller| {
                let (key, tbs, stop) = (&key, &tbs, &stop);
                scope.spawn(move || {
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        if let Some(snp) = snp {
                            snp.verify(caller)?;
                        }
                        let signature = rcgen::SigningKey::sign(key, tbs)?;
                        std::hint::black_box(signature);
                        samples.push(t.elapsed());
                    }
                    Ok(samples)
                })
            })
            .collect();
        std::thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a floor thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut samples = Vec::new();
    for result in results {
        samples.extend(result?);
    }
    Ok(Rate {
        per_s: samples.len() as f64 / elapsed.as_secs_f64(),
        latency: Stats::of(&samples),
    })
}

/// The section's Markdown table (empty when it did not run).
pub(crate) fn markdown(rows: &[WorkloadRow]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if rows.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "### Workload hot path: `GetCredentials` vs the floor\n\n\
         | evidence | callers | certificates/s | p50 | p99 | p99/p50 | floor /s | floor p50 | % of the floor |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | **{:.0}** | {:.2} ms | {:.2} ms | {:.1} | {:.0} | {:.2} ms | **{:.0} %** |",
            r.evidence,
            r.callers,
            r.daemon.per_s,
            ms(r.daemon.latency.p50),
            ms(r.daemon.latency.p99),
            r.tail(),
            r.floor.per_s,
            ms(r.floor.latency.p50),
            100.0 * r.ratio(),
        );
    }
    s.push('\n');
    s
}

/// A text bar chart: certificates/s of the daemon and of the floor per row.
pub(crate) fn chart(rows: &[WorkloadRow]) -> String {
    use std::fmt::Write as _;
    const WIDTH: f64 = 50.0;
    // One scale per evidence kind: SNP verification is an order of magnitude slower.
    let top = |evidence: &str| {
        rows.iter()
            .filter(|r| r.evidence == evidence)
            .map(|r| r.floor.per_s.max(r.daemon.per_s))
            .fold(f64::MIN_POSITIVE, f64::max)
    };
    let mut s = String::from(
        "GetCredentials: certificates/s, daemon (D) vs floor (F), same run, same cores\n\
         (bars scaled per evidence kind)\n\n",
    );
    for r in rows {
        let scale = top(r.evidence);
        let bar = |v: f64| "#".repeat(((v / scale) * WIDTH).round() as usize);
        let _ = writeln!(
            s,
            "{:>4} x{:<3} D |{:<50}| {:>6.0}/s ({:.0} %)\n          F |{:<50}| {:>6.0}/s",
            r.evidence,
            r.callers,
            bar(r.daemon.per_s),
            r.daemon.per_s,
            100.0 * r.ratio(),
            bar(r.floor.per_s),
            r.floor.per_s,
        );
    }
    s
}
