//! `seedward-initializer cryptsetup`: an encrypted volume on an untrusted block device,
//! keyed by the workload secret file.
//!
//! # Procedure
//! 1. `cryptsetup isLuks <device>`: exit 0 → LUKS; exit 1 → not LUKS; **anything else**
//!    (a missing device, a directory, an I/O error, a crash) → refuse. A volume is never
//!    formatted because a probe failed.
//! 2. Not LUKS → `cryptsetup luksFormat --type luks2 --cipher aes-xts-plain64 --key-size 512
//!    --pbkdf argon2id --pbkdf-memory 65536 --batch-mode --key-file <secret file> <device>`.
//!    The LUKS passphrase is the secret file itself (128 hex characters), stretched by
//!    argon2id. No dm-integrity (`--integrity`): it needs device-mapper integrity targets,
//!    and without it the ciphertext is confidential but not authenticated.
//! 3. `cryptsetup luksHeaderBackup` into a private (0700) temporary directory, preferably
//!    on `/dev/shm`; check the binary header and the JSON metadata strictly ([`super::luks`]).
//! 4. `cryptsetup open --header <verified copy> --key-file <secret file> <device> <name>`,
//!    `name` = the first 16 hex characters of SHA-256(device path ‖ mount point).
//! 5. `mkfs.ext4` only when `/dev/mapper/<name>` has no ext4 magic (`0xEF53` at byte 1080).
//! 6. `mount /dev/mapper/<name> <mount point>`; write `<secrets-root>/volume-ready`.
//! 7. On SIGTERM: `umount`, `cryptsetup close <name>`, remove the marker.
//!
//! Secrets never appear in an argument vector: the key is passed as a file path.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest as _, Sha256};

use super::luks::{self, HeaderError};

/// Name of the readiness marker under the secrets root.
pub const READY_MARKER: &str = "volume-ready";
/// Byte offset of the ext4 superblock magic.
pub const EXT4_MAGIC_OFFSET: u64 = 1080;
/// The ext4 magic as stored (little-endian `0xEF53`).
pub const EXT4_MAGIC: [u8; 2] = [0x53, 0xef];

/// The `luksFormat` arguments before `--key-file` (see the module docs).
pub const FORMAT_ARGS: &[&str] = &[
    "luksFormat",
    "--type",
    "luks2",
    "--cipher",
    luks::CIPHER,
    "--key-size",
    "512",
    "--pbkdf",
    "argon2id",
    "--pbkdf-memory",
    "65536",
    "--batch-mode",
];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    #[error(
        "`cryptsetup isLuks {device}` failed with {status} ({stderr}); refusing to touch the device: a failed probe is never taken as \"not LUKS\". Check that the device path is the block device of the volume and that it is readable"
    )]
    ProbeFailed {
        device: String,
        status: String,
        stderr: String,
    },
    #[error(
        "cannot run {program}: {detail}; install it (cryptsetup-bin, e2fsprogs) in the initializer image"
    )]
    Spawn { program: String, detail: String },
    #[error("{step} failed with {status}: {stderr}")]
    Command {
        step: &'static str,
        status: String,
        stderr: String,
    },
    #[error(
        "the LUKS header of {device} is not the one the initializer writes: {source}; the device may have been tampered with. Inspect it (cryptsetup luksDump) before doing anything else; the initializer will not open it"
    )]
    Header {
        device: String,
        #[source]
        source: HeaderError,
    },
    #[error("{what}: {detail}")]
    Io { what: String, detail: String },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VolumeError {
    let what = what.into();
    move |e| VolumeError::Io {
        what,
        detail: e.to_string(),
    }
}

/// What `isLuks` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LuksProbe {
    Luks,
    NotLuks,
}

/// The external programs, so that tests and images can point at other paths.
#[derive(Debug, Clone)]
pub struct Tools {
    pub cryptsetup: PathBuf,
    pub mkfs_ext4: PathBuf,
    pub mount: PathBuf,
    pub umount: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            cryptsetup: "cryptsetup".into(),
            mkfs_ext4: "mkfs.ext4".into(),
            mount: "mount".into(),
            umount: "umount".into(),
        }
    }
}

fn status_text(output: &Output) -> String {
    match output.status.code() {
        Some(code) => format!("exit code {code}"),
        None => "a signal".to_string(),
    }
}

fn stderr_text(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let text = text.trim();
    if text.is_empty() {
        "no message".into()
    } else {
        text.chars().take(500).collect()
    }
}

