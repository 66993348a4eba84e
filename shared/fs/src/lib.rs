//! Seedward's one way to touch files that matter: a directory handle that never follows a
//! symlink, bounded reads, crash-safe writes.
//!
//! Every program of the workspace writes through this crate: the Coordinator's history
//! store, the initializer's credentials, the console's workspace and key files.
//!
//! # Invariants
//! - A [`Dir`] is an open directory file descriptor. Every operation is relative to it
//!   (`openat`, `renameat`, …), with `O_NOFOLLOW`: a symlink planted in the directory is
//!   refused, never followed, so a write cannot land outside it and a `chmod` cannot reach
//!   another file. The directory itself is opened with `O_NOFOLLOW` as well, so a symlinked
//!   final component (`history -> /etc`) is refused; components above it are trusted (they
//!   belong to the operator: `/var/run -> /run` is fine).
//! - Reads accept regular files only (a FIFO, a device or `/dev/zero` is refused without
//!   blocking) and never read more than the caller's limit: a file over the limit is an
//!   error, not a truncated value.
//! - [`Dir::write_atomic`] writes a fresh, unpredictably named temp file (`create_new`),
//!   fsyncs it, sets the exact mode, renames it over the target and fsyncs the directory:
//!   a reader sees the old content or the new one, never a torn file, also after a crash.
//! - [`Dir::create_new`] never replaces anything: the content is written to a temp file
//!   first and then hard-linked to the name, which fails if the name exists. A crash leaves
//!   either no file or the complete file, never a short one.
//! - Modes are exact (the umask does not apply): set with `fchmod` on the open file.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore as _};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use zeroize::Zeroizing;

/// An open directory; see the crate docs.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl fmt::Debug for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dir").field("path", &self.path).finish()
    }
}

/// A held exclusive `flock`; released on drop.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn errno(err: rustix::io::Errno) -> io::Error {
    io::Error::from(err)
}

/// An error that names what is wrong with `path` (never its content).
fn refused(path: &Path, what: impl fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a plain file name"),
        ));
    }
    Ok(())
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens `path` as a directory, refusing a symlink as its last component.
fn open_dir_fd(path: &Path) -> io::Result<OwnedFd> {
    rustix::fs::open(path, dir_flags(), Mode::empty()).map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => refused(
            path,
            "is a symlink or not a directory; Seedward does not follow symlinks here",
        ),
        other => io::Error::new(
            io::Error::from(other).kind(),
            format!("{}: {}", path.display(), io::Error::from(other)),
        ),
    })
}

