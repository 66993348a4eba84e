//! Recovery sessions: k of n seed share owners bring a restarted Coordinator back together,
//! each from their own machine (docs/COORDINATOR.md, "Recovery sessions").
//!
//! # Life of a session
//! ```text
//!  open (on demand, by anyone) ──submit (owner i, HPKE auth mode)──▶ … k valid shares
//!     │                              │ wrong share: named, recorded, nobody's progress lost
//!     │                              ▼
//!     ├── cancel (an owner, authenticated) ─▶ ended: cancelled by <fingerprint>
//!     ├── expiry (ttl after opening)       ─▶ ended: expired
//!     └── k shares combine ─▶ verify the whole chain ─▶ Ready   (ended: recovered)
//!                             └─ does not verify      ─▶ ended: failed (the owners are named)
//! ```
//!
//! # Invariants
//! - At most one session is open. Opening while one is open joins it.
//! - Everything lives in memory: the session key and the submitted shares are zeroized when
//!   the session ends or the process exits; a restart drops the session.
//! - A submission that does not open, or opens to a share that is not the owner's
//!   (index or commitment), changes nothing but the list of wrong shares: it never removes
//!   anyone's progress.
//! - The same owner sending the same share again is a no-op; a different share from an
//!   owner who already submitted is refused ([`CoreError::AlreadySubmitted`]).
//! - Lock order: the state lock, then the session book's.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rand_core::{OsRng, RngCore};
use seedward_shared::history::{Digest, HistoryStore, StoreKey};
use seedward_shared::keys::{Fingerprint, OwnerPublicKey};
use seedward_shared::recovery::{RecoveryChallengeKey, RecoveryEnvelope};
use seedward_shared::session::{SESSION_ID_LEN, open_cancel, open_share};
use seedward_shared::threshold::{self, KeyShare, ShareCommitments};

use super::view::RecoverOutcome;
use super::{Coordinator, State, map_history_error};
use crate::error::{CoreError, StateName};

/// How many wrong shares a session remembers (the newest); only owners can add one.
const MAX_WRONG_SHARES: usize = 64;

/// The open session (if any) and how the last one ended.
pub struct SessionBook {
    ttl: Duration,
    inner: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    open: Option<Session>,
    last_ended: Option<EndedSession>,
}

struct Session {
    id: [u8; SESSION_ID_LEN],
    key: RecoveryChallengeKey,
    latest: Digest,
    threshold: usize,
    seats: Vec<Seat>,
    opened_at: SystemTime,
    expires: Instant,
    expires_at: SystemTime,
    wrong_shares: Vec<WrongShare>,
}

/// One owner's place in a session. The share is zeroized on drop ([`KeyShare`]).
struct Seat {
    owner: OwnerPublicKey,
    index: u8,
    commitment: Option<[u8; 32]>,
    submitted: Option<(SystemTime, KeyShare)>,
}

/// A submission that opened under an owner's key but was not that owner's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongShare {
    pub owner: Fingerprint,
    pub index: u8,
    pub at: SystemTime,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// k shares combined and verified the whole history: the Coordinator became ready.
    Recovered,
    /// An owner cancelled it.
    Cancelled { by: Fingerprint },
    /// Its time ran out.
    Expired,
    /// The shares combined to a seed that does not verify the history, or the history
    /// changed under the session. `reason` is for people.
    Failed { reason: String },
}

/// The last session that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    pub id: [u8; SESSION_ID_LEN],
    pub end: SessionEnd,
    pub at: SystemTime,
}

/// One owner's place, as everyone may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatView {
    pub owner: OwnerPublicKey,
    pub index: u8,
    pub submitted_at: Option<SystemTime>,
}

/// An open session, as everyone may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub id: [u8; SESSION_ID_LEN],
    pub public_key: [u8; 32],
    pub latest: Digest,
    pub threshold: usize,
    pub seats: Vec<SeatView>,
    pub opened_at: SystemTime,
    pub expires_at: SystemTime,
    pub wrong_shares: Vec<WrongShare>,
}

impl SessionView {
    /// How many owners have submitted a valid share.
    pub fn submitted(&self) -> usize {
        self.seats
            .iter()
            .filter(|s| s.submitted_at.is_some())
            .count()
    }

