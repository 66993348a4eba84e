//! Reading the store's latest pointer outside the state lock, one read at a time.
//!
//! Every request checks the store's `transitions/latest` before it answers (that is what
//! makes a replica notice another replica's update, or a history swapped under it). That
//! read runs **without** the state lock, so a slow or hung store never queues requests that
//! memory can answer (issue: "a blocked storage read freezes the daemon").
//!
//! Reads are single-flight: while one read is running, other requests wait for it instead
//! of starting their own, and use its answer only if it started after they arrived (so an
//! answer is never older than the request). A read that has been running for longer than
//! `busy_after` means the store is stuck: later requests answer from memory at once
//! ([`Fresh::Busy`]) and leave one thread, not one per request, blocked in the store.
//! [`super::stall`] turns liveness NOT_SERVING when that read passes the stall limit.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::CoreError;

/// What a request learned about the store's latest pointer.
#[derive(Debug)]
pub(super) enum Fresh {
    /// The pointer's bytes (`None`: no history), read after the request arrived.
    Read(Option<Vec<u8>>),
    /// A read has been running for this long: the store is stuck; answer from memory.
    Busy { running: Duration },
}

/// The outcome one read shares with the requests that waited for it. Errors are not
/// shared: a waiter reads again and gets its own error.
type Shared = Option<Option<Vec<u8>>>;

struct Flight {
    started: Instant,
    outcome: Mutex<Option<Shared>>,
    done: Condvar,
}

impl Flight {
    fn lock(&self) -> MutexGuard<'_, Option<Shared>> {
        // Only ever set once, whole: a poisoned lock still holds a consistent value.
        self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, outcome: Shared) {
        *self.lock() = Some(outcome);
        self.done.notify_all();
    }

    /// Waits at most `limit` for the read to finish. `None`: still running.
    fn wait(&self, limit: Duration) -> Option<Shared> {
        let guard = self.lock();
        let (guard, _) = self
            .done
            .wait_timeout_while(guard, limit, |outcome| outcome.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.clone()
    }
}

/// Finishes the flight and clears the slot even if the read panics, so that one panic
/// does not make every later request see a "stuck" store.
struct Pilot<'a> {
    reader: &'a LatestReader,
    flight: Arc<Flight>,
    outcome: Shared,
}

impl Drop for Pilot<'_> {
    fn drop(&mut self) {
        self.flight.finish(self.outcome.take());
        let mut slot = self.reader.slot();
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.flight)) {
            *slot = None;
        }
    }
}

/// The single-flight reader of `transitions/latest`.
pub(super) struct LatestReader {
    current: Mutex<Option<Arc<Flight>>>,
    busy_after: Duration,
}

