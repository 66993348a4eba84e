//! Helpers shared by the Coordinator end-to-end tests (`tests/coordinator/*.rs`). Every helper talks to the *real*
//! `seedward-coordinator` binary through the real client (`seedward::client`), with keys,
//! manifests and recovery envelopes built by `seedward-shared`, as an operator's tools would.

#![allow(
    dead_code,
    reason = "each test module uses a different subset of the helpers"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use p384::ecdsa::VerifyingKey;
use rand_core::{OsRng, RngCore};
use seedward::client::{CoordinatorClient, Trust};
use seedward::ops::{self, AuditedHistory, SigningKeySource};
use seedward_proto::v1 as pb;
use seedward_shared::history::{Digest, Transition};
use seedward_shared::keys::{OwnerKeyPair, OwnerPublicKey, WorkloadOwnerKeyPair};
use seedward_shared::manifest::Manifest;
use seedward_shared::recovery::seal_recovery;
use seedward_shared::seed::{Salt, Seed, SeedEngine};
use seedward_tests::CoordinatorProcess;
use seedward_tests::error_reason;
use seedward_tests::reference_values;
use tonic::{Code, Status};

pub const UNINITIALIZED: i32 = pb::CoordinatorState::Uninitialized as i32;
pub const READY: i32 = pb::CoordinatorState::Ready as i32;
pub const RECOVERY_REQUIRED: i32 = pb::CoordinatorState::RecoveryRequired as i32;
pub const STALE: i32 = pb::CoordinatorState::Stale as i32;

/// A state name for assertion messages.
pub fn state_name(state: i32) -> &'static str {
    match pb::CoordinatorState::try_from(state) {
        Ok(pb::CoordinatorState::Uninitialized) => "uninitialized",
        Ok(pb::CoordinatorState::Ready) => "ready",
        Ok(pb::CoordinatorState::RecoveryRequired) => "recovery required",
        Ok(pb::CoordinatorState::Stale) => "stale",
        _ => "unknown",
    }
}

/// Starts the real daemon on `state_dir` (off the async runtime: it blocks until it listens).
pub async fn start(state_dir: &Path) -> CoordinatorProcess {
    start_with(state_dir, &[]).await
}

pub async fn start_with(state_dir: &Path, extra: &[&str]) -> CoordinatorProcess {
    let dir = state_dir.to_path_buf();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        CoordinatorProcess::start_with(&dir, &extra)
    })
    .await
    .expect("the start task panicked")
    .expect("the Coordinator did not start")
}

/// An unpinned (first-use) TLS connection, as a client has before setup.
pub async fn connect(addr: &str) -> CoordinatorClient {
    CoordinatorClient::connect(addr, Trust::FirstUse)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
}

/// A seed share owner and a workload owner.
pub struct Keys {
    pub owner: OwnerKeyPair,
    pub workload: WorkloadOwnerKeyPair,
}

impl Keys {
    pub fn generate() -> Self {
        Self {
            owner: OwnerKeyPair::generate(&mut OsRng),
            workload: WorkloadOwnerKeyPair::generate(&mut OsRng),
        }
    }

    /// The template manifest for these keys, made unique by `n`.
    pub fn manifest(&self, n: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
        manifest_for(&[&self.owner], &[&self.workload], n)
    }
}

/// `Manifest::template` for the given owners, with `ReferenceValues` set to
/// [`reference_values(n)`](seedward_tests::reference_values) so that every `n` is a different
/// valid manifest (different hash) with the same policies, acceptable to a development
/// Coordinator.
pub fn manifest_for(
    owners: &[&OwnerKeyPair],
    workloads: &[&WorkloadOwnerKeyPair],
    n: u64,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let owners: Vec<String> = owners.iter().map(|o| o.public_key().to_hex()).collect();
    let workloads: Vec<String> = workloads.iter().map(|w| w.public_key().to_hex()).collect();
    let template = Manifest::template(&owners, &workloads);
    let mut value: serde_json::Value =
        serde_json::from_slice(&template.manifest).expect("the template is JSON");
    value["ReferenceValues"] = reference_values(n);
    let bytes = format!("{value:#}\n").into_bytes();
    Manifest::parse_and_validate(bytes.clone()).expect("the test manifest is valid");
    (bytes, template.policies)
}

