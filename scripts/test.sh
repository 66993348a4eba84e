#!/usr/bin/env bash
# Seedward's whole test suite, the one command the README and CI run.
#
#   scripts/test.sh            install what the tests need, then fmt, clippy and every test
#   SEEDWARD_SKIP_INSTALL=1    skip the apt/pip step (a machine that already has it all)
#
# The end-to-end tests need a Secret Service (gnome-keyring inside a private D-Bus
# session), tmux for driving the TUI through a real terminal, openssl for key
# interop, and Python's grpcio as an independent gRPC client. This script installs
# them (as root, with apt-get and pip) and runs the tests inside a private
# `dbus-run-session`, so nothing touches the caller's own keyring.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if [ -z "${SEEDWARD_INNER:-}" ]; then
  if [ -z "${SEEDWARD_SKIP_INSTALL:-}" ]; then
    step "installing test dependencies"
    scripts/install-test-deps.sh
  fi

  step "cargo fmt --check"
  cargo fmt --all -- --check

  step "cargo clippy (all targets, warnings are errors)"
  cargo clippy --workspace --all-targets --locked -- -D warnings

  step "building the binaries and test executables once"
  cargo build --workspace --bins --locked
  # The end-to-end tests run these exact binaries. A snapshot, because building the test
  # executables can relink target/debug/ with dev-dependency features unified, and the
  # harness would then rebuild the binaries inside the first test (minutes on 2 cores).
  bins="$PWD/target/test-bins"
  rm -rf "$bins" && mkdir -p "$bins"
  cp target/debug/seedward target/debug/seedward-coordinator target/debug/seedward-initializer "$bins/"
  export SEEDWARD_TEST_BIN_DIR="$bins"
  cargo test --workspace --locked --no-run

  step "running the test suite inside a private D-Bus session with an unlocked gnome-keyring"
  exec env SEEDWARD_INNER=1 dbus-run-session -- "$0" "$@"
fi

# Inside dbus-run-session: start and unlock a throwaway Secret Service.
# The password only protects this session's scratch keyring.
if command -v gnome-keyring-daemon >/dev/null 2>&1; then
  export XDG_DATA_HOME
  XDG_DATA_HOME="$(mktemp -d)"
  eval "$(printf 'seedward-test' | gnome-keyring-daemon --unlock --components=secrets)"
  export GNOME_KEYRING_CONTROL SEEDWARD_TEST_SECRET_SERVICE=1
fi

# Tests that need an environment are #[ignore]d (so a bare `cargo test` shows them as
# ignored, never as a silent pass); here the environment exists, so they run. Left out:
# the fuzz corpus generator (it rewrites fuzz/corpus/) and, where this machine has no
# device-mapper, the LUKS open/mount test.
if [ $# -eq 0 ]; then
  skip=(--skip write_seed_corpus)
  # The node alone proves nothing: libdevmapper creates /dev/mapper/control on first
  # use (an earlier cryptsetup test does) even where the kernel has no device-mapper.
  if [ ! -e /dev/mapper/control ] || ! grep -q ' device-mapper$' /proc/misc 2>/dev/null; then
    echo "no device-mapper here: the LUKS open/mount test is left out (ignored)"
    skip+=(--skip open_mkfs_mount_and_close_where_device_mapper_exists)
  fi
  cargo test --workspace --locked -- --include-ignored "${skip[@]}"
else
  cargo test --workspace --locked "$@"
fi