    /// How many more shares it takes.
    pub fn remaining(&self) -> usize {
        self.threshold.saturating_sub(self.submitted())
    }
}

/// What every session call answers: the Coordinator's state, the open session, the last
/// ended one, and — for the submission that completed a session — the recovery's outcome.
#[derive(Debug, Clone)]
pub struct SessionReport {
    pub state: StateName,
    pub session: Option<SessionView>,
    pub last_ended: Option<EndedSession>,
    pub recovered: Option<RecoverOutcome>,
}

/// A share submission or a cancel request.
#[derive(Debug, Clone)]
pub struct SessionInput {
    pub session_id: Vec<u8>,
    pub owner: OwnerPublicKey,
    pub envelope: RecoveryEnvelope,
}

impl SessionBook {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Book::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // Every change builds its values first and assigns last: a poisoned lock still holds
        // a whole book.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Book {
    /// Ends the open session if its time is up.
    fn expire(&mut self, now: Instant) {
        if self.open.as_ref().is_some_and(|s| now >= s.expires) {
            self.end(SessionEnd::Expired);
        }
    }

    /// Ends the open session (dropping, and so zeroizing, its key and shares).
    fn end(&mut self, end: SessionEnd) {
        if let Some(session) = self.open.take() {
            tracing::info!(session = %hex::encode(session.id), end = ?end, "recovery session ended");
            self.last_ended = Some(EndedSession {
                id: session.id,
                end,
                at: SystemTime::now(),
            });
        }
    }

    fn report(&self, state: StateName) -> SessionReport {
        SessionReport {
            state,
            session: self.open.as_ref().map(Session::view),
            last_ended: self.last_ended.clone(),
            recovered: None,
        }
    }
}

impl Session {
    fn view(&self) -> SessionView {
        SessionView {
            id: self.id,
            public_key: self.key.public_key(),
            latest: self.latest,
            threshold: self.threshold,
            seats: self
                .seats
                .iter()
                .map(|seat| SeatView {
                    owner: seat.owner,
                    index: seat.index,
                    submitted_at: seat.submitted.as_ref().map(|(at, _)| *at),
                })
                .collect(),
            opened_at: self.opened_at,
            expires_at: self.expires_at,
            wrong_shares: self.wrong_shares.clone(),
        }
    }

    fn submitted(&self) -> usize {
        self.seats.iter().filter(|s| s.submitted.is_some()).count()
    }
}

fn recovering(state: &State) -> bool {
    matches!(state, State::RecoveryRequired { .. } | State::Stale)
}

impl<S: HistoryStore> Coordinator<S> {
    /// `GetRecoverySession`: the open session, if any, and how the last one ended. Served
    /// in every state.
    pub fn recovery_session(&self) -> Result<SessionReport, CoreError> {
        // Lock order: the session book may be held while the state lock is taken (a
        // recovery commits), never the other way round.
        let (recovering, state) = {
            let (guard, _) = self.synced()?;
            (recovering(&guard), guard.name())
        };
        let mut book = self.sessions.lock();
        book.expire(Instant::now());
        if !recovering {
            book.end(SessionEnd::Failed {
                reason: format!("the Coordinator is {state} without it"),
            });
        }
        Ok(book.report(state))
    }

