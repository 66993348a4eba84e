use super::*;
use rand_core::OsRng;
use seedward_shared::history::{MemoryStore, Transition};
use seedward_shared::keys::{OwnerKeyPair, WorkloadOwnerKeyPair};
use seedward_shared::recovery::seal_recovery;
use seedward_shared::seed::{Salt, Seed};
use seedward_shared::seedshare::SeedShareDocument;

struct Fixture {
    store: Arc<MemoryStore>,
    owner: OwnerKeyPair,
    workload: WorkloadOwnerKeyPair,
    template: seedward_shared::manifest::Template,
}

impl Fixture {
    fn new() -> Self {
        let owner = OwnerKeyPair::generate(&mut OsRng);
        let workload = WorkloadOwnerKeyPair::generate(&mut OsRng);
        let template = Manifest::template(
            &[owner.public_key().to_hex()],
            &[workload.public_key().to_hex()],
        );
        Self {
            store: Arc::new(MemoryStore::new()),
            owner,
            workload,
            template,
        }
    }

    fn coordinator(&self) -> Coordinator<Arc<MemoryStore>> {
        Coordinator::new(self.store.clone(), CoreConfig::default()).unwrap()
    }

    fn first_set(&self, c: &Coordinator<Arc<MemoryStore>>) -> SetOutcome {
        c.set_manifest(SetManifestInput {
            manifest: self.template.manifest.clone(),
            policies: self.template.policies.clone(),
            previous: None,
            signature: vec![],
        })
        .unwrap()
    }

    fn recover_request(
        &self,
        c: &Coordinator<Arc<MemoryStore>>,
        seed: &Seed,
        salt: &Salt,
    ) -> RecoverInput {
        let status = c.status().unwrap();
        let challenge = status.challenge.unwrap();
        let envelope = seal_recovery(
            &self.owner,
            &challenge.public_key,
            &challenge.nonce,
            challenge.latest.as_bytes(),
            seed,
            salt,
            &mut OsRng,
        )
        .unwrap();
        RecoverInput {
            challenge_id: challenge.id.to_vec(),
            owner: self.owner.public_key(),
            envelope,
        }
    }
}

fn document(outcome: &SetOutcome) -> SeedShareDocument {
    outcome.seed_shares.clone().unwrap()
}

#[test]
fn set_restart_recover() {
    let f = Fixture::new();
    let c = f.coordinator();
    assert_eq!(c.state_name(), StateName::Uninitialized);
    let first = f.first_set(&c);
    assert_eq!(first.generation, 1);
    assert_eq!(c.state_name(), StateName::Ready);
    let (seed, salt) = document(&first).open_with(&f.owner).unwrap();

    // Signed update.
    let updated = String::from_utf8(f.template.manifest.clone())
        .unwrap()
        .replacen('{', "{\n", 1);
    let manifest = Manifest::parse(updated.clone().into_bytes()).unwrap();
    let latest = first.transition;
    let proposed = Transition::after(latest, manifest.hash()).hash();
    let second = c
        .set_manifest(SetManifestInput {
            manifest: updated.into_bytes(),
            policies: f.template.policies.clone(),
            previous: Some(latest),
            signature: f.workload.sign_transition(proposed.as_bytes()).unwrap(),
        })
        .unwrap();
    assert_eq!(second.generation, 2);
    assert_eq!(second.transition, proposed);
    assert!(second.seed_shares.is_none());

    // Restart: a new core on the same store needs recovery.
    drop(c);
    let c = f.coordinator();
    assert_eq!(c.state_name(), StateName::RecoveryRequired);
    let history = c.manifests().unwrap();
    assert!(!history.verified);
    assert_eq!(history.manifests.len(), 2);
    let status = c.status().unwrap();
    assert_eq!(status.generation, 2);
    assert!(status.challenge.is_some());
    assert_eq!(
        c.set_manifest(SetManifestInput {
            manifest: f.template.manifest.clone(),
            ..Default::default()
        })
        .unwrap_err()
        .reason()
        .as_str(),
        "RECOVERY_REQUIRED"
    );

    // Wrong seed: decrypts, but does not verify the history.
    let wrong = Seed::generate(&mut OsRng);
    let req = f.recover_request(&c, &wrong, &salt);
    assert_eq!(c.recover(req).unwrap_err(), CoreError::WrongSeed);
    assert_eq!(c.state_name(), StateName::RecoveryRequired);

    // Right seed.
    let req = f.recover_request(&c, &seed, &salt);
    let replay = req.clone();
    let recovered = c.recover(req).unwrap();
    assert_eq!(recovered.generation, 2);
    assert_eq!(c.state_name(), StateName::Ready);
    assert!(c.manifests().unwrap().verified);
    assert_eq!(
        c.recover(replay).unwrap_err().reason().as_str(),
        "ALREADY_READY"
    );
}

