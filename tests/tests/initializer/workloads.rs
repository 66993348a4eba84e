//! `seedward-initializer` against the real `seedward-coordinator` binary: the files it
//! writes (content and modes), the secret equal to what the seed share owner derives
//! offline, retry while the Coordinator is not ready, refusal of an unknown policy, a
//! pinned root CA, and a secret that survives a crash, recovery and manifest update.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a panic is the failure report"
)]

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rand_core::OsRng;
use seedward::client::{CoordinatorClient, Trust};
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, Transition};
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::recovery::seal_recovery;
use seedward_shared::seed::{Salt, Seed, SeedEngine};
use seedward_shared::seedshare::{SeedShare, SeedShareDocument};
use seedward_tests::CoordinatorProcess;

const DB: &[u8] = b"policy: db";
const PLAIN: &[u8] = b"policy: plain";
const LATER: &[u8] = b"policy: later";

fn initializer_bin() -> PathBuf {
    seedward_tests::bin_dir().join("seedward-initializer")
}

struct Keys {
    owner: OwnerKeyPair,
    workload: WorkloadOwnerKeyPair,
}

impl Keys {
    fn manifest(&self, with_later: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut policies = serde_json::json!({
            Digest::of(DB).to_hex(): {"SANs": ["db", "*.db.svc", "10.1.2.3"], "WorkloadSecretID": "apps/db"},
            Digest::of(PLAIN).to_hex(): {"SANs": ["plain"]},
        });
        let mut docs = vec![DB.to_vec(), PLAIN.to_vec()];
        if with_later {
            policies[Digest::of(LATER).to_hex()] = serde_json::json!({"SANs": ["later"]});
            docs.push(LATER.to_vec());
        }
        let manifest = serde_json::json!({
            "Policies": policies,
            "ReferenceValues": {},
            "WorkloadOwnerPubKeys": [self.workload.public_key().to_hex()],
            "SeedshareOwnerPubKeys": [self.owner.public_key().to_hex()],
        });
        (format!("{manifest:#}\n").into_bytes(), docs)
    }
}

async fn connect(addr: &str) -> CoordinatorClient {
    CoordinatorClient::connect(addr, Trust::FirstUse)
        .await
        .unwrap()
}

async fn first_set(client: &CoordinatorClient, keys: &Keys) -> (Seed, Salt) {
    let (manifest, policies) = keys.manifest(false);
    let response = client
        .set_manifest(pb::SetManifestRequest {
            manifest,
            policies,
            previous_transition_hash: None,
            signature: vec![],
        })
        .await
        .unwrap();
    let doc = response.seed_share_document.unwrap();
    SeedShareDocument {
        seed_shares: doc
            .seed_shares
            .into_iter()
            .map(|s| SeedShare {
                public_key: s.public_key,
                encrypted_seed: s.encrypted_seed,
                share_index: None,
                share_commitment: None,
            })
            .collect(),
        salt: Salt::from_slice(&doc.salt).unwrap(),
        threshold: None,
        history_signing_key: None,
    }
    .open_with(&keys.owner)
    .unwrap()
}

