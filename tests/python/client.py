#!/usr/bin/env python3
"""An independent client of the Seedward Coordinator: Python grpcio, nothing from Seedward.

It compiles shared/proto/seedward/v1/user.proto at run time, connects over TLS, and checks
what docs/COORDINATOR.md promises, computing every hash itself:

  client.py --addr HOST:PORT --proto-dir DIR --work DIR uninitialized
      Fetches the server's self-signed certificate, pins it, and checks GetStatus
      (state UNINITIALIZED, evidence kind "none", the evidence binding), the
      GetManifests refusal (FAILED_PRECONDITION, seedward-error UNINITIALIZED), the health
      service (liveness SERVING, readiness NOT_SERVING) and gRPC reflection.

  client.py ... ready --root-ca FILE --expect-count N --expect-latest HEX
      Pins the root CA certificate from setup and checks GetStatus (READY), GetManifests
      (N manifests, SHA-256 chain ending at the latest transition hash), readiness SERVING,
      and that a refusal carries its reason in the seedward-error trailer.

Run by tests/tests/coordinator/python_client.rs. Exit status 0 means every check held.
"""

import argparse
import hashlib
import json
import os
import ssl
import sys

import grpc
from grpc_tools import protoc

EVIDENCE_LABEL = b"seedward evidence v1"
TARGET_NAME = "localhost"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}")


def compile_proto(proto_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            os.path.join(proto_dir, "seedward", "v1", "user.proto"),
        ]
    )
    if status != 0:
        fail(f"protoc failed with status {status}")
    sys.path.insert(0, out_dir)
    from seedward.v1 import user_pb2, user_pb2_grpc  # noqa: E402

    return user_pb2, user_pb2_grpc


# --- a minimal DER reader: enough to find a certificate's SubjectPublicKeyInfo -------------


def der_element(data, offset):
    """Returns (tag, header_length, content_length) of the element at offset."""
    tag = data[offset]
    first = data[offset + 1]
    if first < 0x80:
        return tag, 2, first
    count = first & 0x7F
    length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    return tag, 2 + count, length


def der_children(data, offset):
    """The (offset, total_length) of each child of the constructed element at offset."""
    _, header, length = der_element(data, offset)
    position, end = offset + header, offset + header + length
    children = []
    while position < end:
        _, h, l = der_element(data, position)
        children.append((position, h + l))
        position += h + l
    return children


def spki_der(cert_der):
    """Certificate ::= SEQ { tbsCertificate SEQ { [0] version?, serial, sigAlg, issuer,
    validity, subject, subjectPublicKeyInfo, ... }, ... }"""
    tbs_offset, _ = der_children(cert_der, 0)[0]
    fields = der_children(cert_der, tbs_offset)
    if cert_der[fields[0][0]] == 0xA0:  # explicit version
        fields = fields[1:]
    offset, length = fields[5]
    return cert_der[offset : offset + length]


# --- checks ----------------------------------------------------------------------------------


def channel_for(addr, root_pem):
    credentials = grpc.ssl_channel_credentials(root_certificates=root_pem)
    return grpc.secure_channel(
        addr, credentials, options=[("grpc.ssl_target_name_override", TARGET_NAME)]
    )


def reason_of(error):
    for key, value in error.trailing_metadata() or ():
        if key == "seedward-error":
            return value
    return None


def check_health(channel, expected):
    try:
        from grpc_health.v1 import health_pb2, health_pb2_grpc
    except ImportError:
        print("WARNING: grpcio-health-checking is not installed; skipping the health checks "
              "(scripts/install-test-deps.sh installs it)", file=sys.stderr)
        return False
    stub = health_pb2_grpc.HealthStub(channel)
    names = {
        health_pb2.HealthCheckResponse.SERVING: "SERVING",
        health_pb2.HealthCheckResponse.NOT_SERVING: "NOT_SERVING",
    }
    for service, want in expected.items():
        got = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        check(names.get(got) == want, f"health {service!r} is {want} (got {names.get(got, got)})")
    try:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        fail("health of an unknown service must be NOT_FOUND")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.NOT_FOUND, "health of an unknown service is NOT_FOUND")
    return True


