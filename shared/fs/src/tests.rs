use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};

use super::*;

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn create_makes_missing_parents_with_the_exact_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let deep = tmp.path().join("a/b/c");
    let dir = Dir::create(&deep, 0o700).unwrap();
    assert_eq!(dir.path(), deep.as_path());
    for p in ["a", "a/b", "a/b/c"] {
        assert_eq!(mode_of(&tmp.path().join(p)), 0o700, "{p}");
    }
    // An existing directory keeps its mode.
    std::fs::set_permissions(&deep, std::fs::Permissions::from_mode(0o750)).unwrap();
    Dir::create(&deep, 0o700).unwrap();
    assert_eq!(mode_of(&deep), 0o750);
}

#[test]
fn a_symlinked_directory_is_refused_and_its_target_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = tmp.path().join("history");
    symlink(&target, &link).unwrap();
    let err = Dir::create(&link, 0o700).unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(Dir::open(&link).is_err());
    let parent = Dir::open(tmp.path()).unwrap();
    assert!(parent.subdir("history", Some(0o700)).is_err());
    assert_eq!(mode_of(&target), 0o755);
}

#[test]
fn reads_refuse_symlinks_fifos_devices_and_oversized_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open(tmp.path()).unwrap();
    std::fs::write(tmp.path().join("secret"), b"top").unwrap();
    symlink(tmp.path().join("secret"), tmp.path().join("link")).unwrap();
    symlink("/dev/zero", tmp.path().join("zero")).unwrap();
    let fifo = tmp.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(dir.read("secret", 3).unwrap().as_deref(), Some(&b"top"[..]));
    assert_eq!(dir.read("missing", 3).unwrap(), None);
    for name in ["link", "zero"] {
        let err = dir.read(name, 100).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{name}: {err}");
    }
    // A FIFO with no writer must not block the reader.
    let err = dir.read("fifo", 100).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
    let err = dir.read("secret", 2).unwrap_err();
    assert!(err.to_string().contains("limit of 2 bytes"), "{err}");
    assert!(dir.read("../secret", 10).is_err());
    assert_eq!(
        dir.read_secret("secret", 3).unwrap().map(|z| z.to_vec()),
        Some(b"top".to_vec())
    );
}

#[test]
fn write_atomic_replaces_with_the_exact_mode_and_leaves_no_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open(tmp.path()).unwrap();
    dir.write_atomic("latest", b"one", 0o600).unwrap();
    let first = std::fs::metadata(tmp.path().join("latest")).unwrap().ino();
    dir.write_atomic("latest", b"two", 0o644).unwrap();
    assert_eq!(std::fs::read(tmp.path().join("latest")).unwrap(), b"two");
    assert_eq!(mode_of(&tmp.path().join("latest")), 0o644);
    assert_ne!(
        std::fs::metadata(tmp.path().join("latest")).unwrap().ino(),
        first
    );
    assert_eq!(dir.names().unwrap(), vec!["latest".to_string()]);
}

#[test]
fn write_atomic_replaces_a_planted_symlink_instead_of_following_it() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    symlink(&victim, tmp.path().join("mesh-ca.pem")).unwrap();
    let dir = Dir::open(tmp.path()).unwrap();
    dir.write_atomic("mesh-ca.pem", b"new", 0o644).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(
        !std::fs::symlink_metadata(tmp.path().join("mesh-ca.pem"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn create_new_never_replaces_and_never_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open(tmp.path()).unwrap();
    dir.create_new("key.pem", b"secret", 0o600).unwrap();
    assert_eq!(mode_of(&tmp.path().join("key.pem")), 0o600);
    let err = dir.create_new("key.pem", b"other", 0o600).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(
        std::fs::read(tmp.path().join("key.pem")).unwrap(),
        b"secret"
    );
    // A dangling symlink is a name that exists: nothing is created at its target.
    symlink(
        tmp.path().join("planted"),
        tmp.path().join("seed-shares.json"),
    )
    .unwrap();
    let err = dir
        .create_new("seed-shares.json", b"shares", 0o600)
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert!(!tmp.path().join("planted").exists());
    let mut names = dir.names().unwrap();
    names.sort();
    assert_eq!(names, vec!["key.pem", "seed-shares.json"]);
}

#[test]
fn modes_are_exact_whatever_the_umask() {
    // 0o400 cannot come from a umask-filtered 0o666 default: it must be set exactly.
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open(tmp.path()).unwrap();
    dir.create_new("secret", b"x", 0o400).unwrap();
    assert_eq!(mode_of(&tmp.path().join("secret")), 0o400);
    dir.write_atomic("public", b"x", 0o444).unwrap();
    assert_eq!(mode_of(&tmp.path().join("public")), 0o444);
    let sub = dir.subdir("tls", Some(0o755)).unwrap();
    assert_eq!(sub.mode().unwrap(), 0o755);
    assert_eq!(dir.file_mode("secret").unwrap(), Some(0o400));
    assert_eq!(dir.file_mode("missing").unwrap(), None);
}

#[test]
fn lock_refuses_a_symlink_and_try_lock_sees_a_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open(tmp.path()).unwrap();
    symlink(tmp.path().join("target"), tmp.path().join(".lock")).unwrap();
    assert!(dir.lock(".lock").is_err());
    assert!(!tmp.path().join("target").exists());
    let held = dir.lock("instance.lock").unwrap();
    // flock is per open file description: a second open in the same process conflicts.
    assert!(dir.try_lock("instance.lock").unwrap().is_none());
    drop(held);
    assert!(dir.try_lock("instance.lock").unwrap().is_some());
}

#[test]
fn names_must_be_plain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Dir::open(tmp.path()).unwrap();
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        assert!(dir.write_atomic(bad, b"x", 0o600).is_err(), "{bad:?}");
        assert!(dir.create_new(bad, b"x", 0o600).is_err(), "{bad:?}");
    }
}