fn initializer(addr: &str, policy: &[u8], root: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(initializer_bin());
    cmd.arg("--coordinator")
        .arg(addr)
        .arg("--policy-hash")
        .arg(Digest::of(policy).to_hex())
        .arg("--secrets-root")
        .arg(root)
        .args(["--initial-backoff-ms", "100"])
        .args(extra)
        .env_remove("SEEDWARD_ROOT_CA")
        .stdin(Stdio::null());
    if !extra.contains(&"--max-wait-secs") {
        cmd.args(["--max-wait-secs", "60"]);
    }
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "initializer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn pem_ders(pem: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .map(|p| p.unwrap().contents)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_credentials_and_the_secret_the_owner_derives() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = CoordinatorProcess::start(&dir.path().join("state")).unwrap();
    let keys = Keys {
        owner: OwnerKeyPair::generate(&mut OsRng),
        workload: WorkloadOwnerKeyPair::generate(&mut OsRng),
    };

    // Started before the manifest is set: the initializer retries until it is.
    let root = dir.path().join("db");
    let early = initializer(&coordinator.addr, DB, &root, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let client = connect(&coordinator.addr).await;
    let (seed, salt) = first_set(&client, &keys).await;
    let out = tokio::task::spawn_blocking(move || early.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_ok(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("retrying"), "{log}");
    assert!(log.contains("UNINITIALIZED"), "{log}");

    // Files and modes.
    let tls = root.join("tls-config");
    let secret_file = root.join("secrets/workload-secret-seed");
    assert_eq!(mode(&tls.join("key.pem")), 0o600);
    assert_eq!(mode(&tls.join("cert-chain.pem")), 0o444);
    assert_eq!(mode(&tls.join("mesh-ca.pem")), 0o444);
    assert_eq!(mode(&tls.join("coordinator-root-ca.pem")), 0o444);
    assert_eq!(mode(&secret_file), 0o400);
    assert_eq!(mode(&root.join("secrets")), 0o755);

    // The secret: 128 lowercase hex characters, no newline, equal to the offline derivation.
    let secret = read(&secret_file);
    assert_eq!(secret.len(), 128);
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let engine = SeedEngine::new(&seed, &salt).unwrap();
    let expected = hex::encode(engine.derive_workload_secret("apps/db").unwrap().expose());
    assert_eq!(secret, expected);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&secret[..32]));

    // Certificates: chain leaf → mesh CA → root CA (the one GetStatus reports); the key
    // file holds the leaf's key.
    let status = client.status().await.unwrap();
    assert_eq!(
        read(&tls.join("coordinator-root-ca.pem")),
        status.root_ca_cert
    );
    assert_eq!(read(&tls.join("mesh-ca.pem")), status.mesh_ca_cert);
    let chain = pem_ders(&read(&tls.join("cert-chain.pem")));
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], pem_ders(&status.mesh_ca_cert)[0]);
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
    let mesh_der = pem_ders(&status.mesh_ca_cert).remove(0);
    let (_, mesh) = x509_parser::parse_x509_certificate(&mesh_der).unwrap();
    leaf.verify_signature(Some(mesh.public_key())).unwrap();
    let key = rcgen::KeyPair::from_pem(&read(&tls.join("key.pem"))).unwrap();
    assert_eq!(
        leaf.public_key().raw,
        rcgen::PublicKeyData::subject_public_key_info(&key).as_slice()
    );
    assert!(read(&tls.join("key.pem")).starts_with("-----BEGIN PRIVATE KEY-----"));

    // A policy without a WorkloadSecretID, with the root CA pinned: no secret file.
    let plain = dir.path().join("plain");
    let pin = tls.join("coordinator-root-ca.pem");
    let out = run(initializer(
        &coordinator.addr,
        PLAIN,
        &plain,
        &["--root-ca", pin.to_str().unwrap()],
    ));
    assert_ok(&out);
    assert!(plain.join("tls-config/cert-chain.pem").exists());
    assert!(!plain.join("secrets/workload-secret-seed").exists());
    assert!(!plain.join("secrets").exists());

    // A pin of another deployment's root CA is refused (the TLS handshake fails).
    let foreign_root = rcgen::CertificateParams::new(vec!["x".into()])
        .unwrap()
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap()
        .pem();
    let foreign = dir.path().join("foreign-root.pem");
    std::fs::write(&foreign, foreign_root).unwrap();
    let out = run(initializer(
        &coordinator.addr,
        PLAIN,
        &dir.path().join("foreign"),
        &[
            "--root-ca",
            foreign.to_str().unwrap(),
            "--max-wait-secs",
            "1",
        ],
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gave up"), "{stderr}");
    assert!(
        stderr.contains("UnknownIssuer") || stderr.contains("certificate"),
        "{stderr}"
    );
    assert!(!dir.path().join("foreign/tls-config").exists());

    // An unknown policy is final: no retries, a precise message.
    let out = run(initializer(
        &coordinator.addr,
        b"not in the manifest",
        &dir.path().join("unknown"),
        &[],
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("UNKNOWN_POLICY"), "{stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(!dir.path().join("unknown/tls-config").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secret_survives_update_crash_and_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut coordinator = CoordinatorProcess::start(&state).unwrap();
    let keys = Keys {
        owner: OwnerKeyPair::generate(&mut OsRng),
        workload: WorkloadOwnerKeyPair::generate(&mut OsRng),
    };
    let client = connect(&coordinator.addr).await;
    let (seed, salt) = first_set(&client, &keys).await;
    let root = dir.path().join("db");
    assert_ok(&run(initializer(&coordinator.addr, DB, &root, &[])));
    let secret_file = root.join("secrets/workload-secret-seed");
    let before = read(&secret_file);
    let mesh_before = read(&root.join("tls-config/mesh-ca.pem"));

    // A signed manifest update.
    let (manifest, policies) = keys.manifest(true);
    let latest =
        Digest::from_slice(&client.status().await.unwrap().latest_transition_hash).unwrap();
    let proposed = Transition::after(latest, Digest::of(&manifest)).hash();
    client
        .set_manifest(pb::SetManifestRequest {
            manifest,
            policies,
            previous_transition_hash: Some(latest.as_bytes().to_vec()),
            signature: keys.workload.sign_transition(proposed.as_bytes()).unwrap(),
        })
        .await
        .unwrap();

    // Crash and restart: not ready, so a bounded initializer gives up with the reason.
    coordinator.kill();
    let coordinator = CoordinatorProcess::start(&state).unwrap();
    let out = run(initializer(
        &coordinator.addr,
        DB,
        &dir.path().join("too-early"),
        &["--max-wait-secs", "1"],
    ));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RECOVERY_REQUIRED"), "{stderr}");
    assert!(stderr.contains("gave up"), "{stderr}");

    // Recover with the owner's seed share.
    let client = connect(&coordinator.addr).await;
    let challenge = client.status().await.unwrap().challenge.unwrap();
    let envelope = seal_recovery(
        &keys.owner,
        &challenge.public_key.as_slice().try_into().unwrap(),
        &challenge.nonce.as_slice().try_into().unwrap(),
        &challenge
            .latest_transition_hash
            .as_slice()
            .try_into()
            .unwrap(),
        &seed,
        &salt,
        &mut OsRng,
    )
    .unwrap();
    client
        .recover(pb::RecoverRequest {
            challenge_id: challenge.id,
            owner_public_key: keys.owner.public_key().as_bytes().to_vec(),
            encapsulated_key: envelope.encapsulated_key.to_vec(),
            ciphertext: envelope.ciphertext,
        })
        .await
        .unwrap();

    // The pod restarts its initializer on the same secrets volume: the secret file is
    // unchanged (same content, kept), the certificates come from the new mesh CA.
    assert_ok(&run(initializer(&coordinator.addr, DB, &root, &[])));
    assert_eq!(read(&secret_file), before);
    assert_eq!(mode(&secret_file), 0o400);
    assert_ne!(read(&root.join("tls-config/mesh-ca.pem")), mesh_before);

    // And on a fresh volume, the same secret again; the updated manifest's policy is served.
    let fresh = dir.path().join("fresh");
    assert_ok(&run(initializer(&coordinator.addr, DB, &fresh, &[])));
    assert_eq!(read(&fresh.join("secrets/workload-secret-seed")), before);
    assert_ok(&run(initializer(
        &coordinator.addr,
        LATER,
        &dir.path().join("later"),
        &[],
    )));
}