    /// `OpenRecoverySession`: joins the open session, or opens one for the stored history.
    pub fn open_recovery_session(&self) -> Result<SessionReport, CoreError> {
        let state = {
            let (guard, _) = self.synced()?;
            if !recovering(&guard) {
                return Err(CoreError::WrongState {
                    op: "open a recovery session",
                    state: guard.name(),
                });
            }
            guard.name()
        };
        // The store is read without the state lock (and without the book's).
        let stored = self.stored_latest()?.transition_hash();
        {
            let mut book = self.sessions.lock();
            book.expire(Instant::now());
            if let Some(open) = &book.open {
                if open.latest == stored {
                    return Ok(book.report(state));
                }
                book.end(SessionEnd::Failed {
                    reason: "the stored history changed while it was open".into(),
                });
            }
        }
        let entries = self.history.walk(stored).map_err(map_history_error)?;
        let (Some((first, _)), Some((_, last))) = (entries.first(), entries.last()) else {
            return Err(CoreError::Corrupt {
                key: StoreKey::LATEST.into(),
                detail: "points to an empty chain".into(),
            });
        };
        let manifest = self.read_manifest(&last.manifest_hash)?;
        let threshold = manifest.seedshare_owner_threshold();
        if threshold < 2 {
            return Err(CoreError::NotThreshold);
        }
        let corrupt = |detail: String| CoreError::Corrupt {
            key: format!("manifests/{}", last.manifest_hash),
            detail,
        };
        let owners = manifest
            .seedshare_owner_keys()
            .map_err(|e| corrupt(e.to_string()))?
            .into_iter()
            .map(OwnerPublicKey::from_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt(e.to_string()))?;
        let commitments = self.stored_commitments(first)?;
        let seats = owners
            .into_iter()
            .enumerate()
            .map(|(i, owner)| Seat {
                owner,
                // ≤ 255 owners: validated for every threshold manifest.
                index: u8::try_from(i + 1).unwrap_or(u8::MAX),
                commitment: commitments
                    .as_ref()
                    .and_then(|c| c.of(&owner))
                    .map(|c| c.commitment),
                submitted: None,
            })
            .collect();
        let mut book = self.sessions.lock();
        book.expire(Instant::now());
        // Opened by someone else while the store was read: join it.
        if book.open.as_ref().is_some_and(|open| open.latest == stored) {
            return Ok(book.report(state));
        }
        let mut id = [0u8; SESSION_ID_LEN];
        OsRng.fill_bytes(&mut id);
        let now = SystemTime::now();
        book.open = Some(Session {
            id,
            key: RecoveryChallengeKey::generate(&mut OsRng),
            latest: stored,
            threshold,
            seats,
            opened_at: now,
            expires: Instant::now() + self.sessions.ttl,
            expires_at: now + self.sessions.ttl,
            wrong_shares: Vec::new(),
        });
        tracing::info!(session = %hex::encode(id), threshold, "recovery session opened");
        Ok(book.report(state))
    }

