#!/usr/bin/env bash
# A Seedward Coordinator's whole life, driven by the `seedward` subcommands.
#
#   assets/examples/lifecycle.sh [SEEDWARD_BIN] [COORDINATOR_BIN]
#
# Starts a throwaway Coordinator on a free loopback port with its state in a temp dir,
# then: keys → manifest → setup (with the share drill) → verify → crash (SIGKILL) →
# recover → signed atomic update → history export → offline bundle verification →
# workload secret. Keys are kept in 0600 files (--key-store file) so that the script
# runs anywhere; drop that flag to use the OS keyring.
set -euo pipefail

SEEDWARD="${1:-seedward}"
COORDINATOR_BIN="${2:-seedward-coordinator}"
WORK="$(mktemp -d)"
STATE="$WORK/state"
WS="$WORK/workspace"
COORD_PID=""
cleanup() { [ -n "$COORD_PID" ] && kill -9 "$COORD_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start_coordinator() {
  # The daemon prints "seedward-coordinator listening on ADDR" once it accepts connections.
  "$COORDINATOR_BIN" --listen 127.0.0.1:0 --state-dir "$STATE" >"$WORK/coord.out" 2>"$WORK/coord.log" &
  COORD_PID=$!
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$WORK/coord.out" 2>/dev/null; then break; fi
    sleep 0.1
  done
  export SEEDWARD_COORDINATOR
  SEEDWARD_COORDINATOR="$(sed -n 's/^seedward-coordinator listening on //p' "$WORK/coord.out")"
  echo "== Coordinator at $SEEDWARD_COORDINATOR"
}

sw() { "$SEEDWARD" --workspace "$WS" --key-store file "$@"; }

start_coordinator
mkdir -p "$WS"

echo "== 1. owner keys"
sw keys generate --kind owner
sw keys generate --kind workload
sw keys list

echo "== 2. a manifest with these keys"
sw manifest template --out-dir "$WORK/deploy"
POLICIES=(--policy "$WORK/deploy/policy-1.toml" --policy "$WORK/deploy/policy-2.toml")

echo "== 3. first-time setup (saves seed-shares.json, proves the share recovers the Coordinator)"
sw status
sw --yes --allow-unattested set --manifest "$WORK/deploy/manifest.json" "${POLICIES[@]}"

echo "== 4. audit"
sw verify

echo "== 5. crash: SIGKILL and restart; the Coordinator comes back without keys"
kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true
start_coordinator
test "$(sw --json status | sed -n 's/.*"state": "\(.*\)".*/\1/p')" = "recovery-required"

echo "== 6. recovery with the seed share"
sw --yes --allow-unattested recover
sw verify

echo "== 7. a signed, atomic manifest update"
# Version 2 adds SEV-SNP reference values (a made-up measurement; docs/ATTESTATION.md) and
# keeps "none": {}, so that this script's development Coordinator stays acceptable.
SNP='{"ProductName": "Milan", "TrustedMeasurement": "'"$(printf '%096d' 2)"'", "MinimumTCB": {"BootloaderVersion": 3, "TEEVersion": 0, "SNPVersion": 8, "MicrocodeVersion": 115}}'
sed "s/\"ReferenceValues\": {}/\"ReferenceValues\": {\"none\": {}, \"snp\": [$SNP]}/" \
  "$WORK/deploy/manifest.json" >"$WORK/deploy/manifest-v2.json"
sw --yes set --manifest "$WORK/deploy/manifest-v2.json" "${POLICIES[@]}" --atomic
sw history list
sw history diff 1 2

echo "== 8. export the history, stop the Coordinator, verify the bundle offline"
sw history export --out "$WORK/history.json"
kill -9 "$COORD_PID"; wait "$COORD_PID" 2>/dev/null || true; COORD_PID=""
sw history verify-bundle "$WORK/history.json" --signing-key "$WS/history-signing-key.pem"
sw history verify-bundle "$WORK/history.json" --seed-shares "$WS/seed-shares.json"

echo "== 9. a workload secret, derived offline"
sw workload-secret --id apps/v1/Deployment/default/web --out "$WORK/web.secret"
test "$(wc -c <"$WORK/web.secret")" -eq 128

echo "== done: the whole lifecycle checks out"
