//! Threshold recovery sessions in the core, on a memory store (the end-to-end tests are in
//! `tests/tests/clients/threshold.rs`).

use std::time::Duration;

use rand_core::OsRng;

use super::*;
use seedward_shared::history::MemoryStore;
use seedward_shared::keys::OwnerKeyPair;
use seedward_shared::recovery::RecoveryEnvelope;
use seedward_shared::seedshare::SeedShareDocument;
use seedward_shared::session::{seal_cancel, seal_share};
use seedward_shared::threshold::KeyShare;

struct Group {
    store: Arc<MemoryStore>,
    owners: Vec<OwnerKeyPair>,
    document: SeedShareDocument,
}

fn setup(k: usize, n: usize) -> Group {
    let owners: Vec<OwnerKeyPair> = (0..n).map(|_| OwnerKeyPair::generate(&mut OsRng)).collect();
    let hex: Vec<String> = owners.iter().map(|o| o.public_key().to_hex()).collect();
    let template = Manifest::template(&hex, &[]);
    let mut value: serde_json::Value = serde_json::from_slice(&template.manifest).unwrap();
    value["SeedshareOwnerThreshold"] = k.into();
    let store = Arc::new(MemoryStore::new());
    let c = Coordinator::new(store.clone(), CoreConfig::default()).unwrap();
    let outcome = c
        .set_manifest(SetManifestInput {
            manifest: format!("{value:#}\n").into_bytes(),
            policies: template.policies,
            previous: None,
            signature: vec![],
        })
        .unwrap();
    Group {
        store,
        owners,
        document: outcome.seed_shares.unwrap(),
    }
}

impl Group {
    fn restart(&self, ttl: Duration) -> Coordinator<Arc<MemoryStore>> {
        let config = CoreConfig {
            recovery_session_ttl: ttl,
            ..CoreConfig::default()
        };
        Coordinator::new(self.store.clone(), config).unwrap()
    }

    fn share(&self, i: usize) -> KeyShare {
        self.document.open_key_share_with(&self.owners[i]).unwrap()
    }

    fn submit(&self, session: &SessionView, i: usize, share: &KeyShare) -> SessionInput {
        let envelope = seal_share(
            &self.owners[i],
            &session.public_key,
            &session.id,
            session.latest.as_bytes(),
            share,
            &mut OsRng,
        )
        .unwrap();
        self.input(session, i, envelope)
    }

    fn cancel(&self, session: &SessionView, i: usize) -> SessionInput {
        let envelope = seal_cancel(
            &self.owners[i],
            &session.public_key,
            &session.id,
            session.latest.as_bytes(),
            &mut OsRng,
        )
        .unwrap();
        self.input(session, i, envelope)
    }

    fn input(&self, session: &SessionView, i: usize, envelope: RecoveryEnvelope) -> SessionInput {
        SessionInput {
            session_id: session.id.to_vec(),
            owner: self.owners[i].public_key(),
            envelope,
        }
    }
}

const TTL: Duration = Duration::from_secs(900);

#[test]
fn two_of_three_recover_with_progress_and_idempotent_resubmission() {
    let g = setup(2, 3);
    assert_eq!(g.document.threshold(), 2);
    let c = g.restart(TTL);
    assert_eq!(c.recovery_session().unwrap().session, None);
    let opened = c.open_recovery_session().unwrap().session.unwrap();
    assert_eq!((opened.threshold, opened.remaining()), (2, 2));
    // Opening again joins the same session.
    assert_eq!(
        c.open_recovery_session().unwrap().session.unwrap().id,
        opened.id
    );

    let report = c
        .submit_recovery_share(g.submit(&opened, 2, &g.share(2)))
        .unwrap();
    let s = report.session.unwrap();
    assert_eq!((s.submitted(), s.remaining()), (1, 1));
    assert!(s.seats[2].submitted_at.is_some() && s.seats[0].submitted_at.is_none());
    // The same owner, the same share: no change.
    let again = c
        .submit_recovery_share(g.submit(&opened, 2, &g.share(2)))
        .unwrap();
    assert_eq!(again.session.unwrap().submitted(), 1);

    let done = c
        .submit_recovery_share(g.submit(&opened, 0, &g.share(0)))
        .unwrap();
    assert_eq!(done.state, StateName::Ready);
    assert!(done.recovered.is_some());
    assert_eq!(done.session, None);
    assert_eq!(done.last_ended.unwrap().end, SessionEnd::Recovered);
    assert_eq!(c.state_name(), StateName::Ready);
    assert!(c.manifests().unwrap().verified);
}

