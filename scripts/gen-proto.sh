#!/usr/bin/env bash
# Regenerate invitekit/proto/*_pb2.py(i) from spec/*.proto with the official protobuf
# toolchain (grpcio-tools bundles protoc; mypy-protobuf writes the .pyi stubs).
# The generated files are committed, so tests never need this script or the network.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
out=invitekit/proto
"$py" -m grpc_tools.protoc -Ispec \
  --python_out="$out" --mypy_out="$out" \
  spec/external_invite.proto spec/external_commit_policy.proto \
  spec/external_invite_legacy.proto spec/invitekit_extensions.proto \
  spec/xmtp_group_membership.proto spec/xmtp_mls_credential.proto
# protoc writes top-level imports between generated modules; make them package-relative.
sed -i -E 's/^import (external_invite_pb2) as/from . import \1 as/' "$out"/external_commit_policy_pb2.py
sed -i -E 's/^import (external_invite_pb2) as/from . import \1 as/' "$out"/external_commit_policy_pb2.pyi
sed -i -E 's/^import (external_invite_pb2) as/from . import \1 as/' "$out"/invitekit_extensions_pb2.py
sed -i -E 's/^import (external_invite_pb2) as/from . import \1 as/' "$out"/invitekit_extensions_pb2.pyi
echo "generated into $out"