impl Tools {
    fn run(&self, program: &Path, args: &[&std::ffi::OsStr]) -> Result<Output, VolumeError> {
        tracing::debug!(program = %program.display(), ?args, "running");
        Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| VolumeError::Spawn {
                program: program.display().to_string(),
                detail: e.to_string(),
            })
    }

    fn run_ok(
        &self,
        step: &'static str,
        program: &Path,
        args: &[&std::ffi::OsStr],
    ) -> Result<Output, VolumeError> {
        let output = self.run(program, args)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(VolumeError::Command {
                step,
                status: status_text(&output),
                stderr: stderr_text(&output),
            })
        }
    }

    /// `cryptsetup isLuks`: 0 → LUKS, 1 → not LUKS, anything else → [`VolumeError::ProbeFailed`].
    pub fn is_luks(&self, device: &Path) -> Result<LuksProbe, VolumeError> {
        let output = self.run(
            &self.cryptsetup,
            &["isLuks".as_ref(), "--verbose".as_ref(), device.as_os_str()],
        )?;
        match output.status.code() {
            Some(0) => Ok(LuksProbe::Luks),
            Some(1) => Ok(LuksProbe::NotLuks),
            _ => Err(VolumeError::ProbeFailed {
                device: device.display().to_string(),
                status: status_text(&output),
                stderr: stderr_text(&output),
            }),
        }
    }

    /// `cryptsetup luksFormat` with [`FORMAT_ARGS`]. Call only after [`Tools::is_luks`] said
    /// [`LuksProbe::NotLuks`].
    pub fn format(&self, device: &Path, key_file: &Path) -> Result<(), VolumeError> {
        let mut args: Vec<&std::ffi::OsStr> = FORMAT_ARGS.iter().map(|a| a.as_ref()).collect();
        args.extend([
            "--key-file".as_ref(),
            key_file.as_os_str(),
            device.as_os_str(),
        ]);
        self.run_ok("cryptsetup luksFormat", &self.cryptsetup, &args)?;
        Ok(())
    }

    /// Backs the header up into a private temporary directory and verifies the copy.
    pub fn verified_header(&self, device: &Path) -> Result<VerifiedHeader, VolumeError> {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("seedward-luks-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&base)
            .map_err(io_err(format!(
                "cannot create a private directory in {}",
                base.display()
            )))?;
        let path = dir.path().join("luks-header");
        self.run_ok(
            "cryptsetup luksHeaderBackup",
            &self.cryptsetup,
            &[
                "luksHeaderBackup".as_ref(),
                device.as_os_str(),
                "--header-backup-file".as_ref(),
                path.as_os_str(),
            ],
        )?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err("cannot restrict the header backup to mode 0600"))?;
        let header_err = |source| VolumeError::Header {
            device: device.display().to_string(),
            source,
        };
        let mut start = [0u8; 8];
        std::fs::File::open(&path)
            .and_then(|mut f| f.read_exact(&mut start))
            .map_err(io_err("cannot read the header backup"))?;
        luks::verify_binary_header(&start).map_err(header_err)?;
        let dump = self.run_ok(
            "cryptsetup luksDump --dump-json-metadata",
            &self.cryptsetup,
            &[
                "luksDump".as_ref(),
                "--dump-json-metadata".as_ref(),
                path.as_os_str(),
            ],
        )?;
        let json = String::from_utf8(dump.stdout)
            .map_err(|_| header_err(HeaderError::Json("the metadata is not UTF-8".into())))?;
        luks::verify_json_metadata(&json).map_err(header_err)?;
        Ok(VerifiedHeader { _dir: dir, path })
    }

    /// `cryptsetup open --test-passphrase`: whether `key_file` opens a keyslot.
    pub fn test_key(
        &self,
        device: &Path,
        header: &VerifiedHeader,
        key_file: &Path,
    ) -> Result<bool, VolumeError> {
        let output = self.run(
            &self.cryptsetup,
            &[
                "open".as_ref(),
                "--test-passphrase".as_ref(),
                "--header".as_ref(),
                header.path.as_os_str(),
                "--key-file".as_ref(),
                key_file.as_os_str(),
                device.as_os_str(),
            ],
        )?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(2) => Ok(false),
            _ => Err(VolumeError::Command {
                step: "cryptsetup open --test-passphrase",
                status: status_text(&output),
                stderr: stderr_text(&output),
            }),
        }
    }
}

