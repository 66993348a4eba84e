#!/usr/bin/env bash
# Installs what Seedward's tests need on a fresh Debian/Ubuntu machine (run as root,
# or with sudo available). Idempotent: skips what is already there.
set -euo pipefail

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# `script` makes the pseudo-terminal of tests/tests/clients/tui_hangup.rs (and of seedward-bench).
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
command -v dbus-run-session >/dev/null 2>&1 || need_apt+=(dbus dbus-bin)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need_apt+=(gnome-keyring)
command -v secret-tool >/dev/null 2>&1 || need_apt+=(libsecret-tools)
# The initializer's encrypted-volume tests (tests/tests/initializer/cryptsetup.rs) run the real binaries.
command -v cryptsetup >/dev/null 2>&1 || need_apt+=(cryptsetup-bin)
command -v mkfs.ext4 >/dev/null 2>&1 || need_apt+=(e2fsprogs)
# The etcd store's tests (tests/tests/etcd_*.rs) start real 3-member clusters of Debian's
# etcd; etcdctl (etcd-client) is for poking at them by hand.
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts a system-wide etcd on 2379 after installing etcd-server where systemd runs.
  # The tests start their own clusters on free ports; a stray shared one is not wanted.
  if [[ " ${need_apt[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null 2>&1 \
     && systemctl is-active --quiet etcd 2>/dev/null; then
    echo "stopping and disabling the system etcd service the etcd-server package started"
    $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
fi

# The independent reader of threshold seed shares (tests/python/threshold_shares.py):
# pyca/cryptography with HPKE (48 or later).
if ! python3 -c 'from cryptography.hazmat.primitives import hpke' >/dev/null 2>&1; then
  echo "pip install 'cryptography>=48'"
  python3 -m pip install --quiet --disable-pip-version-check 'cryptography>=48'
fi

# The independent Python client (tests/python/client.py): grpcio and its protoc, plus the
# health and reflection stubs it queries the Coordinator with.
if ! python3 -c 'import grpc, grpc_tools, grpc_health.v1, grpc_reflection.v1alpha' >/dev/null 2>&1; then
  echo "pip install grpcio grpcio-tools grpcio-health-checking grpcio-reflection"
  python3 -m pip install --quiet --disable-pip-version-check \
    grpcio grpcio-tools grpcio-health-checking grpcio-reflection
fi
