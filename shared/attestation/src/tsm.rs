//! The evidence producer: the Linux configfs-tsm report ABI (kernel
//! `Documentation/ABI/testing/configfs-tsm-report`, Linux 6.7+). The only I/O in this crate.
//!
//! # Steps
//! For each attempt (at most [`TsmProducer::attempts`]):
//! 1. `mkdir <root>/<unique name>`: a report entry of our own, so no other process writes
//!    into it (the ABI's recommended way to avoid collisions).
//! 2. Read `provider` (`sev_guest` → SNP, `tdx_guest` → TDX). On configfs the attributes exist
//!    as soon as the directory does; a directory served by another process (the test server)
//!    may fill it a moment later, so the producer waits up to [`ATTRIBUTE_WAIT`] for it.
//! 3. Read `generation`: the count of writes to this entry so far.
//! 4. If a privilege level was asked for and the entry has `privlevel`: check it against
//!    `privlevel_floor`, write it.
//! 5. Write the 64-byte `report_data` to `inblob`.
//! 6. Read `outblob` (the report or quote), then `auxblob` (SNP certificate table; absent or
//!    empty is fine).
//! 7. Read `generation` again: it must have grown by exactly the number of our writes, else
//!    someone else wrote to the entry in between and the attempt is discarded.
//! 8. `rmdir` the entry. On configfs this removes its attributes too; where it fails (a plain
//!    directory) the entry is left behind and reported in [`TsmReport::leftover_entry`].
//!
//! Every read is bounded (`outblob` by [`MAX_OUTBLOB`], `auxblob` by [`MAX_AUXBLOB`], small
//! attributes by 64 bytes), so a FIFO or `/dev/zero` in place of an attribute cannot exhaust
//! memory. Reads are plain blocking reads to end of file: the same code works on configfs
//! files and on pipes.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::binding::{Evidence, EvidenceKind};

/// Where the kernel mounts the report interface.
pub const DEFAULT_TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";
/// Largest accepted `outblob` (the kernel's limit is 32 KiB; TDX quotes are ~5 KiB).
pub const MAX_OUTBLOB: u64 = 64 * 1024;
/// Largest accepted `auxblob` (an SNP certificate table is a few KiB).
pub const MAX_AUXBLOB: u64 = 1024 * 1024;
/// Largest accepted small attribute (`provider`, `generation`, `privlevel_floor`).
const MAX_ATTRIBUTE: u64 = 64;
/// How long the producer waits for a new entry's attributes to appear.
pub const ATTRIBUTE_WAIT: Duration = Duration::from_secs(2);
/// Default number of attempts when `generation` moves.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// What the `provider` attribute names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// `sev_guest`: AMD SEV-SNP.
    SevGuest,
    /// `tdx_guest`: Intel TDX.
    TdxGuest,
    /// Anything else, verbatim.
    Other(String),
}

impl Provider {
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "sev_guest" => Self::SevGuest,
            "tdx_guest" => Self::TdxGuest,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The evidence kind this provider produces.
    pub fn kind(&self) -> Option<EvidenceKind> {
        match self {
            Self::SevGuest => Some(EvidenceKind::Snp),
            Self::TdxGuest => Some(EvidenceKind::Tdx),
            Self::Other(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::SevGuest => "sev_guest",
            Self::TdxGuest => "tdx_guest",
            Self::Other(s) => s,
        }
    }
}

/// Why evidence could not be produced. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsmError {
    #[error(
        "{root} does not exist or is not a directory: this is not a confidential VM with configfs-tsm (Linux 6.7+, configfs mounted at /sys/kernel/config), or --tsm-dir is wrong"
    )]
    NotAvailable { root: PathBuf },
    #[error(
        "cannot create the report entry {path}: {source}; the Coordinator needs write access to the tsm report directory (root, or a writable --tsm-dir)"
    )]
    CreateEntry { path: PathBuf, source: io::Error },
    #[error(
        "the report entry {entry} has no `provider` after {waited:?}: {root} is not a configfs-tsm report directory"
    )]
    NoProvider {
        entry: PathBuf,
        root: PathBuf,
        waited: Duration,
    },
    #[error(
        "the TSM provider is {provider:?}; Seedward supports sev_guest (SNP) and tdx_guest (TDX)"
    )]
    UnsupportedProvider { provider: String },
    #[error(
        "the TSM provider is {provider} ({found}), but {wanted} evidence was requested; start with --attestation {found} or auto"
    )]
    WrongProvider {
        provider: String,
        found: EvidenceKind,
        wanted: EvidenceKind,
    },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "cannot write {path}: {source}; the kernel refused the request (for SNP: is the sev-guest driver loaded and the VMPL allowed?)"
    )]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} holds more than {cap} bytes; it is not a configfs-tsm attribute")]
    TooLarge { path: PathBuf, cap: u64 },
    #[error("{path} holds {content:?}, not a decimal generation counter")]
    BadGeneration { path: PathBuf, content: String },
    #[error(
        "privilege level {requested} is below the platform's floor {floor} (privlevel_floor); request level {floor} or higher"
    )]
    PrivlevelBelowFloor { requested: u8, floor: u8 },
    #[error("the platform returned an empty report in {path}")]
    EmptyReport { path: PathBuf },
    #[error(
        "another writer changed the report entry while it was read, {attempts} times in a row (generation moved); retry, and check that nothing else uses entry names starting with seedward-"
    )]
    GenerationMoved { attempts: u32 },
}

