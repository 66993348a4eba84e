//! The initializer's encrypted-volume steps with the real `cryptsetup` binary on a 32 MiB
//! file image: the probe that never formats on failure, format, strict header
//! verification (the real header passes, a table of mutations fails), the key check with
//! `--test-passphrase`, and — where device-mapper exists — open, mkfs, mount, close.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a panic is the failure report"
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use seedward_initializer::cryptsetup::{LuksProbe, Tools, VolumeConfig, VolumeError, setup_volume};
use seedward_initializer::luks::{HeaderError, verify_json_metadata};
use serde_json::{Value, json};

fn require_cryptsetup() {
    let ok = Command::new("cryptsetup")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the `cryptsetup` binary is not installed; run scripts/install-test-deps.sh (it installs cryptsetup-bin and e2fsprogs; CI runs it)"
    );
}

fn image(dir: &Path) -> PathBuf {
    let path = dir.join("volume.img");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(32 << 20).unwrap();
    path
}

fn key_file(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, hex::encode([byte; 64])).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    path
}

fn dump_json(target: &Path) -> Value {
    let out = Command::new("cryptsetup")
        .args(["luksDump", "--dump-json-metadata"])
        .arg(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

type Mutation = (&'static str, fn(&mut Value));

/// Each must make the verifier refuse the header.
const MUTATIONS: &[Mutation] = &[
    ("a second keyslot", |v| {
        let slot = v["keyslots"]["0"].clone();
        v["keyslots"]["1"] = slot;
    }),
    ("the keyslot renamed to 1", |v| {
        let slot = v["keyslots"]["0"].take();
        v["keyslots"] = json!({ "1": slot });
    }),
    ("no keyslot", |v| v["keyslots"] = json!({})),
    ("keyslot type reencrypt", |v| {
        v["keyslots"]["0"]["type"] = json!("reencrypt")
    }),
    ("keyslot key size 32", |v| {
        v["keyslots"]["0"]["key_size"] = json!(32)
    }),
    ("keyslot area cipher aes-cbc", |v| {
        v["keyslots"]["0"]["area"]["encryption"] = json!("aes-cbc-essiv:sha256")
    }),
    ("keyslot area key size 32", |v| {
        v["keyslots"]["0"]["area"]["key_size"] = json!(32)
    }),
    (
        "keyslot KDF pbkdf2",
        |v| {
            v["keyslots"]["0"]["kdf"] =
                json!({"type": "pbkdf2", "hash": "sha256", "iterations": 1000, "salt": "c2FsdA=="})
        },
    ),
    ("keyslot KDF argon2i", |v| {
        v["keyslots"]["0"]["kdf"]["type"] = json!("argon2i")
    }),
    ("empty KDF salt", |v| {
        v["keyslots"]["0"]["kdf"]["salt"] = json!("")
    }),
    ("AF with one stripe", |v| {
        v["keyslots"]["0"]["af"]["stripes"] = json!(1)
    }),
    ("an unknown keyslot field", |v| {
        v["keyslots"]["0"]["backdoor"] = json!(true)
    }),
    (
        "a token",
        |v| {
            v["tokens"] =
                json!({"0": {"type": "luks2-keyring", "keyslots": ["0"], "key_description": "x"}})
        },
    ),
    ("segment type linear", |v| {
        v["segments"]["0"]["type"] = json!("linear")
    }),
    ("segment cipher_null", |v| {
        v["segments"]["0"]["encryption"] = json!("cipher_null-ecb")
    }),
    ("a second segment", |v| {
        let seg = v["segments"]["0"].clone();
        v["segments"]["1"] = seg;
    }),
    (
        "segment integrity",
        |v| v["segments"]["0"]["integrity"] = json!({"type": "hmac(sha256)", "journal_encryption": "none", "journal_integrity": "none"}),
    ),
    ("segment flags", |v| {
        v["segments"]["0"]["flags"] = json!(["backup-previous"])
    }),
    ("segment IV tweak 1", |v| {
        v["segments"]["0"]["iv_tweak"] = json!("1")
    }),
    ("digest type", |v| {
        v["digests"]["0"]["type"] = json!("argon2id")
    }),
    ("digest hash sha1", |v| {
        v["digests"]["0"]["hash"] = json!("sha1")
    }),
    ("digest over two keyslots", |v| {
        v["digests"]["0"]["keyslots"] = json!(["0", "1"])
    }),
    ("digest over no segment", |v| {
        v["digests"]["0"]["segments"] = json!([])
    }),
    ("a second digest", |v| {
        let d = v["digests"]["0"].clone();
        v["digests"]["1"] = d;
    }),
    ("empty digest", |v| v["digests"]["0"]["digest"] = json!("")),
    ("config requirements", |v| {
        v["config"]["requirements"] = json!({"mandatory": ["online-reencrypt"]})
    }),
    ("an unknown top-level field", |v| v["extra"] = json!({})),
    ("a missing KDF", |v| {
        if let Some(slot) = v["keyslots"]["0"].as_object_mut() {
            slot.remove("kdf");
        }
    }),
];

#[test]
fn format_verify_and_check_the_key_on_a_file_image() {
    require_cryptsetup();
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path());
    let key = key_file(dir.path(), "workload-secret-seed", 0x42);
    let wrong = key_file(dir.path(), "other-secret", 0x43);
    let tools = Tools::default();

    assert_eq!(tools.is_luks(&img).unwrap(), LuksProbe::NotLuks);
    tools.format(&img, &key).unwrap();
    assert_eq!(tools.is_luks(&img).unwrap(), LuksProbe::Luks);

    // The real header passes: binary and JSON, from the private backup.
    let header = tools.verified_header(&img).unwrap();
    let meta = std::fs::metadata(header.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let parent = header.path().parent().unwrap().to_path_buf();
    assert_eq!(
        std::fs::metadata(&parent).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // The secret file opens the keyslot; another key does not.
    assert!(tools.test_key(&img, &header, &key).unwrap());
    assert!(!tools.test_key(&img, &header, &wrong).unwrap());
    drop(header);
    assert!(
        !parent.exists(),
        "the header backup is deleted with its directory"
    );

    // The JSON of the real header passes; every mutation of it fails.
    let real = dump_json(&img);
    verify_json_metadata(&real.to_string()).unwrap();
    assert!(MUTATIONS.len() >= 12);
    for (name, mutate) in MUTATIONS {
        let mut v = real.clone();
        mutate(&mut v);
        assert_ne!(v, real, "mutation {name:?} changed nothing");
        let err = verify_json_metadata(&v.to_string());
        assert!(
            matches!(
                err,
                Err(HeaderError::Unexpected { .. } | HeaderError::Json(_))
            ),
            "mutation {name:?} was accepted: {err:?}"
        );
    }

    // A real tamper: someone adds a keyslot with a passphrase they know.
    let out = Command::new("cryptsetup")
        .args([
            "luksAddKey",
            "--batch-mode",
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
            "--key-file",
        ])
        .arg(&key)
        .arg(&img)
        .arg(&wrong)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = tools.verified_header(&img).unwrap_err();
    assert!(
        matches!(err, VolumeError::Header { .. }),
        "a header with a second keyslot was accepted: {err}"
    );
}

#[test]
fn a_failed_probe_never_formats() {
    require_cryptsetup();
    let dir = tempfile::tempdir().unwrap();
    let tools = Tools::default();
    let key = key_file(dir.path(), "workload-secret-seed", 0x42);

    // A nonexistent device and a directory: isLuks exits with 4, not 0 or 1.
    for device in [dir.path().join("missing"), dir.path().to_path_buf()] {
        let err = tools.is_luks(&device).unwrap_err();
        assert!(matches!(err, VolumeError::ProbeFailed { .. }), "{err}");
        let err = setup_volume(&VolumeConfig {
            device: device.clone(),
            mount_point: dir.path().join("mnt"),
            key_file: key.clone(),
            secrets_root: dir.path().to_path_buf(),
            tools: tools.clone(),
        })
        .unwrap_err();
        assert!(matches!(err, VolumeError::ProbeFailed { .. }), "{err}");
        assert!(err.to_string().contains("refusing"), "{err}");
    }
    assert!(!dir.path().join("missing").exists());
    assert!(!dir.path().join("mnt").exists());

    // The binary says the same and exits non-zero.
    let out = Command::new(seedward_tests::bin_dir().join("seedward-initializer"))
        .arg("--secrets-root")
        .arg(dir.path())
        .args(["cryptsetup", "--device-path"])
        .arg(dir.path().join("missing"))
        .arg("--mount-point")
        .arg(dir.path().join("mnt"))
        .arg("--secret-file")
        .arg(&key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to touch the device"), "{stderr}");
    assert!(
        !dir.path()
            .join(seedward_initializer::cryptsetup::READY_MARKER)
            .exists()
    );
}

/// `/dev/mapper/control` exists *and* the kernel driver is registered. The node alone
/// proves nothing: libdevmapper creates it on first use even where the kernel has no
/// device-mapper (as on the machine this was written on).
fn device_mapper_available() -> bool {
    Path::new("/dev/mapper/control").exists()
        && std::fs::read_to_string("/proc/misc").is_ok_and(|misc| {
            misc.lines()
                .any(|l| l.trim_end().ends_with(" device-mapper"))
        })
}

#[test]
#[ignore = "needs device-mapper; scripts/test.sh runs it where the kernel has device-mapper"]
fn open_mkfs_mount_and_close_where_device_mapper_exists() {
    require_cryptsetup();
    assert!(
        device_mapper_available(),
        "this test needs device-mapper (/dev/mapper/control and a device-mapper entry in /proc/misc)"
    );
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path());
    let key = key_file(dir.path(), "workload-secret-seed", 0x42);
    let config = VolumeConfig {
        device: img,
        mount_point: dir.path().join("state"),
        key_file: key,
        secrets_root: dir.path().to_path_buf(),
        tools: Tools::default(),
    };
    let marker = dir
        .path()
        .join(seedward_initializer::cryptsetup::READY_MARKER);
    let volume = setup_volume(&config).unwrap();
    assert!(marker.exists());
    std::fs::write(config.mount_point.join("data"), b"survives").unwrap();
    volume.teardown().unwrap();
    assert!(!marker.exists());

    // Again: already LUKS and ext4, so neither format nor mkfs; the data is still there.
    let volume = setup_volume(&config).unwrap();
    assert_eq!(
        std::fs::read(config.mount_point.join("data")).unwrap(),
        b"survives"
    );
    volume.teardown().unwrap();
}