#[test]
fn a_wrong_share_is_named_and_costs_nobody_progress() {
    let g = setup(3, 5);
    let c = g.restart(TTL);
    let s = c.open_recovery_session().unwrap().session.unwrap();
    c.submit_recovery_share(g.submit(&s, 0, &g.share(0)))
        .unwrap();
    // Owner 2 sends owner 1's share (decrypted from a leaked file): named, not counted.
    let err = c
        .submit_recovery_share(g.submit(&s, 1, &g.share(3)))
        .unwrap_err();
    assert_eq!(
        err,
        CoreError::WrongShare {
            fingerprint: g.owners[1].public_key().fingerprint(),
            index: 2
        }
    );
    let now = c.recovery_session().unwrap().session.unwrap();
    assert_eq!(now.submitted(), 1);
    assert_eq!(now.wrong_shares.len(), 1);
    assert_eq!(
        now.wrong_shares[0].owner,
        g.owners[1].public_key().fingerprint()
    );
    // A stranger's envelope does not open: rejected, nothing recorded.
    let stranger = OwnerKeyPair::generate(&mut OsRng);
    let mut input = g.submit(&s, 1, &g.share(1));
    input.owner = stranger.public_key();
    assert!(matches!(
        c.submit_recovery_share(input),
        Err(CoreError::UnknownOwner { .. })
    ));
    // The owner's right share counts; a wrong one after it is named and takes nothing away.
    c.submit_recovery_share(g.submit(&s, 1, &g.share(1)))
        .unwrap();
    assert!(matches!(
        c.submit_recovery_share(g.submit(&s, 1, &g.share(4))),
        Err(CoreError::WrongShare { index: 2, .. })
    ));
    assert_eq!(
        c.recovery_session().unwrap().session.unwrap().submitted(),
        2
    );
    let done = c
        .submit_recovery_share(g.submit(&s, 4, &g.share(4)))
        .unwrap();
    assert_eq!(done.state, StateName::Ready);
}

#[test]
fn cancel_then_a_new_session() {
    let g = setup(2, 3);
    let c = g.restart(TTL);
    let s = c.open_recovery_session().unwrap().session.unwrap();
    c.submit_recovery_share(g.submit(&s, 0, &g.share(0)))
        .unwrap();
    // A cancel sealed by someone else's key for this owner does not open.
    let mut forged = g.cancel(&s, 1);
    forged.owner = g.owners[2].public_key();
    assert!(matches!(
        c.cancel_recovery_session(forged),
        Err(CoreError::EnvelopeRejected { .. })
    ));
    let report = c.cancel_recovery_session(g.cancel(&s, 1)).unwrap();
    assert_eq!(report.session, None);
    assert_eq!(
        report.last_ended.unwrap().end,
        SessionEnd::Cancelled {
            by: g.owners[1].public_key().fingerprint()
        }
    );
    // The old session's id is gone; shares sent to it are refused.
    assert!(matches!(
        c.submit_recovery_share(g.submit(&s, 2, &g.share(2))),
        Err(CoreError::NoSession { .. })
    ));
    let s2 = c.open_recovery_session().unwrap().session.unwrap();
    assert_ne!(s2.id, s.id);
    assert_eq!(s2.submitted(), 0, "progress does not carry over");
    c.submit_recovery_share(g.submit(&s2, 2, &g.share(2)))
        .unwrap();
    let done = c
        .submit_recovery_share(g.submit(&s2, 1, &g.share(1)))
        .unwrap();
    assert_eq!(done.state, StateName::Ready);
}

#[test]
fn expiry_and_restart_drop_the_session() {
    let g = setup(2, 2);
    let c = g.restart(Duration::ZERO);
    let s = c.open_recovery_session().unwrap().session.unwrap();
    let report = c.recovery_session().unwrap();
    assert_eq!(report.session, None);
    assert_eq!(report.last_ended.unwrap().end, SessionEnd::Expired);
    assert!(matches!(
        c.submit_recovery_share(g.submit(&s, 0, &g.share(0))),
        Err(CoreError::NoSession { .. })
    ));

    let c = g.restart(TTL);
    let s = c.open_recovery_session().unwrap().session.unwrap();
    c.submit_recovery_share(g.submit(&s, 0, &g.share(0)))
        .unwrap();
    drop(c);
    let c = g.restart(TTL);
    let report = c.recovery_session().unwrap();
    assert_eq!((report.session, report.last_ended), (None, None));
    assert!(matches!(
        c.submit_recovery_share(g.submit(&s, 1, &g.share(1))),
        Err(CoreError::NoSession { .. })
    ));
}

#[test]
fn whole_seed_coordinators_have_no_sessions() {
    let owner = OwnerKeyPair::generate(&mut OsRng);
    let template = Manifest::template(&[owner.public_key().to_hex()], &[]);
    let store = Arc::new(MemoryStore::new());
    let c = Coordinator::new(store.clone(), CoreConfig::default()).unwrap();
    assert_eq!(
        c.open_recovery_session().unwrap_err(),
        CoreError::WrongState {
            op: "open a recovery session",
            state: StateName::Uninitialized
        }
    );
    c.set_manifest(SetManifestInput {
        manifest: template.manifest,
        policies: template.policies,
        previous: None,
        signature: vec![],
    })
    .unwrap();
    drop(c);
    let c = Coordinator::new(store, CoreConfig::default()).unwrap();
    assert_eq!(
        c.open_recovery_session().unwrap_err(),
        CoreError::NotThreshold
    );
}