#[test]
fn updates_need_a_workload_owner_signature_and_the_same_owners() {
    let f = Fixture::new();
    let c = f.coordinator();
    let first = f.first_set(&c);
    let latest = first.transition;
    let other = WorkloadOwnerKeyPair::generate(&mut OsRng);
    let mut text = String::from_utf8(f.template.manifest.clone()).unwrap();
    text.push('\n');
    let manifest = Manifest::parse(text.clone().into_bytes()).unwrap();
    let proposed = Transition::after(latest, manifest.hash()).hash();
    let request = |signature: Vec<u8>, previous: Option<Digest>| SetManifestInput {
        manifest: text.clone().into_bytes(),
        policies: f.template.policies.clone(),
        previous,
        signature,
    };
    assert_eq!(
        c.set_manifest(request(vec![], None)).unwrap_err(),
        CoreError::BadSignature {
            transition: proposed
        }
    );
    let foreign = other.sign_transition(proposed.as_bytes()).unwrap();
    assert_eq!(
        c.set_manifest(request(foreign, None))
            .unwrap_err()
            .reason()
            .as_str(),
        "BAD_SIGNATURE"
    );
    let good = f.workload.sign_transition(proposed.as_bytes()).unwrap();
    assert_eq!(
        c.set_manifest(request(good.clone(), Some(Digest::of(b"stale"))))
            .unwrap_err(),
        CoreError::StaleLatest {
            current: Some(latest)
        }
    );
    c.set_manifest(request(good, Some(latest))).unwrap();

    // Changing the seed share owners is refused.
    let stranger = OwnerKeyPair::generate(&mut OsRng);
    let t = Manifest::template(
        &[stranger.public_key().to_hex()],
        &[f.workload.public_key().to_hex()],
    );
    let m = Manifest::parse(t.manifest.clone()).unwrap();
    let now = c.status().unwrap().latest.unwrap();
    let proposed = Transition::after(now, m.hash()).hash();
    let err = c
        .set_manifest(SetManifestInput {
            manifest: t.manifest,
            policies: t.policies,
            previous: None,
            signature: f.workload.sign_transition(proposed.as_bytes()).unwrap(),
        })
        .unwrap_err();
    assert_eq!(err, CoreError::OwnersChanged);
}

#[test]
fn a_foreign_writer_makes_the_replica_stale() {
    let f = Fixture::new();
    let a = f.coordinator();
    f.first_set(&a);
    // Another writer replaces the latest pointer with one signed by a different key.
    let foreign = p384::ecdsa::SigningKey::random(&mut OsRng);
    let history = seedward_shared::history::History::new(f.store.clone());
    let current = history.latest_unverified().unwrap().unwrap();
    let (_, _) = history
        .append(
            Some(&current),
            &f.template.manifest,
            &f.template.policies,
            &foreign,
        )
        .unwrap();
    let status = a.status().unwrap();
    assert_eq!(status.state, StateName::Stale);
    assert!(status.challenge.is_some());
    assert_eq!(a.state_name(), StateName::Stale);
}