impl LatestReader {
    pub(super) fn new(busy_after: Duration) -> Self {
        Self {
            current: Mutex::new(None),
            busy_after,
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<Flight>>> {
        // Only ever assigned whole.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest pointer as the store holds it now, via `read_now` or a read that started
    /// after this call; or [`Fresh::Busy`] when a read has been stuck for `busy_after`.
    pub(super) fn read(
        &self,
        read_now: impl Fn() -> Result<Option<Vec<u8>>, CoreError>,
    ) -> Result<Fresh, CoreError> {
        let arrived = Instant::now();
        loop {
            let flight = {
                let mut slot = self.slot();
                match slot.as_ref() {
                    Some(flight) => flight.clone(),
                    None => {
                        let flight = Arc::new(Flight {
                            started: Instant::now(),
                            outcome: Mutex::new(None),
                            done: Condvar::new(),
                        });
                        *slot = Some(flight.clone());
                        drop(slot);
                        let mut pilot = Pilot {
                            reader: self,
                            flight,
                            outcome: None,
                        };
                        let result = read_now();
                        pilot.outcome = result.as_ref().ok().cloned();
                        drop(pilot);
                        return result.map(Fresh::Read);
                    }
                }
            };
            let running = flight.started.elapsed();
            if running >= self.busy_after {
                return Ok(Fresh::Busy { running });
            }
            match flight.wait(self.busy_after - running) {
                None => {
                    return Ok(Fresh::Busy {
                        running: flight.started.elapsed(),
                    });
                }
                // Started after this request arrived: its answer is fresh enough.
                Some(Some(bytes)) if flight.started >= arrived => return Ok(Fresh::Read(bytes)),
                // Older than this request, or it failed: read (or join a newer read) again.
                Some(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn a_lone_read_reads() {
        let reader = LatestReader::new(Duration::from_secs(1));
        let got = reader.read(|| Ok(Some(b"x".to_vec()))).unwrap();
        assert!(matches!(got, Fresh::Read(Some(ref b)) if b == b"x"));
        let got = reader.read(|| Ok(None)).unwrap();
        assert!(matches!(got, Fresh::Read(None)));
    }

    #[test]
    fn errors_are_returned_and_do_not_leave_the_reader_stuck() {
        let reader = LatestReader::new(Duration::from_secs(1));
        let err = reader
            .read(|| Err(CoreError::Storage("disk on fire".into())))
            .unwrap_err();
        assert_eq!(err, CoreError::Storage("disk on fire".into()));
        assert!(matches!(
            reader.read(|| Ok(None)).unwrap(),
            Fresh::Read(None)
        ));
    }

    #[test]
    fn a_stuck_read_makes_later_requests_busy_without_starting_more_reads() {
        let reader = Arc::new(LatestReader::new(Duration::from_millis(50)));
        let reads = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let stuck = {
            let (reader, reads) = (reader.clone(), reads.clone());
            std::thread::spawn(move || {
                reader
                    .read(|| {
                        reads.fetch_add(1, Ordering::SeqCst);
                        started_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                        Ok(Some(b"late".to_vec()))
                    })
                    .unwrap()
            })
        };
        started_rx.recv().unwrap();
        // Waits for at most the rest of busy_after, then answers Busy; never reads itself.
        for _ in 0..5 {
            let got = reader
                .read(|| {
                    reads.fetch_add(1, Ordering::SeqCst);
                    Ok(None)
                })
                .unwrap();
            assert!(matches!(got, Fresh::Busy { running } if running >= Duration::from_millis(50)));
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        release_tx.send(()).unwrap();
        assert!(matches!(stuck.join().unwrap(), Fresh::Read(Some(ref b)) if b == b"late"));
        // The slot is free again: the next request reads for itself.
        assert!(matches!(
            reader.read(|| Ok(Some(b"now".to_vec()))).unwrap(),
            Fresh::Read(Some(ref b)) if b == b"now"
        ));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_read_older_than_the_request_is_not_used() {
        let reader = Arc::new(LatestReader::new(Duration::from_secs(5)));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let first = {
            let reader = reader.clone();
            std::thread::spawn(move || {
                reader
                    .read(|| {
                        started_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                        Ok(Some(b"old".to_vec()))
                    })
                    .unwrap()
            })
        };
        started_rx.recv().unwrap();
        let second = {
            let reader = reader.clone();
            std::thread::spawn(move || reader.read(|| Ok(Some(b"new".to_vec()))).unwrap())
        };
        // Give the second request time to start waiting on the first read.
        std::thread::sleep(Duration::from_millis(50));
        release_tx.send(()).unwrap();
        assert!(matches!(first.join().unwrap(), Fresh::Read(Some(ref b)) if b == b"old"));
        // It arrived while "old" was being read, so it read again.
        assert!(matches!(second.join().unwrap(), Fresh::Read(Some(ref b)) if b == b"new"));
    }

    #[test]
    fn a_panicking_read_frees_the_slot() {
        let reader = Arc::new(LatestReader::new(Duration::from_secs(1)));
        let r = reader.clone();
        let panicked = std::thread::spawn(move || r.read(|| panic!("boom"))).join();
        assert!(panicked.is_err());
        assert!(matches!(
            reader.read(|| Ok(None)).unwrap(),
            Fresh::Read(None)
        ));
    }
}
