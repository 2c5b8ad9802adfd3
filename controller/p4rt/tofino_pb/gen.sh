#!/bin/sh
# Regenerate the Python modules of the vendored Tofino protos in this directory:
#   stratum/bf.proto       -> stratum/bf_pb2.py(i)      (Stratum's BfPipelineConfig)
#   barefoot/p4info.proto  -> barefoot/p4info_pb2.py(i) (bf-p4c's P4Info extern infos)
# Usage: controller/p4rt/tofino_pb/gen.sh [python-with-grpcio-tools]
# The committed files were generated with grpcio-tools 1.85.1 (libprotoc 35.1), like
# controller/p4rt/gen/ (see its README); p4/config/v1/p4types.proto, which barefoot/p4info.proto
# imports, is taken from those committed stubs as a descriptor set, and the import is rewritten
# to controller.p4rt.gen as there.
set -eu
PY=${1:-python3}
DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$DIR/../../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$REPO" && "$PY" -c "
from google.protobuf import descriptor_pb2
from controller.p4rt.gen.p4.config.v1 import p4types_pb2
s = descriptor_pb2.FileDescriptorSet()
p4types_pb2.DESCRIPTOR.CopyToProto(s.file.add())
open('$TMP/deps.desc', 'wb').write(s.SerializeToString())
")
cd "$DIR" && "$PY" -m grpc_tools.protoc -I. --descriptor_set_in="$TMP/deps.desc" \
  --python_out=. --pyi_out=. stratum/bf.proto barefoot/p4info.proto
sed -i -E 's/^from p4\.config\.v1 import/from controller.p4rt.gen.p4.config.v1 import/' \
  barefoot/p4info_pb2.py barefoot/p4info_pb2.pyi
touch __init__.py stratum/__init__.py barefoot/__init__.py
echo "regenerated $DIR"