impl Dir {
    /// Opens an existing directory.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let fd = open_dir_fd(&path)?;
        Ok(Self { fd, path })
    }

    /// Opens `path`, creating it and its missing parents with `mode` first. Only directories
    /// this call creates get `mode`; an existing one keeps its own (see [`Dir::set_mode`]).
    pub fn create(path: impl Into<PathBuf>, mode: u32) -> io::Result<Self> {
        let path = path.into();
        match open_dir_fd(&path) {
            Ok(fd) => return Ok(Self { fd, path }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let parent = Dir::create(parent, mode)?;
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} has no final component", path.display()),
            )
        })?;
        parent.create_subdir_os(name, mode)
    }

    /// The directory that holds `path` (created with `mode` if missing; `.` for a bare
    /// name) and the file name inside it.
    pub fn parent_of(path: &Path, mode: u32) -> io::Result<(Dir, String)> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} does not end in a file name", path.display()),
                )
            })?
            .to_owned();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok((Dir::create(parent, mode)?, name))
    }

    /// The path this directory was opened at (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside this directory (for messages).
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Opens the subdirectory `name`, creating it with `mode` if it is missing.
    pub fn subdir(&self, name: &str, create_mode: Option<u32>) -> io::Result<Dir> {
        check_name(name)?;
        match create_mode {
            Some(mode) => self.create_subdir_os(OsStr::new(name), mode),
            None => self.open_subdir_os(OsStr::new(name)),
        }
    }

    fn open_subdir_os(&self, name: &OsStr) -> io::Result<Dir> {
        let path = self.path.join(name);
        let fd = rustix::fs::openat(&self.fd, name, dir_flags(), Mode::empty()).map_err(
            |e| match e {
                rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => refused(
                    &path,
                    "is a symlink or not a directory; Seedward does not follow symlinks here",
                ),
                other => io::Error::new(
                    io::Error::from(other).kind(),
                    format!("{}: {}", path.display(), io::Error::from(other)),
                ),
            },
        )?;
        Ok(Dir { fd, path })
    }

    fn create_subdir_os(&self, name: &OsStr, mode: u32) -> io::Result<Dir> {
        let created = match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode)) {
            Ok(()) => true,
            Err(rustix::io::Errno::EXIST) => false,
            Err(e) => {
                return Err(io::Error::new(
                    errno(e).kind(),
                    format!(
                        "cannot create {}: {}",
                        self.path.join(name).display(),
                        errno(e)
                    ),
                ));
            }
        };
        let dir = self.open_subdir_os(name)?;
        if created {
            // mkdir honours the umask; make the mode exact, then make the entry durable.
            dir.set_mode(mode)?;
            self.sync()?;
        }
        Ok(dir)
    }

    /// Sets this directory's mode (through its descriptor: never a symlink's target).
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        rustix::fs::fchmod(&self.fd, Mode::from_raw_mode(mode)).map_err(errno)
    }

    /// This directory's permission bits.
    pub fn mode(&self) -> io::Result<u32> {
        let stat = rustix::fs::fstat(&self.fd).map_err(errno)?;
        Ok(stat.st_mode & 0o7777)
    }

    /// Makes the directory's entries durable.
    pub fn sync(&self) -> io::Result<()> {
        rustix::fs::fsync(&self.fd).map_err(errno)
    }

    /// Whether `name` exists (a symlink counts as existing; it is never followed).
    pub fn exists(&self, name: &str) -> io::Result<bool> {
        check_name(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(errno(e)),
        }
    }

    /// The permission bits of the regular file `name`, or `None` if it is missing.
    pub fn file_mode(&self, name: &str) -> io::Result<Option<u32>> {
        check_name(name)?;
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat.st_mode & 0o7777)),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(errno(e)),
        }
    }

    /// Opens the regular file `name` for reading: no symlink, no FIFO or device (opened
    /// non-blocking, so a FIFO cannot hang the caller, then checked with `fstat`).
    fn open_regular(&self, name: &str) -> io::Result<Option<(File, u64)>> {
        check_name(name)?;
        let path = self.join(name);
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(refused(&path, "is a symlink; Seedward does not follow it"));
            }
            Err(e) => {
                return Err(io::Error::new(
                    errno(e).kind(),
                    format!("{}: {}", path.display(), errno(e)),
                ));
            }
        };
        let stat = rustix::fs::fstat(&fd).map_err(errno)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(refused(&path, "is not a regular file"));
        }
        // Regular files never block; clear O_NONBLOCK anyway so reads behave normally.
        rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(errno)?;
        Ok(Some((
            File::from(fd),
            u64::try_from(stat.st_size).unwrap_or(0),
        )))
    }

    /// Reads the regular file `name`, at most `limit` bytes; `None` if it is missing.
    /// A larger file is an error naming the limit.
    pub fn read(&self, name: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let Some((file, size)) = self.open_regular(name)? else {
            return Ok(None);
        };
        let mut buf = Vec::with_capacity(capacity(size, limit));
        read_bounded(file, &mut buf, limit, &self.join(name))?;
        Ok(Some(buf))
    }

    /// Like [`Dir::read`], into a buffer that is zeroized when dropped.
    pub fn read_secret(&self, name: &str, limit: u64) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        let Some((file, size)) = self.open_regular(name)? else {
            return Ok(None);
        };
        // Sized up front so that reading never reallocates (which would leave an
        // unzeroized copy behind) for a file that did not grow since `fstat`.
        let mut buf = Zeroizing::new(Vec::with_capacity(capacity(size, limit)));
        read_bounded(file, &mut buf, limit, &self.join(name))?;
        Ok(Some(buf))
    }

    /// Creates a temp file with `content` and exactly `mode`, fsynced; returns its name.
    fn write_temp(&self, name: &str, content: &[u8], mode: u32) -> io::Result<String> {
        self.write_temp_with(name, content, mode, true)
    }

    fn write_temp_with(
        &self,
        name: &str,
        content: &[u8],
        mode: u32,
        sync: bool,
    ) -> io::Result<String> {
        let tmp = format!(".{name}.tmp-{:016x}", OsRng.next_u64());
        let fd = rustix::fs::openat(
            &self.fd,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| {
            io::Error::new(
                errno(e).kind(),
                format!("cannot create {}: {}", self.join(&tmp).display(), errno(e)),
            )
        })?;
        let mut file = File::from(fd);
        let result = (|| {
            rustix::fs::fchmod(file.as_fd(), Mode::from_raw_mode(mode)).map_err(errno)?;
            file.write_all(content)?;
            if sync { file.sync_all() } else { Ok(()) }
        })();
        if let Err(e) = result {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            return Err(io::Error::new(
                e.kind(),
                format!("cannot write {}: {e}", self.join(name).display()),
            ));
        }
        Ok(tmp)
    }

    /// Replaces (or creates) `name` atomically with `content`, mode `mode`.
    pub fn write_atomic(&self, name: &str, content: &[u8], mode: u32) -> io::Result<()> {
        self.write_renamed(name, content, mode)?;
        self.sync()
    }

    /// [`Dir::write_atomic`] without the directory fsync: the content is fsynced and renamed
    /// into place, so a reader sees the old value or the new one, but the rename itself is
    /// durable only after a later [`Dir::sync`] of this directory. For callers that write
    /// several files and then order one directory fsync before the write that refers to them.
    pub fn write_renamed(&self, name: &str, content: &[u8], mode: u32) -> io::Result<()> {
        check_name(name)?;
        let tmp = self.write_temp(name, content, mode)?;
        if let Err(e) = rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name) {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            return Err(io::Error::new(
                errno(e).kind(),
                format!("cannot replace {}: {}", self.join(name).display(), errno(e)),
            ));
        }
        Ok(())
    }

    /// Replaces `name` with `content` by a rename, without any fsync: a reader sees the old
    /// content, the new, or (after a crash) possibly an empty or missing file. Only for
    /// hints that are checked when read and cost nothing to lose.
    pub fn write_hint(&self, name: &str, content: &[u8], mode: u32) -> io::Result<()> {
        check_name(name)?;
        let tmp = self.write_temp_with(name, content, mode, false)?;
        if let Err(e) = rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name) {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
            return Err(io::Error::new(
                errno(e).kind(),
                format!("cannot replace {}: {}", self.join(name).display(), errno(e)),
            ));
        }
        Ok(())
    }

    /// Creates `name` with `content` and exactly `mode`; fails with
    /// [`io::ErrorKind::AlreadyExists`] if `name` exists (also as a symlink). Never
    /// leaves a short file behind.
    pub fn create_new(&self, name: &str, content: &[u8], mode: u32) -> io::Result<()> {
        check_name(name)?;
        let tmp = self.write_temp(name, content, mode)?;
        let linked = rustix::fs::linkat(&self.fd, tmp.as_str(), &self.fd, name, AtFlags::empty());
        let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        match linked {
            Ok(()) => self.sync(),
            Err(rustix::io::Errno::EXIST) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", self.join(name).display()),
            )),
            Err(e) => Err(io::Error::new(
                errno(e).kind(),
                format!("cannot create {}: {}", self.join(name).display(), errno(e)),
            )),
        }
    }

    /// Renames `from` to `to` inside this directory (a symlink is moved, never followed).
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        rustix::fs::renameat(&self.fd, from, &self.fd, to).map_err(errno)?;
        self.sync()
    }

    /// Removes the file (or symlink) `name`; a missing one is fine.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => self.sync(),
            Err(e) => Err(errno(e)),
        }
    }

    /// Fsyncs the regular file `name` (making bytes already there durable).
    pub fn sync_file(&self, name: &str) -> io::Result<()> {
        match self.open_regular(name)? {
            Some((file, _)) => file.sync_all(),
            None => Ok(()),
        }
    }

    /// Takes an exclusive `flock` on `name` (created 0600 if missing), blocking until held.
    pub fn lock(&self, name: &str) -> io::Result<Lock> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => refused(&self.join(name), "is a symlink"),
            other => io::Error::new(
                errno(other).kind(),
                format!("{}: {}", self.join(name).display(), errno(other)),
            ),
        })?;
        let stat = rustix::fs::fstat(&fd).map_err(errno)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(refused(&self.join(name), "is not a regular file"));
        }
        rustix::fs::flock(&fd, FlockOperation::LockExclusive).map_err(errno)?;
        Ok(Lock {
            _file: File::from(fd),
        })
    }

    /// Takes an exclusive `flock` on `name` without waiting: `Ok(None)` if someone holds it.
    pub fn try_lock(&self, name: &str) -> io::Result<Option<Lock>> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(errno)?;
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(Lock {
                _file: File::from(fd),
            })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(errno(e)),
        }
    }

    /// The names in this directory (not `.`/`..`), unsorted.
    pub fn names(&self) -> io::Result<Vec<String>> {
        let fd = rustix::fs::openat(&self.fd, ".", dir_flags(), Mode::empty()).map_err(errno)?;
        let mut dir = rustix::fs::Dir::read_from(&fd).map_err(errno)?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(errno)?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            names.push(String::from_utf8_lossy(bytes).into_owned());
        }
        Ok(names)
    }

    /// The raw descriptor, for callers that need another `*at` call.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The buffer to allocate for a file of `size` bytes read with `limit`: one byte more than
/// the expected read, so that the end of file is seen without growing the buffer.
fn capacity(size: u64, limit: u64) -> usize {
    usize::try_from(size.min(limit).saturating_add(1)).unwrap_or(0)
}

/// Reads `file` into `buf` up to `limit` bytes; a longer file is an error.
fn read_bounded(file: File, buf: &mut Vec<u8>, limit: u64, path: &Path) -> io::Result<()> {
    let mut take = file.take(limit.saturating_add(1));
    take.read_to_end(buf)?;
    if buf.len() as u64 > limit {
        return Err(refused(
            path,
            format!("is larger than the limit of {limit} bytes"),
        ));
    }
    Ok(())
}

pub mod process;

#[cfg(test)]
mod tests;
