#!/bin/sh
# Regenerate controller/p4rt/gen/ (P4Runtime protobuf + gRPC stubs) from a p4lang/p4runtime
# checkout. Usage: gen_p4rt_stubs.sh /path/to/p4runtime [python-with-grpcio-tools]
# The committed stubs were generated from tag v1.5.0 (554fcbfd68b0044d2275d755b307e0aec89a3a5e)
# with grpcio-tools 1.85.1; see controller/p4rt/gen/README.md.
set -eu
SRC=${1:?path to a p4runtime checkout}
PY=${2:-python3}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$REPO/controller/p4rt/gen
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for f in p4/v1/p4runtime.proto p4/v1/p4data.proto p4/config/v1/p4info.proto \
         p4/config/v1/p4types.proto google/rpc/status.proto; do
  mkdir -p "$TMP/$(dirname $f)"
  cp "$SRC/proto/$f" "$TMP/$f"
done
(cd "$TMP" && "$PY" -m grpc_tools.protoc -I. --python_out="$OUT" --pyi_out="$OUT" \
  --grpc_python_out="$OUT" p4/v1/p4runtime.proto p4/v1/p4data.proto \
  p4/config/v1/p4info.proto p4/config/v1/p4types.proto google/rpc/status.proto)
rm -f "$OUT/google/rpc/status_pb2_grpc.py" "$OUT/p4/config/v1/p4info_pb2_grpc.py" \
      "$OUT/p4/config/v1/p4types_pb2_grpc.py" "$OUT/p4/v1/p4data_pb2_grpc.py"
find "$OUT" -name '*.py*' -exec sed -i -E \
  's/^from p4\.(v1|config\.v1) import/from controller.p4rt.gen.p4.\1 import/; s/^from google\.rpc import/from controller.p4rt.gen.google.rpc import/' {} +
for d in . p4 p4/v1 p4/config p4/config/v1 google google/rpc; do touch "$OUT/$d/__init__.py"; done
echo "regenerated $OUT"