/// A header backup that passed verification; deleted (with its directory) on drop.
#[derive(Debug)]
pub struct VerifiedHeader {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl VerifiedHeader {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The device-mapper name: the first 16 hex characters of SHA-256(device ‖ mount point).
pub fn mapping_name(device: &Path, mount_point: &Path) -> String {
    let mut h = Sha256::new();
    h.update(device.as_os_str().as_encoded_bytes());
    h.update(mount_point.as_os_str().as_encoded_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Whether `device` carries an ext4 superblock magic. A short read counts as "no".
pub fn has_ext4(device: &Path) -> Result<bool, VolumeError> {
    use std::io::Seek as _;
    let mut f =
        std::fs::File::open(device).map_err(io_err(format!("cannot open {}", device.display())))?;
    f.seek(std::io::SeekFrom::Start(EXT4_MAGIC_OFFSET))
        .map_err(io_err(format!("cannot seek in {}", device.display())))?;
    let mut magic = [0u8; 2];
    match f.read_exact(&mut magic) {
        Ok(()) => Ok(magic == EXT4_MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io_err(format!("cannot read {}", device.display()))(e)),
    }
}

/// What the `cryptsetup` subcommand needs.
#[derive(Debug, Clone)]
pub struct VolumeConfig {
    pub device: PathBuf,
    pub mount_point: PathBuf,
    pub key_file: PathBuf,
    pub secrets_root: PathBuf,
    pub tools: Tools,
}

/// An opened and mounted volume. [`MountedVolume::teardown`] unmounts and closes it.
#[derive(Debug)]
pub struct MountedVolume {
    name: String,
    mount_point: PathBuf,
    marker: PathBuf,
    tools: Tools,
}

impl MountedVolume {
    pub fn mapper_name(&self) -> &str {
        &self.name
    }

    /// Unmounts, closes the mapping, removes the marker. Runs every step and reports the
    /// first failure.
    pub fn teardown(self) -> Result<(), VolumeError> {
        let _ = std::fs::remove_file(&self.marker);
        let unmounted = self
            .tools
            .run_ok(
                "umount",
                &self.tools.umount,
                &[self.mount_point.as_os_str()],
            )
            .map(|_| ());
        let closed = close(&self.tools, &self.name);
        unmounted.and(closed)
    }
}

fn close(tools: &Tools, name: &str) -> Result<(), VolumeError> {
    tools
        .run_ok(
            "cryptsetup close",
            &tools.cryptsetup,
            &["close".as_ref(), name.as_ref()],
        )
        .map(|_| ())
}

/// Steps 1–6 of the module docs.
pub fn setup_volume(config: &VolumeConfig) -> Result<MountedVolume, VolumeError> {
    let tools = &config.tools;
    let meta = std::fs::metadata(&config.key_file).map_err(io_err(format!(
        "cannot read the key file {}; run the initializer first so that it writes the workload secret (the policy entry needs a WorkloadSecretID)",
        config.key_file.display()
    )))?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(VolumeError::Io {
            what: format!("the key file {}", config.key_file.display()),
            detail: "is not a non-empty regular file".into(),
        });
    }
    match tools.is_luks(&config.device)? {
        LuksProbe::Luks => {
            tracing::info!(device = %config.device.display(), "the device is LUKS; opening it");
        }
        LuksProbe::NotLuks => {
            tracing::info!(device = %config.device.display(), "the device is not LUKS; formatting it as LUKS2");
            tools.format(&config.device, &config.key_file)?;
        }
    }
    let header = tools.verified_header(&config.device)?;
    let name = mapping_name(&config.device, &config.mount_point);
    std::fs::create_dir_all("/run/cryptsetup").ok();
    tools.run_ok(
        "cryptsetup open",
        &tools.cryptsetup,
        &[
            "open".as_ref(),
            "--header".as_ref(),
            header.path().as_os_str(),
            "--key-file".as_ref(),
            config.key_file.as_os_str(),
            config.device.as_os_str(),
            name.as_ref(),
        ],
    )?;
    drop(header);
    let mapped = Path::new("/dev/mapper").join(&name);
    let result = (|| {
        if has_ext4(&mapped)? {
            tracing::info!(device = %mapped.display(), "ext4 found; not creating a filesystem");
        } else {
            tracing::info!(device = %mapped.display(), "no filesystem; running mkfs.ext4");
            tools.run_ok(
                "mkfs.ext4",
                &tools.mkfs_ext4,
                &["-q".as_ref(), mapped.as_os_str()],
            )?;
        }
        std::fs::create_dir_all(&config.mount_point).map_err(io_err(format!(
            "cannot create the mount point {}",
            config.mount_point.display()
        )))?;
        tools.run_ok(
            "mount",
            &tools.mount,
            &[mapped.as_os_str(), config.mount_point.as_os_str()],
        )?;
        let marker = config.secrets_root.join(READY_MARKER);
        std::fs::write(&marker, b"").map_err(io_err(format!(
            "cannot write the readiness marker {}",
            marker.display()
        )))?;
        Ok(marker)
    })();
    match result {
        Ok(marker) => Ok(MountedVolume {
            name,
            mount_point: config.mount_point.clone(),
            marker,
            tools: tools.clone(),
        }),
        Err(err) => {
            if let Err(close_err) = close(tools, &name) {
                tracing::warn!(error = %close_err, "could not close the mapping after a failure");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_name_is_16_hex_of_device_and_mount_point() {
        let name = mapping_name(Path::new("/dev/csi0"), Path::new("/state"));
        let expected = hex::encode(&Sha256::digest(b"/dev/csi0/state")[..8]);
        assert_eq!(name, expected);
        assert_eq!(name.len(), 16);
    }

    #[test]
    fn ext4_magic_detection() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        std::fs::write(&img, vec![0u8; 4096]).unwrap();
        assert!(!has_ext4(&img).unwrap());
        let mut bytes = vec![0u8; 4096];
        bytes[1080..1082].copy_from_slice(&EXT4_MAGIC);
        std::fs::write(&img, bytes).unwrap();
        assert!(has_ext4(&img).unwrap());
        std::fs::write(&img, vec![0u8; 100]).unwrap();
        assert!(!has_ext4(&img).unwrap());
    }
}