/// The seed and salt, as an owner holds them after decrypting the seed share.
pub struct Secret {
    pub seed: Seed,
    pub salt: Salt,
}

impl Secret {
    pub fn random() -> Self {
        Self {
            seed: Seed::generate(&mut OsRng),
            salt: Salt::generate(&mut OsRng),
        }
    }

    pub fn engine(&self) -> SeedEngine {
        SeedEngine::new(&self.seed, &self.salt).expect("a usable seed")
    }

    /// The transaction signing key's public half: what verifies the history client-side.
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.engine().transaction_verifying_key()
    }

    pub fn root_ca_public_key(&self) -> p384::PublicKey {
        self.engine().root_ca_key().public_key()
    }

    pub fn clone_secret(&self) -> Self {
        Self {
            seed: Seed::copy_from(self.seed.expose()).expect("seed"),
            salt: self.salt,
        }
    }
}

/// First `SetManifest` (atomic against "no history"), then the owner decrypts its share.
pub async fn first_set(
    client: &CoordinatorClient,
    manifest: Vec<u8>,
    policies: Vec<Vec<u8>>,
    owner: &OwnerKeyPair,
) -> (pb::SetManifestResponse, Secret) {
    let response = client
        .set_manifest(pb::SetManifestRequest {
            manifest,
            policies,
            previous_transition_hash: Some(Digest::ZERO.as_bytes().to_vec()),
            signature: Vec::new(),
        })
        .await
        .unwrap_or_else(|s| panic!("first SetManifest failed: {}", describe(&s)));
    let document = ops::document_from_proto(
        response
            .seed_share_document
            .clone()
            .expect("the first set returns the seed share document"),
    )
    .expect("a well-formed seed share document");
    let (seed, salt) = document
        .open_with(owner)
        .expect("the owner's share decrypts");
    (response, Secret { seed, salt })
}

/// A new deployment: a daemon on a fresh state dir with the first manifest set.
pub struct Deployment {
    pub keys: Keys,
    pub secret: Secret,
    pub process: CoordinatorProcess,
    pub client: CoordinatorClient,
    pub first: pb::SetManifestResponse,
    pub state_dir: PathBuf,
}

impl Deployment {
    pub async fn new(state_dir: &Path) -> Self {
        Self::new_with(state_dir, &[]).await
    }