    /// The commitments kept at the first set; `None` (a wrong share is then found only by
    /// the chain check) when the store has none.
    fn stored_commitments(&self, first: &Digest) -> Result<Option<ShareCommitments>, CoreError> {
        let key = StoreKey::commitments(first);
        let bytes = self
            .history
            .store()
            .get(&key)
            .map_err(|e| map_history_error(e.into()))?;
        match bytes {
            None => {
                tracing::warn!(%key, "no stored share commitments: a wrong share will only show as a failed combination");
                Ok(None)
            }
            Some(bytes) => {
                ShareCommitments::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|e| CoreError::Corrupt {
                        key: key.as_str().to_owned(),
                        detail: e.to_string(),
                    })
            }
        }
    }

    /// `SubmitRecoveryShare`. At the k-th valid share: combine, verify, ready.
    pub fn submit_recovery_share(&self, input: SessionInput) -> Result<SessionReport, CoreError> {
        let state = {
            let (guard, _) = self.synced()?;
            if !recovering(&guard) {
                return Err(CoreError::WrongState {
                    op: "submit a share",
                    state: guard.name(),
                });
            }
            guard.name()
        };
        let stored = self.stored_latest()?;
        // Held through the combination below (sessions are paced by people), so that two
        // k-th shares do not both combine; the state lock is taken only to commit.
        let mut book = self.sessions.lock();
        book.expire(Instant::now());
        let session = open_session(&mut book, &input.session_id)?;
        if session.latest != stored.transition_hash() {
            book.end(SessionEnd::Failed {
                reason: "the stored history changed while it was open".into(),
            });
            return Err(CoreError::NoSession {
                what: "ended: the stored history changed",
            });
        }
        let fingerprint = input.owner.fingerprint();
        let Some(seat) = session.seats.iter().position(|s| s.owner == input.owner) else {
            return Err(CoreError::UnknownOwner { fingerprint });
        };
        let opened = open_share(
            &session.key,
            &input.owner,
            &session.id,
            session.latest.as_bytes(),
            &input.envelope,
        )
        .map_err(|_| CoreError::EnvelopeRejected { fingerprint })?;
        let seat_ref = &session.seats[seat];
        let wanted_index = seat_ref.index;
        let valid = opened.filter(|share| {
            share.index() == wanted_index && seat_ref.commitment.is_none_or(|c| share.matches(&c))
        });
        let Some(share) = valid else {
            tracing::warn!(owner = %fingerprint, index = wanted_index, "a recovery share that is not the owner's");
            if session.wrong_shares.len() >= MAX_WRONG_SHARES {
                session.wrong_shares.remove(0);
            }
            session.wrong_shares.push(WrongShare {
                owner: fingerprint,
                index: wanted_index,
                at: SystemTime::now(),
            });
            return Err(CoreError::WrongShare {
                fingerprint,
                index: wanted_index,
            });
        };
        match &session.seats[seat].submitted {
            Some((_, earlier)) if *earlier == share => {
                return Ok(book.report(state));
            }
            Some(_) => return Err(CoreError::AlreadySubmitted { fingerprint }),
            None => {}
        }
        session.seats[seat].submitted = Some((SystemTime::now(), share));
        let (threshold, submitted) = (session.threshold, session.submitted());
        tracing::info!(owner = %fingerprint, submitted, threshold, "recovery share accepted");
        if submitted < threshold {
            return Ok(book.report(state));
        }

        // k valid shares: combine, verify the whole chain, become ready.
        let shares: Vec<KeyShare> = session
            .seats
            .iter()
            .filter_map(|s| s.submitted.as_ref().map(|(_, share)| share.clone()))
            .collect();
        let contributors: Vec<String> = session
            .seats
            .iter()
            .filter(|s| s.submitted.is_some())
            .map(|s| s.owner.fingerprint().to_string())
            .collect();
        let result = threshold::combine(&shares, threshold)
            .map_err(|e| CoreError::Internal(e.to_string()))
            .and_then(|(seed, salt)| {
                let entries = self
                    .history
                    .walk(stored.transition_hash())
                    .map_err(map_history_error)?;
                let (_, last) = entries.last().ok_or_else(|| CoreError::Corrupt {
                    key: StoreKey::LATEST.into(),
                    detail: "points to an empty chain".into(),
                })?;
                let manifest = self.read_manifest(&last.manifest_hash)?;
                self.finish_recovery(&seed, &salt, stored, &entries, manifest)
            });
        drop(shares);
        match result {
            Ok(outcome) => {
                book.end(SessionEnd::Recovered);
                tracing::info!(owners = %contributors.join(", "), generation = outcome.generation, "recovered by a recovery session; Coordinator ready");
                let mut report = book.report(self.state_name());
                report.recovered = Some(outcome);
                Ok(report)
            }
            Err(CoreError::WrongSeed) => {
                let owners = contributors.join(", ");
                book.end(SessionEnd::Failed {
                    reason: format!(
                        "the shares of {owners} combine to a seed that does not verify the stored history"
                    ),
                });
                Err(CoreError::SharesDoNotVerify { owners })
            }
            Err(other) => {
                book.end(SessionEnd::Failed {
                    reason: other.to_string(),
                });
                Err(other)
            }
        }
    }

    /// `CancelRecoverySession`: an owner ends the open session.
    pub fn cancel_recovery_session(&self, input: SessionInput) -> Result<SessionReport, CoreError> {
        let state = self.state_name();
        let mut book = self.sessions.lock();
        book.expire(Instant::now());
        let session = open_session(&mut book, &input.session_id)?;
        let fingerprint = input.owner.fingerprint();
        if !session.seats.iter().any(|s| s.owner == input.owner) {
            return Err(CoreError::UnknownOwner { fingerprint });
        }
        open_cancel(
            &session.key,
            &input.owner,
            &session.id,
            session.latest.as_bytes(),
            &input.envelope,
        )
        .map_err(|_| CoreError::EnvelopeRejected { fingerprint })?;
        book.end(SessionEnd::Cancelled { by: fingerprint });
        Ok(book.report(state))
    }
}

/// The open session with this id.
fn open_session<'b>(book: &'b mut Book, id: &[u8]) -> Result<&'b mut Session, CoreError> {
    match &mut book.open {
        Some(session) if session.id.as_slice() == id => Ok(session),
        Some(_) => Err(CoreError::NoSession {
            what: "not the open one (it ended; another is open now)",
        }),
        None => Err(CoreError::NoSession {
            what: "not open (it was cancelled, expired or completed, or the Coordinator restarted)",
        }),
    }
}