/// Evidence from the platform, and how it was obtained.
#[derive(Debug, Clone)]
pub struct TsmReport {
    pub provider: Provider,
    pub evidence: Evidence,
    /// The `generation` after the last write of the successful attempt.
    pub generation: u64,
    /// How many attempts it took (≥ 1).
    pub attempts: u32,
    /// The entry that `rmdir` could not remove (on configfs it always can).
    pub leftover_entry: Option<PathBuf>,
}

/// The configfs-tsm producer. See the module docs.
#[derive(Debug, Clone)]
pub struct TsmProducer {
    root: PathBuf,
    privlevel: Option<u8>,
    attempts: u32,
    expect: Option<EvidenceKind>,
}

/// Outcome of [`detect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// The tsm directory names a supported TEE.
    Tee {
        kind: EvidenceKind,
        provider: String,
    },
    /// No usable TEE; the reason says why (for the warning `auto` prints).
    NoTee { reason: String },
}

/// For `--attestation auto`: which TEE the tsm directory's provider names, by creating and
/// removing one entry (no report is requested).
pub fn detect(root: &Path) -> Detection {
    if !root.is_dir() {
        return Detection::NoTee {
            reason: TsmError::NotAvailable {
                root: root.to_owned(),
            }
            .to_string(),
        };
    }
    let entry = match create_entry(root) {
        Ok(e) => e,
        Err(e) => {
            return Detection::NoTee {
                reason: e.to_string(),
            };
        }
    };
    let provider = read_provider(root, &entry);
    let _ = fs::remove_dir(&entry);
    match provider {
        Err(e) => Detection::NoTee {
            reason: e.to_string(),
        },
        Ok(p) => match p.kind() {
            Some(kind) => Detection::Tee {
                kind,
                provider: p.as_str().to_owned(),
            },
            None => Detection::NoTee {
                reason: TsmError::UnsupportedProvider {
                    provider: p.as_str().to_owned(),
                }
                .to_string(),
            },
        },
    }
}