    pub async fn new_with(state_dir: &Path, extra: &[&str]) -> Self {
        let keys = Keys::generate();
        let process = start_with(state_dir, extra).await;
        let client = connect(&process.addr).await;
        let (manifest, policies) = keys.manifest(0);
        let (first, secret) = first_set(&client, manifest, policies, &keys.owner).await;
        Self {
            keys,
            secret,
            process,
            client,
            first,
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub fn latest(&self) -> Digest {
        digest(&self.first.transition_hash)
    }

    /// SIGKILL and start again on the same state dir; reconnects.
    pub async fn crash_and_restart(&mut self) {
        self.process.kill();
        self.process = start(&self.state_dir).await;
        self.client = connect(&self.process.addr).await;
    }

    pub async fn recover(&self) -> pb::RecoverResponse {
        recover(&self.client, &self.keys.owner, &self.secret)
            .await
            .unwrap_or_else(|s| panic!("recovery failed: {}", describe(&s)))
    }
}

/// The transition a manifest creates on top of `previous`.
pub fn proposed(previous: Digest, manifest: &[u8]) -> Digest {
    Transition::after(previous, Digest::of(manifest)).hash()
}

/// An update request signed by `workload`; atomic against `previous` when `atomic`.
pub fn signed_update(
    workload: &WorkloadOwnerKeyPair,
    manifest: Vec<u8>,
    policies: Vec<Vec<u8>>,
    previous: Digest,
    atomic: bool,
) -> pb::SetManifestRequest {
    let transition = proposed(previous, &manifest);
    let signature = workload
        .sign_transition(transition.as_bytes())
        .expect("signing works");
    pb::SetManifestRequest {
        manifest,
        policies,
        previous_transition_hash: atomic.then(|| previous.as_bytes().to_vec()),
        signature,
    }
}

/// A signed, atomic update to manifest `n` on top of `previous`.
pub async fn update(
    client: &CoordinatorClient,
    keys: &Keys,
    n: u64,
    previous: Digest,
) -> Result<pb::SetManifestResponse, Status> {
    let (manifest, policies) = keys.manifest(n);
    client
        .set_manifest(signed_update(
            &keys.workload,
            manifest,
            policies,
            previous,
            true,
        ))
        .await
}

/// The challenge of a Coordinator that awaits recovery.
pub async fn challenge(client: &CoordinatorClient) -> pb::RecoveryChallenge {
    let status = client
        .status()
        .await
        .unwrap_or_else(|s| panic!("GetStatus: {}", describe(&s)));
    status.challenge.unwrap_or_else(|| {
        panic!(
            "a Coordinator that is {} offers no challenge",
            state_name(status.state)
        )
    })
}

/// Seals `seed ‖ salt` from `sender` to `challenge`, claiming to be `claimed`.
pub fn seal(
    challenge: &pb::RecoveryChallenge,
    sender: &OwnerKeyPair,
    claimed: &OwnerPublicKey,
    seed: &Seed,
    salt: &Salt,
) -> pb::RecoverRequest {
    let public: [u8; 32] = challenge
        .public_key
        .as_slice()
        .try_into()
        .expect("32-byte key");
    let nonce: [u8; 32] = challenge
        .nonce
        .as_slice()
        .try_into()
        .expect("32-byte nonce");
    let latest: [u8; 32] = challenge
        .latest_transition_hash
        .as_slice()
        .try_into()
        .expect("32-byte hash");
    let envelope = seal_recovery(sender, &public, &nonce, &latest, seed, salt, &mut OsRng)
        .expect("sealing works");
    pb::RecoverRequest {
        challenge_id: challenge.id.clone(),
        owner_public_key: claimed.as_bytes().to_vec(),
        encapsulated_key: envelope.encapsulated_key.to_vec(),
        ciphertext: envelope.ciphertext,
    }
}

/// Fetches a fresh challenge and recovers with `owner`'s seed and salt.
pub async fn recover(
    client: &CoordinatorClient,
    owner: &OwnerKeyPair,
    secret: &Secret,
) -> Result<pb::RecoverResponse, Status> {
    let challenge = challenge(client).await;
    let request = seal(
        &challenge,
        owner,
        &owner.public_key(),
        &secret.seed,
        &secret.salt,
    );
    client.recover(request).await
}

/// Verifies a `GetManifests` response client-side with the key derived from the seed.
pub fn audit(response: pb::GetManifestsResponse, secret: &Secret) -> AuditedHistory {
    ops::audit_response(
        response,
        Some((secret.verifying_key(), SigningKeySource::SeedShare)),
    )
    .expect("the response parses")
}

pub fn digest(bytes: &[u8]) -> Digest {
    Digest::from_slice(bytes).expect("a 32-byte hash")
}

/// `code`, `seedward-error` reason and message of a status, for failure messages.
pub fn describe(status: &Status) -> String {
    format!(
        "{:?} / {} / {}",
        status.code(),
        error_reason(status).unwrap_or("<no reason>"),
        status.message()
    )
}

/// Asserts that `result` failed with exactly `code` and the `seedward-error` `reason`.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: &str,
) -> Status {
    match result {
        Ok(v) => panic!("expected {code:?}/{reason}, but the call succeeded: {v:?}"),
        Err(status) => {
            assert_eq!(
                (status.code(), error_reason(&status)),
                (code, Some(reason)),
                "wrong error: {}",
                describe(&status)
            );
            status
        }
    }
}

/// Random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    OsRng.fill_bytes(&mut out);
    out
}

/// Waits until `f` returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