def check_reflection(channel):
    try:
        from google.protobuf.descriptor_pool import DescriptorPool
        from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
            ProtoReflectionDescriptorDatabase,
        )
    except ImportError:
        print("WARNING: grpcio-reflection is not installed; skipping the reflection checks "
              "(scripts/install-test-deps.sh installs it)", file=sys.stderr)
        return False
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    check("seedward.v1.UserApi" in services, f"reflection lists seedward.v1.UserApi ({sorted(services)})")
    check("grpc.health.v1.Health" in services, "reflection lists grpc.health.v1.Health")
    pool = DescriptorPool(database)
    service = pool.FindServiceByName("seedward.v1.UserApi")
    methods = [m.name for m in service.methods]
    check(
        methods
        == [
            "GetStatus",
            "SetManifest",
            "GetManifests",
            "StreamManifests",
            "Recover",
            "OpenRecoverySession",
            "GetRecoverySession",
            "SubmitRecoveryShare",
            "CancelRecoverySession",
        ],
        f"reflection describes the UserApi methods ({methods})",
    )
    status = pool.FindMessageTypeByName("seedward.v1.GetStatusResponse")
    check("challenge" in status.fields_by_name, "reflection describes GetStatusResponse.challenge")
    return True


def uninitialized(args, pb, pb_grpc):
    host, port = args.addr.rsplit(":", 1)
    # The Coordinator is not set up yet: its certificate is self-signed. Fetch it, pin it,
    # and check it against the evidence (a TEE backend would attest that binding).
    pem = ssl.get_server_certificate((host, int(port)))
    cert_der = ssl.PEM_cert_to_DER_cert(pem)
    spki_sha256 = hashlib.sha256(spki_der(cert_der)).digest()
    channel = channel_for(args.addr, pem.encode())
    stub = pb_grpc.UserApiStub(channel)

    status = stub.GetStatus(pb.GetStatusRequest(), timeout=10)
    check(status.state == pb.COORDINATOR_STATE_UNINITIALIZED, "GetStatus: state UNINITIALIZED")
    check(status.generation == 0 and status.latest_transition_hash == b"", "GetStatus: no history")
    check(not status.HasField("challenge"), "GetStatus: no recovery challenge")
    check(status.root_ca_cert == "", "GetStatus: no root CA before setup")
    check(status.version != "", f"GetStatus: version {status.version}")
    evidence = status.evidence
    check(evidence.kind == "none", "evidence kind is 'none' (nothing attested)")
    check(evidence.report == b"", "evidence of kind 'none' carries no report")
    check(evidence.tls_spki_sha256 == spki_sha256, "evidence names the TLS key this connection saw")
    binding = hashlib.sha512(EVIDENCE_LABEL + evidence.tls_spki_sha256 + evidence.challenge_public_key).digest()
    check(evidence.report_data == binding, "evidence report_data = SHA-512(label || tls key || challenge key)")

    try:
        stub.GetManifests(pb.GetManifestsRequest(), timeout=10)
        fail("GetManifests before setup must fail")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.FAILED_PRECONDITION, "GetManifests: FAILED_PRECONDITION")
        check(reason_of(error) == "UNINITIALIZED", "GetManifests: seedward-error UNINITIALIZED")

    health = check_health(channel, {"liveness": "SERVING", "": "NOT_SERVING", "seedward.v1.UserApi": "NOT_SERVING"})
    reflection = check_reflection(channel)
    if not (health or reflection):
        print("WARNING: neither health nor reflection could be checked", file=sys.stderr)
    channel.close()