impl TsmProducer {
    /// A producer on `root` (usually [`DEFAULT_TSM_REPORT_DIR`]), privilege level not written,
    /// [`DEFAULT_ATTEMPTS`] attempts, any supported provider.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            privlevel: None,
            attempts: DEFAULT_ATTEMPTS,
            expect: None,
        }
    }

    /// Writes `privlevel` (SNP VMPL) before each request, if the entry has the attribute.
    /// Seedward's verifier requires VMPL 0.
    pub fn privlevel(mut self, level: Option<u8>) -> Self {
        self.privlevel = level;
        self
    }

    /// At most `n` attempts (at least 1) when `generation` moves.
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }

    /// Fails with [`TsmError::WrongProvider`] unless the provider produces `kind`
    /// (`--attestation snp|tdx`).
    pub fn expect_kind(mut self, kind: Option<EvidenceKind>) -> Self {
        self.expect = kind;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Produces evidence binding `report_data`.
    pub fn produce(&self, report_data: &[u8; 64]) -> Result<TsmReport, TsmError> {
        if !self.root.is_dir() {
            return Err(TsmError::NotAvailable {
                root: self.root.clone(),
            });
        }
        for attempt in 1..=self.attempts {
            let entry = create_entry(&self.root)?;
            let outcome = self.attempt(&entry, report_data);
            let leftover = fs::remove_dir(&entry).err().map(|_| entry.clone());
            match outcome {
                Ok(Some((provider, evidence, generation))) => {
                    return Ok(TsmReport {
                        provider,
                        evidence,
                        generation,
                        attempts: attempt,
                        leftover_entry: leftover,
                    });
                }
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(TsmError::GenerationMoved {
            attempts: self.attempts,
        })
    }

    /// One attempt; `Ok(None)` when `generation` moved.
    fn attempt(
        &self,
        entry: &Path,
        report_data: &[u8; 64],
    ) -> Result<Option<(Provider, Evidence, u64)>, TsmError> {
        let provider = read_provider(&self.root, entry)?;
        let kind = provider
            .kind()
            .ok_or_else(|| TsmError::UnsupportedProvider {
                provider: provider.as_str().to_owned(),
            })?;
        if let Some(wanted) = self.expect
            && wanted != kind
        {
            return Err(TsmError::WrongProvider {
                provider: provider.as_str().to_owned(),
                found: kind,
                wanted,
            });
        }
        let generation_path = entry.join("generation");
        let before = read_generation(&generation_path)?;
        let mut writes = 0u64;
        if let Some(level) = self.privlevel {
            let path = entry.join("privlevel");
            if path.exists() {
                let floor_path = entry.join("privlevel_floor");
                if floor_path.exists() {
                    let floor_text = read_text(&floor_path)?;
                    let floor: u8 =
                        floor_text
                            .trim()
                            .parse()
                            .map_err(|_| TsmError::BadGeneration {
                                path: floor_path.clone(),
                                content: floor_text.clone(),
                            })?;
                    if level < floor {
                        return Err(TsmError::PrivlevelBelowFloor {
                            requested: level,
                            floor,
                        });
                    }
                }
                write_attribute(&path, format!("{level}\n").as_bytes())?;
                writes += 1;
            }
        }
        write_attribute(&entry.join("inblob"), report_data)?;
        writes += 1;
        let outblob_path = entry.join("outblob");
        let report = read_bounded(&outblob_path, MAX_OUTBLOB)?;
        if report.is_empty() {
            return Err(TsmError::EmptyReport { path: outblob_path });
        }
        let auxblob_path = entry.join("auxblob");
        let certificates = match read_bounded(&auxblob_path, MAX_AUXBLOB) {
            Ok(bytes) => bytes,
            Err(TsmError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let after = read_generation(&generation_path)?;
        if after != before + writes {
            return Ok(None);
        }
        let certificates = if kind == EvidenceKind::Snp {
            certificates
        } else {
            Vec::new()
        };
        Ok(Some((
            provider,
            Evidence {
                kind,
                report,
                certificates,
                collateral: Vec::new(),
            },
            after,
        )))
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn create_entry(root: &Path) -> Result<PathBuf, TsmError> {
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "seedward-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = root.join(name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(TsmError::CreateEntry { path, source }),
        }
    }
}

fn read_provider(root: &Path, entry: &Path) -> Result<Provider, TsmError> {
    let path = entry.join("provider");
    let start = Instant::now();
    loop {
        match read_text(&path) {
            Ok(text) => return Ok(Provider::parse(&text)),
            Err(TsmError::Read { source, .. })
                if source.kind() == io::ErrorKind::NotFound && start.elapsed() < ATTRIBUTE_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(TsmError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(TsmError::NoProvider {
                    entry: entry.to_owned(),
                    root: root.to_owned(),
                    waited: ATTRIBUTE_WAIT,
                });
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads at most `cap` bytes; more is an error, not a truncation.
fn read_bounded(path: &Path, cap: u64) -> Result<Vec<u8>, TsmError> {
    let read_err = |source| TsmError::Read {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let mut out = Vec::new();
    file.take(cap + 1).read_to_end(&mut out).map_err(read_err)?;
    if out.len() as u64 > cap {
        return Err(TsmError::TooLarge {
            path: path.to_owned(),
            cap,
        });
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<String, TsmError> {
    let bytes = read_bounded(path, MAX_ATTRIBUTE)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_generation(path: &Path) -> Result<u64, TsmError> {
    let text = read_text(path)?;
    text.trim().parse().map_err(|_| TsmError::BadGeneration {
        path: path.to_owned(),
        content: text,
    })
}

/// One `write(2)` of the whole value, as configfs attributes expect (no truncate: configfs
/// attributes cannot be truncated).
fn write_attribute(path: &Path, bytes: &[u8]) -> Result<(), TsmError> {
    let write_err = |source| TsmError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(write_err)?;
    file.write_all(bytes).map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers() {
        assert_eq!(
            Provider::parse("sev_guest\n").kind(),
            Some(EvidenceKind::Snp)
        );
        assert_eq!(Provider::parse("tdx_guest").kind(), Some(EvidenceKind::Tdx));
        assert_eq!(Provider::parse("arm_cca_guest").kind(), None);
    }

    #[test]
    fn missing_root_is_not_available() {
        let err = TsmProducer::new("/nonexistent/tsm")
            .produce(&[0; 64])
            .expect_err("no such dir");
        assert!(matches!(err, TsmError::NotAvailable { .. }));
        assert!(matches!(
            detect(Path::new("/nonexistent/tsm")),
            Detection::NoTee { .. }
        ));
    }

    #[test]
    fn bounded_reads_stop_at_the_cap() {
        let err = read_bounded(Path::new("/dev/zero"), 1024).expect_err("endless");
        assert!(matches!(err, TsmError::TooLarge { cap: 1024, .. }));
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("generation");
        fs::write(&p, "12\n").expect("write");
        assert_eq!(read_generation(&p).expect("parses"), 12);
        fs::write(&p, "twelve").expect("write");
        assert!(matches!(
            read_generation(&p),
            Err(TsmError::BadGeneration { .. })
        ));
    }

    #[test]
    fn a_plain_directory_has_no_provider() {
        let dir = tempfile::tempdir().expect("tempdir");
        let start = Instant::now();
        let err = TsmProducer::new(dir.path())
            .produce(&[0; 64])
            .expect_err("nothing serves it");
        assert!(matches!(err, TsmError::NoProvider { .. }), "{err}");
        assert!(start.elapsed() >= ATTRIBUTE_WAIT);
    }
}
