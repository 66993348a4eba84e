#!/usr/bin/env python3
"""Re-vendors etcd's v3 API protos, trimmed of gogoproto and google.api annotations.

    python3 trim.py <etcd source tree at the tag named in README.md>

Only annotations are removed (imports of gogoproto/gogo.proto and google/api/annotations.proto,
`option (gogoproto.*) = ...;` lines and `option (google.api.http) = { ... };` blocks); every
message, field, enum and service stays as upstream wrote it, so `diff` against upstream shows
deletions only.
"""
import pathlib
import re
import sys

FILES = ["api/etcdserverpb/rpc.proto", "api/mvccpb/kv.proto", "api/authpb/auth.proto"]
HERE = pathlib.Path(__file__).resolve().parent


def trim(text: str) -> str:
    text = re.sub(r'^import "(gogoproto/gogo|google/api/annotations)\.proto";\n', "", text, flags=re.M)
    text = re.sub(r"^option \(gogoproto\.[a-z_]+\) = [a-z]+;\n", "", text, flags=re.M)
    text = re.sub(r"^[ \t]*option \(google\.api\.http\) = \{.*?\};\n", "", text, flags=re.M | re.S)
    text = re.sub(r"^// for grpc-gateway\n", "", text, flags=re.M)
    for leftover in ("gogoproto", "google.api"):
        if leftover in text:
            sys.exit(f"an annotation this script does not know survived: {leftover}")
    return text


def main() -> None:
    src = pathlib.Path(sys.argv[1])
    for name in FILES:
        out = HERE / "etcd" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(trim((src / name).read_text()))
        print(f"wrote {out.relative_to(HERE)}")


if __name__ == "__main__":
    main()