def ready(args, pb, pb_grpc):
    with open(args.root_ca, "rb") as f:
        root_pem = f.read()
    # Pinned to the root CA from setup: the server's certificate must chain to it.
    channel = channel_for(args.addr, root_pem)
    stub = pb_grpc.UserApiStub(channel)

    status = stub.GetStatus(pb.GetStatusRequest(), timeout=10)
    check(status.state == pb.COORDINATOR_STATE_READY, "GetStatus: state READY (TLS chains to the pinned root CA)")
    check(status.generation == args.expect_count, f"GetStatus: generation {args.expect_count}")
    check(status.latest_transition_hash.hex() == args.expect_latest, "GetStatus: latest transition hash")
    check(status.root_ca_cert.encode().strip() == root_pem.strip(), "GetStatus: the same root CA certificate")

    history = stub.GetManifests(pb.GetManifestsRequest(), timeout=10)
    check(len(history.manifests) == args.expect_count, f"GetManifests: {args.expect_count} manifests")
    check(history.verified, "GetManifests: verified by the Coordinator")
    # The documented chain: t_i = SHA-256(SHA-256(manifest_i) || t_(i-1)), t_0 = 32 zero bytes.
    previous = bytes(32)
    for manifest in history.manifests:
        previous = hashlib.sha256(hashlib.sha256(manifest).digest() + previous).digest()
    check(previous == history.latest_transition_hash, "SHA-256 chain of the manifests ends at latest_transition_hash")
    check(previous.hex() == args.expect_latest, "and that is the latest the operator recorded")
    check(len(history.latest_signature) > 8 and history.latest_signature[0] == 0x30, "latest signature is DER")
    # The same history as a stream of pages, newest first (docs/COORDINATOR.md, "Reading a
    # long history"), checked entry by entry as it arrives; one entry per page here.
    expected = None
    streamed = []
    by_hash = {}
    stream_policies = set()
    pages = 0
    for page in stub.StreamManifests(pb.StreamManifestsRequest(page_bytes=1), timeout=10):
        if pages == 0:
            check(page.latest_transition_hash == history.latest_transition_hash, "StreamManifests: the header names the latest")
            check(page.latest_signature == history.latest_signature, "StreamManifests: the same signature")
            check(page.generation == args.expect_count, f"StreamManifests: generation {args.expect_count}")
            expected = page.latest_transition_hash
        pages += 1
        for entry in page.entries:
            check(entry.transition_hash == expected, "StreamManifests: the entry follows the chain")
            t = hashlib.sha256(entry.manifest_hash + entry.previous_transition_hash).digest()
            check(t == entry.transition_hash, "StreamManifests: SHA-256(manifest hash || previous) is the transition hash")
            if entry.manifest:
                check(hashlib.sha256(entry.manifest).digest() == entry.manifest_hash, "StreamManifests: the manifest hashes to its hash")
                by_hash.setdefault(entry.manifest_hash, entry.manifest)
            check(entry.manifest_hash in by_hash, "StreamManifests: a left-out manifest was sent before")
            streamed.append(by_hash[entry.manifest_hash])
            expected = entry.previous_transition_hash
        stream_policies.update(hashlib.sha256(p).hexdigest() for p in page.policies)
    check(expected == bytes(32), "StreamManifests: ends with the first transition")
    check(pages == args.expect_count, f"StreamManifests: {pages} pages of one entry")
    check(list(reversed(streamed)) == list(history.manifests), "StreamManifests, reversed, is the GetManifests list")
    check(stream_policies == {hashlib.sha256(p).hexdigest() for p in history.policies}, "StreamManifests: the same policies")

    # Every policy document is listed (by SHA-256) in the manifests.
    listed = set()
    for manifest in history.manifests:
        listed.update(key.lower() for key in json.loads(manifest)["Policies"])
    policy_hashes = {hashlib.sha256(p).hexdigest() for p in history.policies}
    check(policy_hashes == listed, f"policies are exactly the {len(listed)} documents the manifests list")

    try:
        stub.SetManifest(pb.SetManifestRequest(manifest=b"{not json"), timeout=10)
        fail("a malformed manifest must be refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, "SetManifest(garbage): INVALID_ARGUMENT")
        check(reason_of(error) == "INVALID_MANIFEST", "SetManifest(garbage): seedward-error INVALID_MANIFEST")

    check_health(channel, {"liveness": "SERVING", "": "SERVING", "seedward.v1.UserApi": "SERVING"})
    channel.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--work", required=True)
    sub = parser.add_subparsers(dest="phase", required=True)
    sub.add_parser("uninitialized")
    r = sub.add_parser("ready")
    r.add_argument("--root-ca", required=True)
    r.add_argument("--expect-count", type=int, required=True)
    r.add_argument("--expect-latest", required=True)
    args = parser.parse_args()

    pb, pb_grpc = compile_proto(args.proto_dir, os.path.join(args.work, "generated"))
    {"uninitialized": uninitialized, "ready": ready}[args.phase](args, pb, pb_grpc)
    print(f"python client: phase {args.phase} passed")


if __name__ == "__main__":
    main()
